package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// indexEntry is one point of a file's sparse offset index: the record with
// LSN lsn starts at offset off.
type indexEntry struct {
	lsn uint64
	off int64
}

// scanResult is what a full verification of one WAL file found.
type scanResult struct {
	last  uint64       // last LSN of the last complete batch (first-1 if none)
	end   int64        // offset just past that batch's commit frame
	index []indexEntry // sparse index of the complete batches
	bad   *frameError  // first damaged or incomplete frame after end; nil if the file ends cleanly
}

// scanFile verifies every frame of the file at path, whose first LSN is
// first, and stops at the first frame that cannot be read. I/O errors are
// returned as errors; damage is reported in scanResult.bad.
func scanFile(path string, first uint64) (scanResult, error) {
	res := scanResult{last: first - 1, end: 0}
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return res, err
	}
	size := st.Size()
	hdr := make([]byte, headerSize)
	if _, err := f.ReadAt(hdr, 0); err != nil && !errors.Is(err, io.EOF) {
		return res, err
	}
	if reason := checkHeader(hdr[:min(size, headerSize)], first); reason != "" {
		res.bad = &frameError{0, reason}
		return res, nil
	}
	res.end = headerSize

	r := newFrameReader(f, headerSize, size, 1<<20)
	var (
		lsn     = first             // LSN of the next record
		pending []indexEntry        // index entries of the open batch
		lastIdx = int64(headerSize) // offset of the last index entry
	)
	for {
		fr, err := r.next()
		if errors.Is(err, io.EOF) {
			if lsn != res.last+1 {
				res.bad = &frameError{res.end, "batch without commit frame"}
			}
			return res, nil
		}
		if err == nil {
			if fr.commit {
				if lsn == res.last+1 {
					err = &frameError{fr.off, "commit frame without records"}
				} else if _, err = r.commitFrame(fr, lsn-1); err == nil {
					res.last, res.end = lsn-1, r.off
					res.index = append(res.index, pending...)
					pending = pending[:0]
					continue
				}
			} else if _, err = r.scratch(fr); err == nil {
				if fr.off-lastIdx >= indexInterval {
					pending = append(pending, indexEntry{lsn, fr.off})
					lastIdx = fr.off
				}
				lsn++
				continue
			}
		}
		var fe *frameError
		if errors.As(err, &fe) {
			res.bad = fe
			return res, nil
		}
		return res, err
	}
}

// laterCommit reports whether tail holds an intact commit frame for a batch
// that starts after LSN after. The writer starts a batch only once the
// previous one is fsync'd, so such a frame proves that everything before it
// was acknowledged: damage there is corruption, not a torn write. The search
// is by byte pattern, so it works even when the damage broke the framing.
func laterCommit(tail []byte, after uint64) bool {
	var word [4]byte
	binary.LittleEndian.PutUint32(word[:], commitWord)
	for i := 0; ; {
		j := bytes.Index(tail[i:], word[:])
		if j < 0 {
			return false
		}
		p := i + j
		if p+commitFrameSize <= len(tail) {
			sum := binary.LittleEndian.Uint32(tail[p+4 : p+8])
			if first, _, ok := parseCommit(tail[p+8:p+commitFrameSize], sum); ok && first > after {
				return true
			}
		}
		i = p + 1
	}
}

// readTail returns the bytes of path from off to the end.
func readTail(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if off >= st.Size() {
		return nil, nil
	}
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("read tail of %s: %w", path, err)
	}
	return b, nil
}
