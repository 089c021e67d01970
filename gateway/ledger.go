package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/internal/fsutil"
	"github.com/holdfast/holdfast/journal"
)

// The ledger is this node's record of every message version it accepted:
// the idempotency check, version assignment, and where each version is
// (still in the spool at an LSN, or in a segment at a frame).
//
// It is a Pebble LSM: message ids are hashes, so the keys arrive in random
// order, which an LSM absorbs in memory and writes out in sorted runs where
// a B+tree rewrites a page per key. Writes go to Pebble's WAL without fsync:
// the spool is the durable copy of anything the ledger has not synced, so on
// start every spooled record is replayed into it, and the uploader syncs the
// ledger before the spool watermark moves past a record.
//
// Keys:
//
//	'v' id 0x00 version(u32 BE) → ledgerEntry (binary)
//	'e' id 0x00 event           → version (u32 BE), only for an event that
//	                              does not name its version (an edit, delete
//	                              or recall sent without one); a send or an
//	                              explicit version is found under its 'v' key
//	'b' from(u64 BE)            → the keys of the segments of the upload
//	                              batch that starts at spool LSN from
//	'l' lsn(u64 BE)             → where the version spooled at lsn is stored:
//	                              batch, segment and frame (see locate)
//
// An in-memory filter of the ids it holds (idfilter.go) spares the lookups
// for ids it has never seen.

// ledgerEntry is what the ledger knows of one message version.
type ledgerEntry struct {
	ID          string
	Version     int
	Action      string
	Event       string
	SHA256      string
	LSN         uint64 // while spooled
	RetainUntil time.Time
	Segment     string // once stored
	Entry       archive.ManifestEntry
}

func (e *ledgerEntry) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(e.Version))
	b = appendString(b, e.Action)
	b = appendString(b, e.Event)
	b = appendString(b, e.SHA256)
	b = binary.AppendUvarint(b, e.LSN)
	b = binary.AppendVarint(b, e.RetainUntil.UnixNano())
	b = appendString(b, e.Segment)
	b = binary.AppendVarint(b, e.Entry.FrameOffset)
	b = binary.AppendVarint(b, e.Entry.FrameLength)
	b = binary.AppendUvarint(b, uint64(e.Entry.Pos))
	return binary.AppendUvarint(b, uint64(e.Entry.Len))
}

func (e *ledgerEntry) unmarshal(id string, b []byte) error {
	r := &spoolReader{b: b}
	e.ID = id
	e.Version = int(r.uvarint())
	e.Action = r.str()
	e.Event = r.str()
	e.SHA256 = r.str()
	e.LSN = r.uvarint()
	e.RetainUntil = time.Unix(0, r.varint()).UTC()
	e.Segment = r.str()
	e.Entry = archive.ManifestEntry{ID: id, Version: e.Version, SHA256: e.SHA256,
		FrameOffset: r.varint(), FrameLength: r.varint(), Pos: int(r.uvarint()), Len: int(r.uvarint())}
	if r.err != nil {
		return fmt.Errorf("decode ledger entry %s v%d: %w", id, e.Version, r.err)
	}
	return nil
}

// record is one accepted message on its way through ingest.
type record struct {
	line      int
	msg       archive.Message
	blobs     []journal.Blob
	explicit  bool   // the sender gave the version
	event     string // idempotency key within the message id
	duplicate bool   // already archived: answered, not stored again
	// For a duplicate: spooledAt is the spool LSN of the version it
	// repeats while that version waits for upload (0 once it is stored),
	// and inflight says that another request reserved that version and
	// has not spooled it yet. ?ack=stored waits on both (ledgerwait.go).
	spooledAt uint64
	inflight  bool
}

