package spool

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/internal/fsutil"
)

// A WAL file wholly below the watermark is dead. Commit renames it with
// reclaimSuffix, so that no Read opens it any more, and hands it to the
// reclaimer goroutine, which waits reclaimGrace (a Read that opened it just
// before finishes) and then removes it with fsutil.Reclaim: shrunk step by
// step, so that freeing its blocks does not stall the writer's fsyncs, for
// which every ingest acknowledgement waits. Open removes dead files that a
// stop left behind.
const (
	reclaimSuffix = ".reclaim"
	reclaimGrace  = time.Second
	// reclaimQueue bounds the dead files waiting; Commit waits when it is
	// full.
	reclaimQueue = 64
)

type deadFile struct {
	path string
	at   time.Time // when Commit dropped it
}

// runReclaim is the reclaimer goroutine; it returns when s.reclaimCtx ends.
func (s *Spool) runReclaim() {
	defer s.wg.Done()
	ctx := s.reclaimCtx
	for {
		select {
		case d := <-s.reclaim:
			select {
			case <-time.After(time.Until(d.at.Add(reclaimGrace))):
			case <-ctx.Done():
				return
			}
			log := s.log.WithField("file", d.path)
			if err := fsutil.Reclaim(ctx, d.path); err != nil {
				if ctx.Err() == nil {
					log.WithError(err).Error("spool file delete failed")
				}
				continue
			}
			log.Debug("spool file deleted")
		case <-ctx.Done():
			return
		}
	}
}

// retire renames dead files out of the WAL and queues them for the
// reclaimer. The watermark is already durable: a file whose rename is lost
// in a crash is below it and deleted by the next Open.
func (s *Spool) retire(dead []*walFile) {
	for _, f := range dead {
		path := f.path + reclaimSuffix
		if err := os.Rename(f.path, path); err != nil {
			s.log.WithError(err).WithField("file", f.path).Error("spool file delete failed")
			continue
		}
		select {
		case s.reclaim <- deadFile{path: path, at: time.Now()}:
		case <-s.reclaimCtx.Done():
			return
		}
	}
}

// removeRetired deletes the dead files a previous run left in dir.
func removeRetired(dir string, log *logrus.Entry) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), reclaimSuffix) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		log.WithField("file", path).Info("spool file below watermark deleted")
	}
	return nil
}
