package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
)

// appendReq is one Append call waiting for the writer.
type appendReq struct {
	ctx         context.Context
	recs        [][]byte
	bytes       int64 // framed size, plus one commit frame
	taken       bool  // the writer owns it; under Spool.mu
	cancelled   bool  // Append gave up before the writer took it; under Spool.mu
	first, last uint64
	done        chan appendResult // buffered 1
}

type appendResult struct {
	first, last uint64
	err         error
}

// writer is the state of the writer goroutine; only it touches these fields
// after Open (Close reads f once the goroutine is gone).
type writer struct {
	f       *os.File
	file    *walFile // the active file, last in Spool.files
	off     int64    // end of the durable data in f
	next    uint64   // LSN of the next record
	lastIdx int64    // offset of the active file's last index entry
	buf     []byte
	idx     []indexEntry
}

// Append makes recs durable as consecutive LSNs first..last and returns
// once they are fsync'd. The call is all-or-nothing: the records are written
// in one batch that ends with one commit frame, so after a crash either all
// of them are recovered or none is. It returns ErrFull (nothing written) when
// accepting them would take Size() over Options.MaxBytes, ErrTooLarge when
// they could never fit, ErrClosed after Close, and ctx.Err() when ctx ends
// before the write starts; once the write has started, its outcome is the
// answer. An empty recs returns 0, 0, nil. recs may be reused on return.
func (s *Spool) Append(ctx context.Context, recs [][]byte) (first, last uint64, err error) {
	if len(recs) == 0 {
		return 0, 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	n := int64(commitFrameSize)
	for i, rec := range recs {
		if len(rec) > MaxRecordBytes {
			return 0, 0, fmt.Errorf("spool: record %d of %d is %d bytes, limit %d: %w",
				i, len(recs), len(rec), MaxRecordBytes, ErrTooLarge)
		}
		n += frameHeaderSize + int64(len(rec))
	}
	if n > s.opts.MaxBytes {
		return 0, 0, fmt.Errorf("spool: append of %d bytes, limit %d: %w", n, s.opts.MaxBytes, ErrTooLarge)
	}
	req := &appendReq{ctx: ctx, recs: recs, bytes: n, done: make(chan appendResult, 1)}

	s.mu.Lock()
	switch {
	case s.closed:
		err = ErrClosed
	case s.failed != nil:
		err = s.failed
	case s.live+s.reserved+n > s.opts.MaxBytes:
		err = fmt.Errorf("spool: %d bytes live and %d queued, %d more exceed %d: %w",
			s.live, s.reserved, n, s.opts.MaxBytes, ErrFull)
	}
	if err != nil {
		s.mu.Unlock()
		return 0, 0, err
	}
	s.reserved += n
	s.pending = append(s.pending, req)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default: // the writer is already awake
	}

	select {
	case res := <-req.done:
		return res.first, res.last, res.err
	case <-ctx.Done():
	}
	s.mu.Lock()
	if !req.taken {
		req.cancelled = true // the writer drops it and releases its bytes
		s.mu.Unlock()
		return 0, 0, ctx.Err()
	}
	s.mu.Unlock()
	res := <-req.done
	return res.first, res.last, res.err
}

// run is the writer goroutine: it writes batches while appends are queued
// and, once Close stops it, drains the queue before returning.
func (s *Spool) run() {
	defer s.wg.Done()
	for {
		select {
		case <-s.kick:
		case <-s.stop:
			for s.flush() {
			}
			return
		}
		for s.flush() {
		}
	}
}

// flush writes one batch and reports whether there was anything to write.
func (s *Spool) flush() bool {
	batch := s.takeBatch()
	if len(batch) == 0 {
		return false
	}
	s.writeBatch(batch)
	return true
}

// takeBatch dequeues the waiting appends, up to Options.BatchBytes (at
// least one), dropping those whose callers gave up.
func (s *Spool) takeBatch() []*appendReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		batch []*appendReq
		n     int64
		i     int
	)
	for ; i < len(s.pending); i++ {
		r := s.pending[i]
		if r.cancelled {
			s.reserved -= r.bytes
			continue
		}
		if len(batch) > 0 && n+r.bytes > s.opts.BatchBytes {
			break
		}
		r.taken = true
		batch = append(batch, r)
		n += r.bytes
	}
	rest := copy(s.pending, s.pending[i:])
	clear(s.pending[rest:])
	s.pending = s.pending[:rest]
	return batch
}