type ledger struct {
	db *pebble.DB

	mu      sync.Mutex
	pending map[string]int // id 0x00 event → version, reserved but not yet written
	maxVer  map[string]int // id → highest reserved version
	holds   map[string]int // id → reservations pending
	ids     *idFilter      // every id held or reserved, once filled
	// changed is closed and replaced whenever reservations end (commit
	// or release), for awaitVersion.
	changed chan struct{}

	// fill owns the goroutine that fills ids from Pebble at open.
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func openLedger(dir string) (*ledger, error) {
	opts := &pebble.Options{
		Levels:       []pebble.LevelOptions{{FilterPolicy: bloom.FilterPolicy(10)}},
		MemTableSize: 32 << 20,
		Logger:       quietLogger{},
		FS:           reclaimingFS{vfs.Default},
		// The WAL is written back as it grows, so that the sync after
		// each upload has little left to write.
		WALBytesPerSync: 1 << 20,
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	l := &ledger{db: db, pending: map[string]int{}, maxVer: map[string]int{}, holds: map[string]int{}, ids: newIDFilter(), changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.fillIDs(ctx)
	}()
	return l, nil
}

// reclaimingFS removes files with fsutil.Reclaim, so that freeing Pebble's
// obsolete files (flushed logs, compacted tables) does not stall the
// spool's fsyncs. Pebble removes them from its cleanup goroutine.
type reclaimingFS struct{ vfs.FS }

func (reclaimingFS) Remove(name string) error {
	return fsutil.Reclaim(context.Background(), name)
}

// quietLogger keeps Pebble's informational chatter out of the daemon's
// logs; errors still reach callers as returned errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("ledger: "+format, args...))
}

// Close stops filling the id filter, then closes Pebble.
func (l *ledger) Close() error {
	l.cancel()
	l.wg.Wait()
	return l.db.Close()
}

// Sync makes every ledger write so far durable.
func (l *ledger) Sync() error {
	if err := l.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("sync ledger: %w", err)
	}
	return nil
}

func versionKey(id string, v int) []byte { return appendVersionKey(make([]byte, 0, len(id)+6), id, v) }

func appendVersionKey(k []byte, id string, v int) []byte {
	k = append(k, 'v')
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(v))
}

func versionPrefix(id string) []byte { return append(append([]byte{'v'}, id...), 0) }

func eventKey(id, event string) []byte { return appendEventKey(nil, id, event) }

func appendEventKey(k []byte, id, event string) []byte {
	k = append(k, 'e')
	k = append(k, id...)
	k = append(k, 0)
	return append(k, event...)
}

func (l *ledger) get(key []byte) ([]byte, bool, error) {
	v, closer, err := l.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}

// assign decides, for every record, whether it is a duplicate of a version
// already accepted and otherwise which version it becomes, then reserves
// those versions until commit or release. stamp is called on each new
// record once its version is known, to fill retention and hashes; it runs
// outside the ledger's lock, so that concurrent requests encode and hash
// in parallel.
func (l *ledger) assign(recs []*record, stamp func(*archive.Message)) *APIError {
	for _, r := range recs {
		m := &r.msg
		m.ID = archive.MessageID(m.Tenant, m.Platform, m.SourceID)
		if !r.explicit && m.Action == archive.ActionSend {
			m.Version = 0
		}
		r.event = idempotencyKey(m, r.explicit)
	}
	if e := l.reserve(recs); e != nil {
		return e
	}
	for _, r := range recs {
		if !r.duplicate {
			stamp(&r.msg)
		}
	}
	// A duplicate of a record earlier in the same request answers with
	// that record's hash.
	for _, r := range recs {
		if r.duplicate && r.msg.SHA256 == "" {
			for _, o := range recs {
				if !o.duplicate && o.msg.ID == r.msg.ID && o.event == r.event {
					r.msg.SHA256 = o.msg.SHA256
				}
			}
		}
	}
	return nil
}

// reserve assigns and reserves the versions of recs, all or none.
func (l *ledger) reserve(recs []*record) *APIError {
	l.mu.Lock()
	defer l.mu.Unlock()
	var reserved []string
	for _, r := range recs {
		k, e := l.assignOne(r)
		if e != nil {
			for _, k := range reserved {
				delete(l.pending, k)
			}
			l.recomputeMax()
			return e
		}
		if !r.duplicate {
			reserved = append(reserved, k)
		}
	}
	return nil
}

