package spool

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Defaults and limits.
const (
	// DefaultMaxBytes is the spool limit used when Options.MaxBytes is 0.
	DefaultMaxBytes = 10 << 30
	// DefaultFileBytes is the WAL file size used when Options.FileBytes is 0.
	DefaultFileBytes = 64 << 20
	// DefaultBatchBytes is the group-commit batch bound used when
	// Options.BatchBytes is 0.
	DefaultBatchBytes = 8 << 20
	// MaxRecordBytes is the largest record Append accepts.
	MaxRecordBytes = 64 << 20
)

// Options tunes a Spool. Zero values select the defaults.
type Options struct {
	// MaxBytes is the spool limit: Append returns ErrFull when accepting its
	// records would take the live bytes (those at or above the watermark,
	// plus appends still queued) over it.
	MaxBytes int64
	// FileBytes is the size at which the writer rolls to a new WAL file. A
	// file exceeds it only when a single batch does.
	FileBytes int64
	// BatchBytes bounds one group commit: the writer goroutine takes every
	// waiting Append up to this many bytes (always at least one call),
	// writes them in one write and makes them durable with one fsync.
	BatchBytes int64
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxBytes < 0 || o.FileBytes < 0 || o.BatchBytes < 0 {
		return o, fmt.Errorf("spool: negative size in options %+v", o)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.FileBytes == 0 {
		o.FileBytes = DefaultFileBytes
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	return o, nil
}

// Record is one spooled record and its log sequence number.
type Record struct {
	LSN  uint64
	Data []byte
}

// Intent is the LSN range [From, To) the uploader is about to upload,
// persisted before the upload so that after a crash the same range is
// uploaded again under the same deterministic object keys.
type Intent struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
	Note string `json:"note,omitempty"`
}

// walFile is the in-memory view of one WAL file. Its mutable fields change
// only under Spool.mu, and only for the durable (fsync'd) part of the file.
type walFile struct {
	path  string
	first uint64
	last  uint64       // last durable LSN; first-1 while empty
	size  int64        // durable size in bytes
	index []indexEntry // sparse offset index, append-only
}

// Spool is a durable, group-committed write-ahead log of opaque records.
// All methods are safe for concurrent use.
type Spool struct {
	dir    string
	opts   Options
	log    *logrus.Entry
	unlock func() error // releases the directory lock

	// stateMu serialises Commit, SetIntent and ClearIntent, which write
	// state.json; it is never held together with disk reads under mu.
	stateMu sync.Mutex

	mu        sync.Mutex
	files     []*walFile // ordered by first LSN; the last one is being written
	lastLSN   uint64     // last durable LSN
	watermark uint64     // every LSN below it is done
	intent    *Intent
	wmFile    uint64 // first LSN of the file holding the watermark record
	wmOff     int64  // offset of the watermark record in that file
	live      int64  // durable bytes at or above the watermark
	reserved  int64  // bytes of queued, not yet written appends
	pending   []*appendReq
	synced    chan struct{} // closed and replaced after every fsync
	closed    bool
	failed    error // set when an fsync fails; the spool then refuses appends

	// reclaim queues dead files for the reclaimer goroutine (reclaim.go),
	// which runs until reclaimCtx ends.
	reclaim     chan deadFile
	reclaimCtx  context.Context
	reclaimStop context.CancelFunc

	kick      chan struct{} // wakes the writer; buffered 1
	stop      chan struct{} // closed by Close: the writer drains and exits
	done      chan struct{} // closed by Close: wakes blocked Reads
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	w      writer       // owned by the writer goroutine
	fsyncs atomic.Int64 // batch fsyncs, for tests and metrics
	// afterSync, when set by a test before the first Append, runs after
	// every batch fsync: it stands in for a disk whose fsync takes time.
	afterSync func()
}

// Open opens the spool in dir, creating the directory if needed, recovers
// it and starts its writer goroutine. Recovery deletes files wholly below the
// watermark, verifies every remaining frame, and truncates a torn tail: the
// part of the last file after its last complete batch, which no caller was
// ever told was durable. Any other damage fails with ErrCorrupt.
func Open(dir string, opts Options, log *logrus.Entry) (*Spool, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		l := logrus.New()
		l.Out = io.Discard
		log = logrus.NewEntry(l)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{
		dir:    dir,
		opts:   opts,
		log:    log.WithField("component", "spool"),
		unlock: unlock,
		synced: make(chan struct{}),
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),

		reclaim: make(chan deadFile, reclaimQueue),
	}
	s.reclaimCtx, s.reclaimStop = context.WithCancel(context.Background())
	start := time.Now()
	if err := s.recover(); err != nil {
		s.reclaimStop()
		if s.w.f != nil {
			s.w.f.Close()
		}
		unlock()
		return nil, err
	}
	s.log.WithFields(logrus.Fields{
		"dir":       dir,
		"files":     len(s.files),
		"watermark": s.watermark,
		"last_lsn":  s.lastLSN,
		"live":      s.live,
		"took":      time.Since(start).Round(time.Millisecond).String(),
	}).Info("spool opened")
	s.wg.Add(2)
	go s.run()
	go s.runReclaim()
	return s, nil
}

// Close stops accepting appends, lets the writer flush the appends already
// queued, wakes blocked Reads with ErrClosed and releases the directory. It
// is idempotent.
func (s *Spool) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		close(s.stop) // the writer drains the queue before it returns
		s.reclaimStop()
		s.wg.Wait()
		if err := s.w.f.Close(); err != nil {
			s.closeErr = fmt.Errorf("spool: close %s: %w", s.w.file.path, err)
		}
		if err := s.unlock(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// Watermark returns the LSN below which every record is done (uploaded). It
// starts at 1.
func (s *Spool) Watermark() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watermark
}

// Intent returns the pending upload intent, if any.
func (s *Spool) Intent() (Intent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.intent == nil {
		return Intent{}, false
	}
	return *s.intent, true
}

// Size returns the live bytes on disk: the durable bytes from the watermark
// record on. Files below the watermark still on disk are not counted (the
// file holding the watermark is deleted only once wholly below it).
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// LastLSN returns the LSN of the last durable record, or Watermark()-1 when
// the spool has held no record since it was emptied.
func (s *Spool) LastLSN() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastLSN
}

// computeLive recomputes s.live from the file sizes and the watermark
// position. Callers hold s.mu.
func (s *Spool) computeLive() {
	var n int64
	for _, f := range s.files {
		switch {
		case f.first == s.wmFile:
			n += f.size - s.wmOff
		case f.first > s.wmFile:
			n += f.size
		}
	}
	s.live = n
}

// notifySynced wakes every Read waiting for new records. Callers hold s.mu.
func (s *Spool) notifySynced() {
	close(s.synced)
	s.synced = make(chan struct{})
}