// writeBatch writes batch with one write and one fsync, then answers every
// request in it.
func (s *Spool) writeBatch(batch []*appendReq) {
	var reserved, n int64
	live := make([]*appendReq, 0, len(batch))
	for _, r := range batch {
		reserved += r.bytes
		if err := r.ctx.Err(); err != nil {
			r.done <- appendResult{err: err}
			continue
		}
		live = append(live, r)
		n += r.bytes
	}
	fail := func(err error) {
		s.mu.Lock()
		s.reserved -= reserved
		s.mu.Unlock()
		for _, r := range live {
			r.done <- appendResult{err: err}
		}
	}
	s.mu.Lock()
	failed := s.failed
	s.mu.Unlock()
	if failed != nil || len(live) == 0 {
		fail(failed) // with no live request this only releases the bytes
		return
	}
	if s.w.off > headerSize && s.w.off+n > s.opts.FileBytes {
		if err := s.roll(); err != nil {
			fail(err)
			return
		}
	}

	buf, idx, lastIdx := s.encode(live)
	if err := s.writeSync(buf); err != nil {
		fail(err)
		return
	}
	s.fsyncs.Add(1)

	last := live[len(live)-1].last
	s.mu.Lock()
	s.w.off += int64(len(buf))
	s.w.next, s.w.lastIdx = last+1, lastIdx
	f := s.w.file
	f.size, f.last = s.w.off, last
	f.index = append(f.index, idx...)
	s.lastLSN = last
	s.reserved -= reserved
	s.computeLive()
	s.notifySynced()
	s.mu.Unlock()
	for _, r := range live {
		r.done <- appendResult{first: r.first, last: r.last}
	}
}

// encode frames the records of live for the end of the active file, every
// call's records contiguous, and closes the batch with one commit frame. It
// assigns each request its LSNs and returns the sparse index entries of the
// batch and the offset of the last one.
func (s *Spool) encode(live []*appendReq) (buf []byte, idx []indexEntry, lastIdx int64) {
	buf, idx, lastIdx = s.w.buf[:0], s.w.idx[:0], s.w.lastIdx
	lsn := s.w.next
	for _, r := range live {
		r.first = lsn
		for _, rec := range r.recs {
			if off := s.w.off + int64(len(buf)); off-lastIdx >= indexInterval {
				idx = append(idx, indexEntry{lsn: lsn, off: off})
				lastIdx = off
			}
			buf = appendRecord(buf, rec)
			lsn++
		}
		r.last = lsn - 1
	}
	buf = appendCommit(buf, s.w.next, lsn-1)
	if int64(cap(buf)) <= 2*s.opts.BatchBytes {
		s.w.buf = buf[:0] // reuse the buffer unless one huge call grew it
	} else {
		s.w.buf = nil
	}
	s.w.idx = idx[:0] // reused once the caller has copied the entries
	return buf, idx, lastIdx
}

// writeSync writes buf at the end of the active file and fsyncs it. A failed
// write is cut off again so the file still ends with a complete batch; a
// failed fsync leaves the page cache in an unknown state, so the spool stops
// accepting appends until it is reopened and recovered.
func (s *Spool) writeSync(buf []byte) error {
	path := s.w.file.path
	if _, err := s.w.f.WriteAt(buf, s.w.off); err != nil {
		err = fmt.Errorf("spool: write %s at %d: %w", path, s.w.off, err)
		if terr := s.w.f.Truncate(s.w.off); terr != nil {
			s.setFailed(fmt.Errorf("%w (truncate: %w)", err, terr))
		}
		return err
	}
	if err := s.w.f.Sync(); err != nil {
		err = fmt.Errorf("spool: fsync %s: %w", path, err)
		s.setFailed(err)
		return err
	}
	if s.afterSync != nil {
		s.afterSync()
	}
	return nil
}

func (s *Spool) setFailed(err error) {
	s.log.WithError(err).Error("spool failed: appends refused until restart")
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
}

// roll closes the active file and starts a new one named by the next LSN.
// The old file is already fsync'd.
func (s *Spool) roll() error {
	first := s.w.next
	path := filepath.Join(s.dir, fileName(first))
	f, err := createFile(path, first)
	if err != nil {
		return err
	}
	old := s.w.f
	wf := &walFile{path: path, first: first, last: first - 1, size: headerSize}
	s.mu.Lock()
	s.files = append(s.files, wf)
	s.computeLive()
	s.mu.Unlock()
	s.w.f, s.w.file, s.w.off, s.w.lastIdx = f, wf, headerSize, headerSize
	if err := old.Close(); err != nil {
		s.log.WithError(err).Warn("spool file close failed")
	}
	s.log.WithFields(logrus.Fields{"file": path, "first_lsn": first}).Debug("spool file started")
	return nil
}
