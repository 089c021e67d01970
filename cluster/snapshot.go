package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// Snapshot captures the catalog as of the last applied entry: a bbolt read
// transaction, which Persist streams without loading it into memory while
// Apply carries on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, ErrClosed
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("snapshot catalog: %w", err)
	}
	return &fsmSnapshot{tx: tx}, nil
}

// fsmSnapshot is a consistent view of the catalog database.
type fsmSnapshot struct {
	tx   *bolt.Tx
	once sync.Once
}

// Persist writes the database file as of the snapshot to sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.tx.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist catalog snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist catalog snapshot: %w", err)
	}
	return nil
}

// Release ends the read transaction.
func (s *fsmSnapshot) Release() {
	s.once.Do(func() { _ = s.tx.Rollback() })
}

// Restore replaces the catalog with a snapshot: it streams it into a
// temporary file, syncs and checks it, then swaps it in under the write
// lock, so that readers see the old catalog or the new one, never a mix.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := restorePath(f.path)
	if err := writeSynced(tmp, rc); err != nil {
		return fmt.Errorf("restore catalog: %w", err)
	}
	if err := checkCatalogFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore catalog: %w", err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db != nil {
		if err := f.db.Close(); err != nil {
			return fmt.Errorf("restore catalog: close current: %w", err)
		}
		f.db = nil
	}
	renameErr := os.Rename(tmp, f.path)
	if renameErr == nil {
		renameErr = syncDir(filepath.Dir(f.path))
	}
	// Reopen whichever file is in place now, so a failed rename leaves the
	// old catalog serving.
	db, err := openCatalogDB(f.path)
	if err != nil {
		return fmt.Errorf("restore catalog: %w", errors.Join(renameErr, err))
	}
	f.db = db
	if renameErr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore catalog: %w", renameErr)
	}
	if err := f.loadMeta(); err != nil {
		return fmt.Errorf("restore catalog: %w", err)
	}
	f.log.WithField("applied_index", f.applied.Load()).
		WithField("last_seq", f.lastSeq.Load()).Info("catalog restored from snapshot")
	f.notifyApplied()
	f.notify(false)
	return nil
}

// restorePath is where Restore stages a snapshot before swapping it in.
func restorePath(path string) string { return path + ".restore" }

// writeSynced copies r into a new file at path and fsyncs it.
func writeSynced(path string, r io.Reader) error {
	file, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(file, r)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// checkCatalogFile opens a would-be catalog and checks its layout.
func checkCatalogFile(path string) error {
	db, err := bolt.Open(path, 0o600, catalogOptions())
	if err != nil {
		return fmt.Errorf("snapshot is not a catalog: %w", err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		for _, name := range coreBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("snapshot is not a catalog: no %s bucket", name)
			}
		}
		return checkFormat(tx, false)
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// catalogNeedsSnapshot decides at startup whether raft must restore its
// latest snapshot into the catalog (Config.NoSnapshotRestoreOnStart off).
//
// Normally it must not: fsm.db is durable and at least as new as any
// snapshot taken from it, and restoring would copy the whole catalog only
// to replay the same entries again. It must when the catalog is behind the
// snapshot (fsm.db lost or replaced by an older copy): raft resumes applying
// after the snapshot index, so entries up to it would be missing for good.
// The catalog's applied index may trail the snapshot index harmlessly when
// only no-op or barrier entries, which never reach the FSM, lie between
// them; anything else, or a gap we cannot inspect, means restore.
//
// A catalog ahead of all raft state belongs to some other raft history
// (raft.db deleted, files mixed up): that is an error, since applying this
// log onto it would skip entries by index.
func catalogNeedsSnapshot(applied uint64, logs raft.LogStore, snaps raft.SnapshotStore) (bool, error) {
	lastLog, err := logs.LastIndex()
	if err != nil {
		return false, fmt.Errorf("read raft log: %w", err)
	}
	metas, err := snaps.List()
	if err != nil {
		return false, fmt.Errorf("list snapshots: %w", err)
	}
	var snapIndex uint64
	if len(metas) > 0 {
		snapIndex = metas[0].Index // newest first
	}
	if applied > max(lastLog, snapIndex) {
		return false, fmt.Errorf("catalog is at raft index %d but the raft state ends at %d: "+
			"%s does not belong to this raft log", applied, max(lastLog, snapIndex), fsmFile)
	}
	if applied >= snapIndex {
		return false, nil
	}
	if snapIndex-applied > maxNoopGap {
		return true, nil
	}
	for i := applied + 1; i <= snapIndex; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			return true, nil // compacted away: cannot prove nothing is missing
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return true, nil
		}
	}
	return false, nil
}

// maxNoopGap bounds the entries catalogNeedsSnapshot inspects: more than a
// handful of consecutive no-ops (one per election) is not a healthy gap.
const maxNoopGap = 64
