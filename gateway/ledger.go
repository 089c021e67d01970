package gateway

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// The ledger is this node's record of every message version it accepted:
// the idempotency check, version assignment and where each version is (still
// in the spool at an LSN, or in a segment at a frame). It is a bbolt file
// written without fsync: the spool is the durable copy of anything the
// ledger has not synced, so on start every spooled record is replayed into
// it, and the uploader syncs it before the spool watermark moves past a
// record.

var (
	bucketVersions = []byte("versions") // id 0x00 version(u32 BE) → ledgerEntry
	bucketEvents   = []byte("events")   // id 0x00 event key → version(u32 BE)
)

// ledgerEntry is what the ledger knows of one message version.
type ledgerEntry struct {
	ID          string    `json:"-"`
	Version     int       `json:"v"`
	Action      string    `json:"a"`
	Event       string    `json:"e"`
	SHA256      string    `json:"h"`
	LSN         uint64    `json:"lsn,omitempty"`
	RetainUntil time.Time `json:"ru"`
	Segment     string    `json:"seg,omitempty"`
	Entry       archive.ManifestEntry
}

// record is one accepted message on its way through ingest.
type record struct {
	line      int
	msg       archive.Message
	blobs     []blob
	explicit  bool   // the sender gave the version
	event     string // idempotency key within the message id
	duplicate bool   // already archived: answered, not stored again
}

type ledger struct {
	db *bolt.DB

	mu      sync.Mutex
	pending map[string]int // id 0x00 event → version, accepted but not yet in db
	maxVer  map[string]int // id → highest pending version
}

func openLedger(path string) (*ledger, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: true, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketVersions, bucketEvents} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init ledger %s: %w", path, err)
	}
	return &ledger{db: db, pending: map[string]int{}, maxVer: map[string]int{}}, nil
}

func (l *ledger) Close() error { return l.db.Close() }

// Sync makes every ledger write so far durable.
func (l *ledger) Sync() error {
	if err := l.db.Sync(); err != nil {
		return fmt.Errorf("sync ledger: %w", err)
	}
	return nil
}

func versionKey(id string, v int) []byte {
	k := make([]byte, 0, len(id)+5)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(v))
}

func eventDBKey(id, event string) []byte { return []byte(id + "\x00" + event) }

// assign decides, for every record, whether it is a duplicate of a version
// already accepted and otherwise which version it becomes, then reserves
// those versions until commit or release. stamp is called on each new
// record once its version is known, to fill retention and hashes.
func (l *ledger) assign(recs []*record, stamp func(*archive.Message)) *APIError {
	l.mu.Lock()
	defer l.mu.Unlock()
	var reserved []string
	fail := func(e *APIError) *APIError {
		for _, k := range reserved {
			delete(l.pending, k)
		}
		l.recomputeMax()
		return e
	}
	err := l.db.View(func(tx *bolt.Tx) error {
		vb, eb := tx.Bucket(bucketVersions), tx.Bucket(bucketEvents)
		for _, r := range recs {
			m := &r.msg
			m.ID = archive.MessageID(m.Tenant, m.Platform, m.SourceID)
			if !r.explicit && m.Action == archive.ActionSend {
				m.Version = 0
			}
			r.event = eventKey(m, r.explicit)
			ek := string(eventDBKey(m.ID, r.event))
			if v, ok := l.pending[ek]; ok {
				r.duplicate, m.Version = true, v
				continue
			}
			if raw := eb.Get([]byte(ek)); raw != nil {
				r.duplicate, m.Version = true, int(binary.BigEndian.Uint32(raw))
				if e := l.fillDuplicate(vb, r); e != nil {
					return e
				}
				continue
			}
			if r.explicit {
				if e := l.checkFree(vb, r); e != nil {
					return e
				}
			} else if m.Action != archive.ActionSend {
				m.Version = l.highest(vb, m.ID) + 1
				if m.Version == 0 {
					m.Version = 1
				}
			}
			stamp(m)
			l.pending[ek] = m.Version
			if m.Version > l.maxVer[m.ID] || l.maxVer[m.ID] == 0 {
				l.maxVer[m.ID] = m.Version
			}
			reserved = append(reserved, ek)
		}
		return nil
	})
	if err != nil {
		if e, ok := err.(*APIError); ok {
			return fail(e)
		}
		return fail(&APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "ledger unreadable"})
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

// checkFree refuses an explicit version that is already taken by another
// action or is reserved.
func (l *ledger) checkFree(vb *bolt.Bucket, r *record) error {
	m := &r.msg
	raw := vb.Get(versionKey(m.ID, m.Version))
	taken := raw != nil
	for k, v := range l.pending {
		if v == m.Version && bytes.HasPrefix([]byte(k), []byte(m.ID+"\x00")) {
			taken = true
		}
	}
	if taken {
		return &APIError{Status: http.StatusConflict, Code: CodeConflict, Field: "version", Line: r.line,
			Message: fmt.Sprintf("message %s already has a different version %d", m.ID, m.Version)}
	}
	return nil
}

func (l *ledger) fillDuplicate(vb *bolt.Bucket, r *record) error {
	raw := vb.Get(versionKey(r.msg.ID, r.msg.Version))
	if raw == nil {
		return nil
	}
	var e ledgerEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("decode ledger entry %s v%d: %w", r.msg.ID, r.msg.Version, err)
	}
	r.msg.SHA256 = e.SHA256
	return nil
}

