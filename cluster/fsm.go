package cluster

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// The catalog database (fsm.db) layout.
var (
	// bucketSegments maps a segment key to its JSON archive.Segment.
	bucketSegments = []byte("segments")
	// bucketSeq maps an 8-byte big-endian catalog seq to a segment key.
	bucketSeq = []byte("seq")
	// bucketRetain indexes segments by retain_until: retainKey → nil.
	bucketRetain = []byte("retain")
	// bucketMeta holds the keys below.
	bucketMeta = []byte("meta")

	metaFormat  = []byte("format")        // catalogFormat
	metaApplied = []byte("applied_index") // last raft index applied
	metaLastSeq = []byte("last_seq")      // last catalog seq assigned
	metaCount   = []byte("segment_count") // segments in bucketSegments

	// coreBuckets are in every catalog, snapshots of older binaries
	// included; allBuckets are created on open.
	coreBuckets = [][]byte{bucketSegments, bucketSeq, bucketRetain, bucketMeta}
	allBuckets  = append(append(slices.Clone(coreBuckets), retentionBuckets...), bucketQuarantine)
)

// catalogFormat is the version of the fsm.db layout.
const catalogFormat = 1

// boltOpenTimeout bounds the wait for bbolt's file lock: when another
// process holds the catalog, fail rather than hang.
const boltOpenTimeout = time.Second

// initialMmapSize is the address space bbolt maps up front. A snapshot holds
// a read transaction open while it streams, and bbolt cannot grow its mmap
// while any read transaction is open: mapping 1 GiB at once (address space,
// not memory) keeps Apply from stalling behind a snapshot until the catalog
// outgrows it.
const initialMmapSize = 1 << 30

// fsm is the raft state machine: the segment catalog in a bbolt database.
// Apply, Snapshot and Restore are called by raft's FSM goroutine only; the
// read methods are called from anywhere.
type fsm struct {
	path string
	log  *logrus.Entry

	mu sync.RWMutex // guards db: Restore and close swap it, everyone else reads it
	db *bolt.DB     // nil once closed (or if a restore failed to reopen it)

	applied atomic.Uint64 // mirrors metaApplied
	lastSeq atomic.Uint64 // mirrors metaLastSeq

	// policies caches the policy record for readers on the ingest path;
	// it is valid while its generation equals policiesGen, which every
	// applied policy change (and every restore) moves on.
	policies    atomic.Pointer[cachedPolicies]
	policiesGen atomic.Uint64

	changedMu   sync.Mutex
	changed     chan struct{} // closed and replaced on every change
	changedDone bool          // changed closed for good by close
	appliedC    chan struct{} // closed and replaced whenever applied moves
}

var _ raft.BatchingFSM = (*fsm)(nil)

// applyResult is the response of one applied command, returned to the
// caller through raft's ApplyFuture.
type applyResult struct {
	changed bool  // a retention, hold or sweep record changed
	added   int   // segments newly recorded
	err     error // the command was rejected as a whole (ErrConflict, ErrInvalid)
}

// openFSM opens (creating if needed) the catalog at path.
func openFSM(path string, log *logrus.Entry) (*fsm, error) {
	_ = os.Remove(restorePath(path)) // left by a restore that crashed
	db, err := openCatalogDB(path)
	if err != nil {
		return nil, err
	}
	f := &fsm{path: path, log: log, db: db, changed: make(chan struct{}), appliedC: make(chan struct{})}
	if err := f.loadMeta(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return f, nil
}

// catalogOptions are the bbolt options of every catalog file.
func catalogOptions() *bolt.Options {
	return &bolt.Options{
		Timeout:         boltOpenTimeout,
		NoFreelistSync:  true, // rebuilt on open; makes every commit cheaper
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: initialMmapSize,
	}
}

// openCatalogDB opens the bbolt file and creates the buckets.
func openCatalogDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, catalogOptions())
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return checkFormat(tx, true)
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	return db, nil
}

// checkFormat verifies the layout version, stamping it on a new database
// when stamp is set.
func checkFormat(tx *bolt.Tx, stamp bool) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("no %s bucket: not a catalog", bucketMeta)
	}
	v := meta.Get(metaFormat)
	if v == nil && stamp {
		return meta.Put(metaFormat, u64(catalogFormat))
	}
	if got := getU64(v); got != catalogFormat {
		return fmt.Errorf("catalog format %d, this binary reads %d", got, catalogFormat)
	}
	return nil
}