// assignOne assigns r's version and reserves it under the returned pending
// key, or marks r a duplicate. Callers hold l.mu.
func (l *ledger) assignOne(r *record) (string, *APIError) {
	m := &r.msg
	ek := eventKey(m.ID, r.event)
	if v, ok := l.pending[string(ek)]; ok {
		r.duplicate, r.inflight, m.Version = true, true, v
		return "", nil
	}
	// An id the ledger has never held nor reserved has no event, no
	// version and no reservation to look up.
	unseen := l.ids.absent(m.ID)
	if !unseen {
		dup, e := l.findEvent(r, ek)
		if e != nil || dup {
			return "", e
		}
	}
	switch {
	case unseen && !r.explicit && m.Action != archive.ActionSend:
		m.Version = 1
	case unseen:
	case r.explicit:
		if l.versionReserved(m.ID, m.Version) {
			return "", versionConflict(r)
		}
	case m.Action != archive.ActionSend:
		hi, err := l.highest(m.ID)
		if err != nil {
			return "", ledgerUnreadable(err)
		}
		m.Version = max(hi+1, 1)
	}
	k := string(ek)
	l.pending[k] = m.Version
	l.holds[m.ID]++
	l.ids.add(m.ID)
	if cur, ok := l.maxVer[m.ID]; !ok || m.Version > cur {
		l.maxVer[m.ID] = m.Version
	}
	return k, nil
}

// findEvent looks r's event up among the versions stored: it marks r a
// duplicate of the version that recorded it, or refuses r when the version
// r names holds another event. An event that names its version (a send, an
// explicit version) is that version's; any other has an 'e' key. Callers
// hold l.mu.
func (l *ledger) findEvent(r *record, ek []byte) (dup bool, _ *APIError) {
	m := &r.msg
	if !namesVersion(r.event) {
		raw, found, err := l.get(ek)
		if err != nil {
			return false, ledgerUnreadable(err)
		}
		if !found {
			return false, nil
		}
		r.duplicate, m.Version = true, int(binary.BigEndian.Uint32(raw))
		e, err := l.version(m.ID, m.Version)
		if err != nil {
			// The event is recorded but its version cannot be read:
			// ?ack=stored looks it up again before answering.
			r.inflight = true
			return true, nil
		}
		m.SHA256, r.spooledAt = e.SHA256, spooledAt(&e)
		return true, nil
	}
	raw, found, err := l.get(versionKey(m.ID, m.Version))
	if err != nil {
		return false, ledgerUnreadable(err)
	}
	if !found {
		return false, nil
	}
	var e ledgerEntry
	if err := e.unmarshal(m.ID, raw); err != nil {
		return false, ledgerUnreadable(err)
	}
	if e.Event != r.event {
		return false, versionConflict(r)
	}
	if err := l.resolve(&e); err != nil {
		return false, ledgerUnreadable(err)
	}
	r.duplicate, m.SHA256, r.spooledAt = true, e.SHA256, spooledAt(&e)
	return true, nil
}

// namesVersion reports whether an idempotency key names its version
// ("send/v0", "edit/v3") rather than hashing the event ("edit/h…").
func namesVersion(event string) bool {
	_, rest, _ := strings.Cut(event, "/")
	return strings.HasPrefix(rest, "v")
}

func ledgerUnreadable(err error) *APIError {
	return &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "ledger unreadable: " + err.Error()}
}

func versionConflict(r *record) *APIError {
	return &APIError{Status: http.StatusConflict, Code: CodeConflict, Field: "version", Line: r.line,
		Message: fmt.Sprintf("message %s already has a different version %d", r.msg.ID, r.msg.Version)}
}

// versionReserved reports whether a request in flight reserved version v
// of id. Callers hold l.mu.
func (l *ledger) versionReserved(id string, v int) bool {
	prefix := id + "\x00"
	for k, pv := range l.pending {
		if pv == v && len(k) > len(prefix) && k[1:len(prefix)+1] == prefix {
			return true
		}
	}
	return false
}

// highest is the highest version of id known, reservations included, or -1.
func (l *ledger) highest(id string) (int, error) {
	hi := -1
	if v, ok := l.maxVer[id]; ok {
		hi = v
	}
	prefix := versionPrefix(id)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: append(prefix[:len(prefix)-1:len(prefix)-1], 1)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if it.Last() {
		if v := int(binary.BigEndian.Uint32(it.Key()[len(prefix):])); v > hi {
			hi = v
		}
	}
	return hi, it.Error()
}

// recomputeMax rebuilds maxVer and holds from the reservations left.
func (l *ledger) recomputeMax() {
	l.maxVer, l.holds = map[string]int{}, map[string]int{}
	for k, v := range l.pending {
		id := k[1:strings.IndexByte(k, 0)]
		l.holds[id]++
		if cur, ok := l.maxVer[id]; !ok || v > cur {
			l.maxVer[id] = v
		}
	}
}

