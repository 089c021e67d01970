package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// readBufferSize is the read-ahead of one Read through a file.
const readBufferSize = 64 << 10

// slabSize is the size of the blocks a Read of several records carves
// their payloads from: one allocation per block rather than per record.
const slabSize = 256 << 10

// fileSnap is a consistent copy of a walFile's durable extent, taken under
// Spool.mu so the disk reads that follow need no lock.
type fileSnap struct {
	path  string
	first uint64
	last  uint64
	size  int64
	index []indexEntry
}

func (f *walFile) snap() fileSnap {
	return fileSnap{path: f.path, first: f.first, last: f.last, size: f.size, index: f.index}
}

// Read returns records with LSN >= from in LSN order: at most max of them,
// and no more than about maxBytes of payload (maxBytes <= 0: no byte limit),
// but always at least one. It blocks until the record at from is durable or
// ctx is done. Only fsync'd records are ever returned. Reading below the
// watermark fails with ErrCompacted.
//
// Disk reads happen without holding any lock, through a read-only file
// handle of their own, so Read never delays Append.
func (s *Spool) Read(ctx context.Context, from uint64, max int, maxBytes int64) ([]Record, error) {
	if max < 1 {
		return nil, fmt.Errorf("spool: read max %d: must be at least 1", max)
	}
	if err := s.waitFor(ctx, from); err != nil {
		return nil, err
	}
	var (
		out   []Record
		total int64
	)
	for len(out) < max {
		s.mu.Lock()
		fs, ok := s.fileFor(from)
		s.mu.Unlock()
		if !ok {
			break // from is past the last durable record
		}
		var full bool
		var err error
		out, total, full, err = fs.read(out, from, max, maxBytes, total)
		if err != nil {
			return nil, err
		}
		if full || len(out) == 0 {
			break
		}
		from = out[len(out)-1].LSN + 1
	}
	if len(out) == 0 {
		// Only a concurrent Commit past from can take the records away.
		return nil, fmt.Errorf("spool: read from lsn %d: %w", from, ErrCompacted)
	}
	return out, nil
}

// waitFor blocks until the record with LSN lsn is durable.
func (s *Spool) waitFor(ctx context.Context, lsn uint64) error {
	for {
		s.mu.Lock()
		closed, wm, last, synced := s.closed, s.watermark, s.lastLSN, s.synced
		s.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case lsn < wm:
			return fmt.Errorf("spool: read from lsn %d, watermark %d: %w", lsn, wm, ErrCompacted)
		case lsn <= last:
			return nil
		}
		select {
		case <-synced:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		}
	}
}

// fileFor returns the durable extent of the file holding lsn. Callers hold
// s.mu.
func (s *Spool) fileFor(lsn uint64) (fileSnap, bool) {
	i := sort.Search(len(s.files), func(i int) bool { return s.files[i].first > lsn }) - 1
	if i < 0 || lsn > s.files[i].last {
		return fileSnap{}, false
	}
	return s.files[i].snap(), true
}

// locate returns the file and offset where the record with LSN lsn starts,
// or, for lsn == LastLSN()+1, where it will be written (the end of the last
// file, or a file that will start with it).
func (s *Spool) locate(lsn uint64) (file uint64, off int64, err error) {
	s.mu.Lock()
	fs, ok := s.fileFor(lsn)
	if !ok {
		active := s.files[len(s.files)-1]
		file, off = active.first, active.size
		s.mu.Unlock()
		return file, off, nil
	}
	s.mu.Unlock()
	off, err = fs.offsetOf(lsn)
	return fs.first, off, err
}

// start returns the nearest indexed record at or before lsn.
func (fs fileSnap) start(lsn uint64) (uint64, int64) {
	i := sort.Search(len(fs.index), func(i int) bool { return fs.index[i].lsn > lsn })
	if i == 0 {
		return fs.first, headerSize
	}
	return fs.index[i-1].lsn, fs.index[i-1].off
}

// read appends the file's records from LSN from to out, within the limits,
// and reports whether a limit was reached.
func (fs fileSnap) read(out []Record, from uint64, max int, maxBytes, total int64) ([]Record, int64, bool, error) {
	lsn, off := fs.start(from)
	f, err := os.Open(fs.path)
	if err != nil {
		return nil, 0, false, fmt.Errorf("spool: read: %w", err)
	}
	defer f.Close()
	r := newFrameReader(f, off, fs.size, readBufferSize)
	var slab []byte
	for lsn <= fs.last {
		fr, err := r.next()
		if errors.Is(err, io.EOF) {
			return nil, 0, false, corrupt(fs.path, r.off, fmt.Sprintf("durable lsn %d missing", lsn))
		}
		if err != nil {
			return nil, 0, false, asCorrupt(fs.path, err)
		}
		switch {
		case fr.commit:
			_, err = r.commitFrame(fr, lsn-1)
		case lsn < from:
			err = r.skip(fr)
			lsn++
		case len(out) >= max || (maxBytes > 0 && len(out) > 0 && total+int64(fr.length) > maxBytes):
			return out, total, true, nil
		default:
			var dst, data []byte
			if n := int(fr.length); max > 1 && n < slabSize/4 {
				if cap(slab)-len(slab) < n {
					slab = make([]byte, 0, slabSize)
				}
				dst, slab = slab[len(slab):len(slab)+n:len(slab)+n], slab[:len(slab)+n]
			}
			if data, err = r.payload(fr, dst); err == nil {
				out = append(out, Record{LSN: lsn, Data: data})
				total += int64(fr.length)
				lsn++
			}
		}
		if err != nil {
			return nil, 0, false, asCorrupt(fs.path, err)
		}
	}
	full := len(out) >= max || (maxBytes > 0 && total >= maxBytes)
	return out, total, full, nil
}

// offsetOf returns the offset of the record with LSN lsn.
func (fs fileSnap) offsetOf(lsn uint64) (int64, error) {
	at, off := fs.start(lsn)
	if at == lsn {
		return off, nil
	}
	f, err := os.Open(fs.path)
	if err != nil {
		return 0, fmt.Errorf("spool: locate lsn %d: %w", lsn, err)
	}
	defer f.Close()
	r := newFrameReader(f, off, fs.size, readBufferSize)
	for {
		fr, err := r.next()
		if errors.Is(err, io.EOF) {
			return 0, corrupt(fs.path, r.off, fmt.Sprintf("durable lsn %d missing", lsn))
		}
		if err != nil {
			return 0, asCorrupt(fs.path, err)
		}
		if !fr.commit && at == lsn {
			return fr.off, nil
		}
		if err := r.skip(fr); err != nil {
			return 0, asCorrupt(fs.path, err)
		}
		if !fr.commit {
			at++
		}
	}
}