// loadMeta refreshes the atomic mirrors from the database.
func (f *fsm) loadMeta() error {
	f.policiesGen.Add(1)
	return f.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		f.applied.Store(getU64(meta.Get(metaApplied)))
		f.lastSeq.Store(getU64(meta.Get(metaLastSeq)))
		return nil
	})
}

// Apply applies one committed log entry.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed log entries in one bbolt transaction.
//
// Entries at or below the stored applied index are already in the catalog
// and are skipped: on restart raft replays the log after its latest
// snapshot onto a catalog that, being durable, already holds them.
//
// A command the catalog rejects (a conflicting sha256) gets an error
// response and changes nothing; every node rejects it alike. A failure to
// write the catalog itself panics: skipping a committed entry would let
// this node's catalog silently diverge, while crashing lets a restart replay
// the entry from the log.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	resps := make([]any, len(logs))
	applied := f.applied.Load()
	start := 0
	for start < len(logs) && logs[start].Index <= applied {
		start++
	}
	if start == len(logs) {
		return resps
	}
	last := logs[len(logs)-1].Index

	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		panic("cluster: apply on a closed catalog")
	}
	changes := 0 // segments recorded, retention records changed
	var lastSeq uint64
	var policiesSet bool
	var duplicated []string
	err := f.db.Update(func(tx *bolt.Tx) error {
		w := newCatalogWriter(tx)
		for i := start; i < len(logs); i++ {
			if logs[i].Type != raft.LogCommand {
				continue // configuration changes only advance the applied index
			}
			res, err := w.apply(logs[i])
			if err != nil {
				return err
			}
			resps[i] = res
			changes += res.added
			if res.changed {
				changes++
			}
		}
		lastSeq, policiesSet = w.lastSeq, w.policiesSet
		duplicated = w.duplicated
		return w.finish(last)
	})
	if err != nil {
		panic(fmt.Sprintf("cluster: write catalog at raft index %d: %v", last, err))
	}
	for _, key := range duplicated {
		f.log.WithField("segment", key).Warn("segment catalogued that may repeat versions another segment stores (its claims were taken over, or it holds versions older than the claims kept): listed as duplicated")
	}
	if policiesSet {
		f.policiesGen.Add(1)
	}
	f.applied.Store(last)
	f.lastSeq.Store(lastSeq)
	f.notifyApplied()
	if changes > 0 {
		f.notify(false)
	}
	return resps
}

// catalogWriter applies commands inside one write transaction.
type catalogWriter struct {
	tx                          *bolt.Tx
	segments, seq, retain, meta *bolt.Bucket
	lastSeq, count              uint64
	policiesSet                 bool // a policies_set was applied

	// duplicated are segments catalogued that may repeat versions other
	// segments store (claims.go).
	duplicated []string
}

func newCatalogWriter(tx *bolt.Tx) *catalogWriter {
	w := &catalogWriter{
		tx:       tx,
		segments: tx.Bucket(bucketSegments),
		seq:      tx.Bucket(bucketSeq),
		retain:   tx.Bucket(bucketRetain),
		meta:     tx.Bucket(bucketMeta),
	}
	w.seq.FillPercent = 1 // keys only ever grow: pack the pages
	w.lastSeq = getU64(w.meta.Get(metaLastSeq))
	w.count = getU64(w.meta.Get(metaCount))
	return w
}

// apply applies one command entry. The error is a storage failure; a
// rejected command is an applyResult with err set.
func (w *catalogWriter) apply(l *raft.Log) (*applyResult, error) {
	c, err := decodeCommand(l.Data)
	if err != nil {
		panic(fmt.Sprintf("cluster: raft index %d: %v", l.Index, err))
	}
	switch c.Op {
	case OpSegmentSealed:
		return w.sealSegments(c.Segments)
	case OpVersionsClaimed:
		return w.claimVersions(&c)
	case OpSegmentQuarantined, OpQuarantineCleared:
		res, _, err := w.applyQuarantine(&c)
		return res, err
	default:
		res, known, err := w.applyRetention(&c)
		if !known {
			panic(fmt.Sprintf("cluster: raft index %d: unknown command op %q", l.Index, c.Op))
		}
		if res != nil && res.err == nil {
			res.changed = true
		}
		return res, err
	}
}

