package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/sirupsen/logrus"
)

// recover rebuilds the in-memory state from dir: the state file, the WAL
// files (verified frame by frame, torn tail truncated) and the writer's
// position. It runs before the writer goroutine starts.
func (s *Spool) recover() error {
	st, err := readState(s.dir)
	if err != nil {
		return err
	}
	s.watermark, s.intent = st.Watermark, st.Intent
	if err := removeRetired(s.dir, s.log); err != nil {
		return fmt.Errorf("spool: delete retired files: %w", err)
	}

	firsts, err := listFiles(s.dir)
	if err != nil {
		return err
	}
	// A file's records end where the next file's begin, so a file is wholly
	// below the watermark when the next one starts at or below it. Commit
	// deletes such files; a crash may have left some behind.
	var removed int
	for len(firsts) > 1 && firsts[1] <= s.watermark {
		path := filepath.Join(s.dir, fileName(firsts[0]))
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("spool: delete %s: %w", path, err)
		}
		s.log.WithField("file", path).Info("spool file below watermark deleted")
		firsts = firsts[1:]
		removed++
	}

	for i, first := range firsts {
		path := filepath.Join(s.dir, fileName(first))
		res, err := scanFile(path, first)
		if err != nil {
			return fmt.Errorf("spool: scan %s: %w", path, err)
		}
		if res.bad != nil {
			if i < len(firsts)-1 {
				return corrupt(path, res.bad.off, res.bad.reason)
			}
			if err := s.repairTail(path, first, res); err != nil {
				return err
			}
			if res.end == 0 {
				removed++
				continue // the file never got a durable header: it is gone
			}
		}
		if n := len(s.files); n > 0 && s.files[n-1].last+1 != first {
			prev := s.files[n-1]
			return corrupt(path, 0, fmt.Sprintf("first lsn %d does not follow lsn %d of %s", first, prev.last, prev.path))
		}
		s.files = append(s.files, &walFile{path: path, first: first, last: res.last, size: res.end, index: res.index})
	}
	if removed > 0 {
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}

	s.lastLSN = s.watermark - 1
	if n := len(s.files); n > 0 {
		head, tail := s.files[0], s.files[n-1]
		if s.watermark < head.first {
			return fmt.Errorf("%s starts at lsn %d but the watermark is %d: records missing: %w",
				head.path, head.first, s.watermark, ErrCorrupt)
		}
		if s.watermark > tail.last+1 {
			return fmt.Errorf("%s ends at lsn %d but the watermark is %d: records missing: %w",
				tail.path, tail.last, s.watermark, ErrCorrupt)
		}
		s.lastLSN = tail.last
	}
	if err := s.openActive(); err != nil {
		return err
	}
	s.wmFile, s.wmOff, err = s.locate(s.watermark)
	if err != nil {
		return err
	}
	s.computeLive()
	return nil
}

// repairTail handles damage found in the last file. If an intact commit
// frame of a later batch follows the damage, acknowledged records are
// damaged and recovery fails. Otherwise the damage is the one write that was
// in flight when the process died: it was never fsync'd nor acknowledged,
// and the file is truncated to its last complete batch (or removed, when
// even its header is incomplete).
func (s *Spool) repairTail(path string, first uint64, res scanResult) error {
	tail, err := readTail(path, res.end)
	if err != nil {
		return err
	}
	after := res.last + 1 // the first LSN of the batch that failed
	if res.end == 0 {
		after = first - 1 // the header is synced before any batch: every commit frame counts
	}
	if laterCommit(tail, after) {
		return corrupt(path, res.bad.off, res.bad.reason+", followed by an intact later batch")
	}
	log := s.log.WithFields(logrus.Fields{
		"file":   path,
		"offset": res.end,
		"bytes":  len(tail),
		"reason": res.bad.reason,
		"at":     res.bad.off,
	})
	if res.end == 0 {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("spool: remove torn file %s: %w", path, err)
		}
		log.Warn("torn spool file removed")
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("spool: truncate torn tail: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(res.end); err != nil {
		return fmt.Errorf("spool: truncate torn tail of %s at %d: %w", path, res.end, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("spool: fsync %s: %w", path, err)
	}
	log.WithField("last_lsn", res.last).Warn("torn spool tail truncated")
	return nil
}

// openActive opens the last file for writing, creating the first file when
// the spool holds none, and positions the writer at its end.
func (s *Spool) openActive() error {
	if len(s.files) == 0 {
		first := s.lastLSN + 1
		path := filepath.Join(s.dir, fileName(first))
		f, err := createFile(path, first)
		if err != nil {
			return err
		}
		s.files = append(s.files, &walFile{path: path, first: first, last: first - 1, size: headerSize})
		s.w.f = f
	} else {
		path := s.files[len(s.files)-1].path
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("spool: open %s: %w", path, err)
		}
		s.w.f = f
	}
	active := s.files[len(s.files)-1]
	s.w.file = active
	s.w.off = active.size
	s.w.next = active.last + 1
	s.w.lastIdx = headerSize
	if n := len(active.index); n > 0 {
		s.w.lastIdx = active.index[n-1].off
	}
	return nil
}

// createFile creates a WAL file holding only its header and makes the file
// and its directory entry durable.
func createFile(path string, first uint64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", path, err)
	}
	err = func() error {
		if _, err := f.Write(appendHeader(nil, first)); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		return syncDir(filepath.Dir(path))
	}()
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("spool: create %s: %w", path, err)
	}
	return f, nil
}

// listFiles returns the first LSNs of the WAL files in dir, in order.
func listFiles(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: list %s: %w", dir, err)
	}
	var firsts []uint64
	for _, e := range ents {
		name := e.Name()
		if filepath.Ext(name) != fileSuffix {
			continue
		}
		first, ok := parseFileName(name)
		if !ok || !e.Type().IsRegular() {
			return nil, fmt.Errorf("spool: unexpected file %s in %s", name, dir)
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	return firsts, nil
}

// syncDir makes changes to dir's entries (create, rename, remove) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("spool: sync dir %s: %w", dir, err)
	}
	return nil
}