// forget drops the reservations of committed records without a pass over
// every reservation: an id's highest reserved version stays while it has
// other reservations, and may then be a committed one, which highest finds
// in Pebble anyway.
func (l *ledger) forget(recs []*record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		if r.duplicate {
			continue
		}
		id := r.msg.ID
		delete(l.pending, string(eventKey(id, r.event)))
		if l.holds[id]--; l.holds[id] <= 0 {
			delete(l.holds, id)
			delete(l.maxVer, id)
		}
	}
	l.notifyChanged()
}

// release forgets the reservations of records.
func (l *ledger) release(recs []*record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		if !r.duplicate {
			delete(l.pending, string(eventKey(r.msg.ID, r.event)))
		}
	}
	l.recomputeMax()
	l.notifyChanged()
}

// commit records spooled versions (with their LSN) and drops their
// reservations.
func (l *ledger) commit(recs []*record, lsns []uint64) error {
	b := batchWriter{b: l.db.NewBatch()}
	for i, r := range recs {
		if !r.duplicate {
			b.putVersion(&r.msg, r.event, lsns[i])
		}
	}
	if err := b.b.Commit(pebble.NoSync); err != nil {
		l.release(recs)
		return fmt.Errorf("commit to ledger: %w", err)
	}
	l.forget(recs)
	return nil
}

// batchWriter fills a Pebble batch through two reused buffers: Set copies
// key and value into the batch.
type batchWriter struct {
	b        *pebble.Batch
	key, val []byte
}

// set adds a write; a batch Set only fails once committed.
func (w *batchWriter) set() { _ = w.b.Set(w.key, w.val, nil) }

func (w *batchWriter) putVersion(m *archive.Message, event string, lsn uint64) {
	e := ledgerEntry{Version: m.Version, Action: string(m.Action), Event: event,
		SHA256: m.SHA256, LSN: lsn, RetainUntil: m.RetainUntil}
	w.putEntry(m.ID, &e)
	if !namesVersion(event) {
		w.key = appendEventKey(w.key[:0], m.ID, event)
		w.val = binary.BigEndian.AppendUint32(w.val[:0], uint32(m.Version))
		w.set()
	}
}

func (w *batchWriter) putEntry(id string, e *ledgerEntry) {
	w.key = appendVersionKey(w.key[:0], id, e.Version)
	w.val = e.appendTo(w.val[:0])
	w.set()
}

// replay re-enters a spooled record after a restart; it never forgets the
// location of a version that is already stored.
func (l *ledger) replay(m *archive.Message, event string, lsn uint64) error {
	l.mu.Lock()
	l.ids.add(m.ID)
	l.mu.Unlock()
	if e, err := l.version(m.ID, m.Version); err == nil && e.Segment != "" {
		return nil
	}
	b := batchWriter{b: l.db.NewBatch()}
	b.putVersion(m, event, lsn)
	return b.b.Commit(pebble.NoSync)
}

// locate records where the versions of one upload batch (the spool
// records from LSN from on) are stored: the keys of its segments once,
// under 'b', and for each version its segment and frame under 'l' and its
// LSN — short keys in order, where rewriting each version's whole entry
// under its random key cost the ledger as much as ingest did. located[i]
// are the versions of segs[i], each with its LSN and manifest entry.
//
// The locations are committed locateBatch at a time: Pebble applies
// batches in order, so one batch for a whole segment would hold back every
// ingest request's commit behind it.
func (l *ledger) locate(from uint64, segs []string, located [][]ledgerEntry) error {
	b := batchWriter{b: l.db.NewBatch()}
	b.key = batchKey(b.key[:0], from)
	b.val = binary.AppendUvarint(b.val[:0], uint64(len(segs)))
	for _, s := range segs {
		b.val = appendString(b.val, s)
	}
	b.set()
	n := 0
	for i, entries := range located {
		for j := range entries {
			e := &entries[j]
			b.key = locationKey(b.key[:0], e.LSN)
			b.val = appendLocation(b.val[:0], from, i, e)
			b.set()
			if n++; n%locateBatch == 0 {
				if err := b.b.Commit(pebble.NoSync); err != nil {
					return fmt.Errorf("locate segment %s in ledger: %w", segs[i], err)
				}
				b.b = l.db.NewBatch()
			}
		}
	}
	if err := b.b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("locate batch %d in ledger: %w", from, err)
	}
	return nil
}