// sealSegments records the segments not yet in the catalog, each with the
// next seq. It checks the whole command before writing anything, so a
// rejected command changes nothing.
func (w *catalogWriter) sealSegments(raws []json.RawMessage) (*applyResult, error) {
	type fresh struct {
		key, value, retainKey []byte
		holds                 map[string]int
	}
	var add []fresh
	seen := make(map[string]string, len(raws))
	for i, raw := range raws {
		var s archive.Segment
		if err := json.Unmarshal(raw, &s); err != nil {
			return &applyResult{err: fmt.Errorf("decode segment %d: %w: %w", i, ErrInvalid, err)}, nil
		}
		if err := checkSegment(&s); err != nil {
			return &applyResult{err: err}, nil
		}
		if sha, ok := seen[s.Key]; ok {
			if !strings.EqualFold(sha, s.SHA256) {
				return &applyResult{err: conflict(s.Key, sha, s.SHA256)}, nil
			}
			continue
		}
		seen[s.Key] = s.SHA256
		if v := w.segments.Get([]byte(s.Key)); v != nil {
			var have struct {
				SHA256 string `json:"sha256"`
			}
			if err := json.Unmarshal(v, &have); err != nil {
				return nil, fmt.Errorf("decode recorded segment %s: %w", s.Key, err)
			}
			if !strings.EqualFold(have.SHA256, s.SHA256) {
				return &applyResult{err: conflict(s.Key, have.SHA256, s.SHA256)}, nil
			}
			continue // already recorded: a retry or a replay
		}
		add = append(add, fresh{[]byte(s.Key), raw, retainKey(s.RetainUntil, s.Key), s.Holds})
	}
	for _, a := range add {
		w.lastSeq++
		w.count++
		if err := w.segments.Put(a.key, a.value); err != nil {
			return nil, err
		}
		if err := w.seq.Put(u64(w.lastSeq), a.key); err != nil {
			return nil, err
		}
		if err := w.tx.Bucket(bucketSeqOf).Put(a.key, u64(w.lastSeq)); err != nil {
			return nil, err
		}
		if err := w.retain.Put(a.retainKey, nil); err != nil {
			return nil, err
		}
		for id, n := range a.holds {
			if err := w.cover(id, string(a.key), n); err != nil {
				return nil, err
			}
		}
		if dup, err := w.markIfDuplicated(a.key); err != nil {
			return nil, err
		} else if dup {
			w.duplicated = append(w.duplicated, string(a.key))
		}
	}
	return &applyResult{added: len(add)}, nil
}

// finish records the applied index and the counters.
func (w *catalogWriter) finish(applied uint64) error {
	if err := w.meta.Put(metaApplied, u64(applied)); err != nil {
		return err
	}
	if err := w.meta.Put(metaLastSeq, u64(w.lastSeq)); err != nil {
		return err
	}
	return w.meta.Put(metaCount, u64(w.count))
}

func conflict(key, have, got string) error {
	return fmt.Errorf("segment %s: recorded sha256 %s, sealed again with %s: %w", key, have, got, ErrConflict)
}

// notify wakes everyone waiting on Changed; final leaves the channel closed
// for good (on close).
func (f *fsm) notify(final bool) {
	f.changedMu.Lock()
	defer f.changedMu.Unlock()
	if f.changedDone {
		return
	}
	close(f.changed)
	if final {
		f.changedDone = true
		return
	}
	f.changed = make(chan struct{})
}

// notifyApplied wakes everyone waiting for the applied index to move
// (waitApplied): unlike Changed, it fires for every applied batch.
func (f *fsm) notifyApplied() {
	f.changedMu.Lock()
	defer f.changedMu.Unlock()
	close(f.appliedC)
	f.appliedC = make(chan struct{})
}

// appliedChanged returns the channel the next move of the applied index
// closes.
func (f *fsm) appliedChanged() <-chan struct{} {
	f.changedMu.Lock()
	defer f.changedMu.Unlock()
	return f.appliedC
}

// changes returns the channel the next change closes.
func (f *fsm) changes() <-chan struct{} {
	f.changedMu.Lock()
	defer f.changedMu.Unlock()
	return f.changed
}

// close closes the database and wakes every Changed waiter for good.
// Raft must be shut down first.
func (f *fsm) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notify(true)
	if f.db == nil {
		return nil
	}
	err := f.db.Close()
	f.db = nil
	if err != nil {
		return fmt.Errorf("close catalog: %w", err)
	}
	return nil
}

// retainKey orders segments by retain_until (unix seconds, sign bit flipped
// so that the big-endian bytes sort like the signed number), then key.
func retainKey(t time.Time, key string) []byte {
	b := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(b, uint64(t.Unix())^(1<<63))
	return append(b, key...)
}

func u64(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)
}

// getU64 decodes u64; a missing value is 0.
func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