// highest is the highest version of id known, pending included, or -1.
func (l *ledger) highest(vb *bolt.Bucket, id string) int {
	hi := -1
	if v, ok := l.maxVer[id]; ok {
		hi = v
	}
	c := vb.Cursor()
	prefix := append([]byte(id), 0)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if v := int(binary.BigEndian.Uint32(k[len(prefix):])); v > hi {
			hi = v
		}
	}
	return hi
}

func (l *ledger) recomputeMax() {
	l.maxVer = map[string]int{}
	for k, v := range l.pending {
		id := k[:bytes.IndexByte([]byte(k), 0)]
		if cur, ok := l.maxVer[id]; !ok || v > cur {
			l.maxVer[id] = v
		}
	}
}

// release forgets the reservations of records that were not spooled.
func (l *ledger) release(recs []*record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		if !r.duplicate {
			delete(l.pending, string(eventDBKey(r.msg.ID, r.event)))
		}
	}
	l.recomputeMax()
}

// commit records spooled versions (with their LSN) and drops their
// reservations.
func (l *ledger) commit(recs []*record, lsns []uint64) error {
	err := l.db.Batch(func(tx *bolt.Tx) error {
		for i, r := range recs {
			if r.duplicate {
				continue
			}
			if err := putVersion(tx, &r.msg, r.event, lsns[i]); err != nil {
				return err
			}
		}
		return nil
	})
	l.release(recs)
	if err != nil {
		return fmt.Errorf("commit to ledger: %w", err)
	}
	return nil
}

func putVersion(tx *bolt.Tx, m *archive.Message, event string, lsn uint64) error {
	vb, eb := tx.Bucket(bucketVersions), tx.Bucket(bucketEvents)
	vk := versionKey(m.ID, m.Version)
	if old := vb.Get(vk); old != nil {
		var e ledgerEntry
		if err := json.Unmarshal(old, &e); err == nil && e.Segment != "" {
			return nil // already located; a replay must not forget where it is
		}
	}
	val, err := json.Marshal(ledgerEntry{Version: m.Version, Action: string(m.Action), Event: event,
		SHA256: m.SHA256, LSN: lsn, RetainUntil: m.RetainUntil})
	if err != nil {
		return err
	}
	if err := vb.Put(vk, val); err != nil {
		return err
	}
	return eb.Put(eventDBKey(m.ID, event), binary.BigEndian.AppendUint32(nil, uint32(m.Version)))
}

// replay re-enters a spooled record after a restart (idempotent).
func (l *ledger) replay(m *archive.Message, event string, lsn uint64) error {
	return l.db.Update(func(tx *bolt.Tx) error { return putVersion(tx, m, event, lsn) })
}

// locate records where each version of a sealed segment is.
func (l *ledger) locate(seg string, entries []archive.ManifestEntry) error {
	err := l.db.Update(func(tx *bolt.Tx) error {
		vb := tx.Bucket(bucketVersions)
		for _, me := range entries {
			vk := versionKey(me.ID, me.Version)
			var e ledgerEntry
			if raw := vb.Get(vk); raw != nil {
				if err := json.Unmarshal(raw, &e); err != nil {
					return fmt.Errorf("decode ledger entry %s v%d: %w", me.ID, me.Version, err)
				}
			}
			e.Version, e.SHA256, e.Segment, e.Entry, e.LSN = me.Version, me.SHA256, seg, me, 0
			val, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := vb.Put(vk, val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("locate segment %s in ledger: %w", seg, err)
	}
	return nil
}

// versions lists what the ledger knows of id, oldest version first.
func (l *ledger) versions(id string) ([]ledgerEntry, error) {
	var out []ledgerEntry
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketVersions).Cursor()
		prefix := append([]byte(id), 0)
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var e ledgerEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode ledger entry %q: %w", k, err)
			}
			e.ID = id
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// version reads what the ledger knows of one version of id.
func (l *ledger) version(id string, v int) (ledgerEntry, error) {
	e := ledgerEntry{ID: id}
	err := l.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketVersions).Get(versionKey(id, v))
		if raw == nil {
			return fmt.Errorf("ledger has no %s v%d: %w", id, v, archive.ErrNotFound)
		}
		return json.Unmarshal(raw, &e)
	})
	return e, err
}