// locateBatch is how many locations one ledger commit records: about as
// many versions as one ingest request writes.
const locateBatch = 512

func batchKey(k []byte, from uint64) []byte {
	return binary.BigEndian.AppendUint64(append(k, 'b'), from)
}

func locationKey(k []byte, lsn uint64) []byte {
	return binary.BigEndian.AppendUint64(append(k, 'l'), lsn)
}

// sumPrefix is how much of a version's hex SHA-256 its location repeats, so
// that a location is only ever applied to the version it was written for.
const sumPrefix = 16

func appendLocation(b []byte, from uint64, seg int, e *ledgerEntry) []byte {
	b = binary.AppendUvarint(b, from)
	b = binary.AppendUvarint(b, uint64(seg))
	b = binary.AppendVarint(b, e.Entry.FrameOffset)
	b = binary.AppendVarint(b, e.Entry.FrameLength)
	b = binary.AppendUvarint(b, uint64(e.Entry.Pos))
	b = binary.AppendUvarint(b, uint64(e.Entry.Len))
	return appendString(b, e.SHA256[:min(sumPrefix, len(e.SHA256))])
}

// resolve fills the segment and frame of a version that was spooled at
// e.LSN once its location is recorded; a version still in the spool is
// left as it is.
func (l *ledger) resolve(e *ledgerEntry) error {
	if e.Segment != "" || e.LSN == 0 {
		return nil
	}
	raw, found, err := l.get(locationKey(nil, e.LSN))
	if err != nil || !found {
		return err
	}
	r := &spoolReader{b: raw}
	from, seg := r.uvarint(), int(r.uvarint())
	me := archive.ManifestEntry{ID: e.ID, Version: e.Version, SHA256: e.SHA256,
		FrameOffset: r.varint(), FrameLength: r.varint(), Pos: int(r.uvarint()), Len: int(r.uvarint())}
	sum := r.str()
	if r.err != nil {
		return fmt.Errorf("decode location of %s v%d: %w", e.ID, e.Version, r.err)
	}
	if !strings.HasPrefix(e.SHA256, sum) {
		return nil // written for another version: this one is still spooled
	}
	raw, found, err = l.get(batchKey(nil, from))
	if err != nil {
		return err
	}
	r = &spoolReader{b: raw}
	n := int(r.uvarint())
	var key string
	for i := 0; i < n && r.err == nil; i++ {
		if s := r.str(); i == seg {
			key = s
		}
	}
	if !found || r.err != nil || key == "" {
		return fmt.Errorf("ledger: location of %s v%d names segment %d of batch %d, which it does not record", e.ID, e.Version, seg, from)
	}
	e.Segment, e.Entry, e.LSN = key, me, 0
	return nil
}

// versions lists what the ledger knows of id, oldest version first.
func (l *ledger) versions(id string) ([]ledgerEntry, error) {
	prefix := versionPrefix(id)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: append(prefix[:len(prefix)-1:len(prefix)-1], 1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []ledgerEntry
	for it.First(); it.Valid(); it.Next() {
		var e ledgerEntry
		if err := e.unmarshal(id, it.Value()); err != nil {
			return nil, err
		}
		if err := l.resolve(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, it.Error()
}

// version reads what the ledger knows of one version of id.
func (l *ledger) version(id string, v int) (ledgerEntry, error) {
	raw, found, err := l.get(versionKey(id, v))
	if err != nil {
		return ledgerEntry{}, err
	}
	if !found {
		return ledgerEntry{ID: id}, fmt.Errorf("ledger has no %s v%d: %w", id, v, archive.ErrNotFound)
	}
	var e ledgerEntry
	if err := e.unmarshal(id, raw); err != nil {
		return e, err
	}
	return e, l.resolve(&e)
}

// idempotencyKey identifies one event for idempotency: an explicit version, or
// for a later version sent without one, the hash of what it says.
func idempotencyKey(m *archive.Message, explicit bool) string {
	if explicit || m.Action == archive.ActionSend {
		return string(m.Action) + "/v" + strconv.Itoa(m.Version)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|", m.Action, m.SentAt.Format(time.RFC3339Nano), m.Type, m.Text)
	for _, a := range m.Attachments {
		fmt.Fprintf(h, "%s:%s|", a.Name, a.SHA256)
	}
	return fmt.Sprintf("%s/h%x", m.Action, h.Sum(nil)[:12])
}
