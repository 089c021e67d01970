package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// SegmentPrefix is where segments are in the bucket.
const SegmentPrefix = "segments/"

// Rebuild builds a fresh index in dir, which must be missing or empty, from
// the bucket alone: it lists every object under SegmentPrefix and indexes
// each one, checking every record against its hash. No catalog is needed.
// progress, when not nil, is called after each segment. A segment storage
// holds corrupt is left out and listed in RebuildInfo.Skipped.
//
// The rebuilt index has checkpoint 0: it records that it was rebuilt, when
// and from how many segments (RebuildInfo), not up to which catalog entry.
// A node that starts on it therefore re-follows the catalog from the
// beginning, re-indexing every segment once more. Indexing is idempotent
// (one document per message version, latest computed from versions, not
// arrival order), so the result is the same index; what the rebuild buys is
// an index that needs no catalog and no running cluster to produce.
func Rebuild(ctx context.Context, dir string, store archive.ObjectStore, log *logrus.Entry, progress func(done, total int)) error {
	_, err := RebuildReport(ctx, dir, store, log, progress)
	return err
}

// RebuildReport is Rebuild, returning what it recorded: how many segments
// and records, and the segments it left out.
func RebuildReport(ctx context.Context, dir string, store archive.ObjectStore, log *logrus.Entry, progress func(done, total int)) (RebuildInfo, error) {
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	existing, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return RebuildInfo{}, fmt.Errorf("rebuild: %w", err)
	}
	if len(existing) > 0 {
		return RebuildInfo{}, fmt.Errorf("rebuild into %s: %w", dir, ErrNotEmpty)
	}
	var objs []archive.ObjectInfo
	err = store.List(ctx, SegmentPrefix, func(oi archive.ObjectInfo) error {
		objs = append(objs, oi)
		return nil
	})
	if err != nil {
		return RebuildInfo{}, fmt.Errorf("rebuild: list segments: %w", err)
	}
	ix, err := Open(Config{Dir: dir}, log)
	if err != nil {
		return RebuildInfo{}, fmt.Errorf("rebuild: %w", err)
	}
	defer ix.Close()

	entries := make([]CatalogEntry, len(objs))
	for i, oi := range objs {
		entries[i] = CatalogEntry{Segment: archive.Segment{Key: oi.Key, VersionID: oi.VersionID, Size: oi.Size}}
	}
	ch, stop := prefetch(ctx, store, entries)
	defer stop()
	start := time.Now()
	done, records := 0, 0
	var skipped []SkippedSegment
	for done < len(entries) {
		run, failed := takeRun(ch, RunRecords)
		if len(run) > 0 {
			n, bad, err := ix.rebuildRun(run, log)
			if err != nil {
				return RebuildInfo{}, fmt.Errorf("rebuild: %w", err)
			}
			records += n
			skipped = append(skipped, bad...)
			for range run {
				done++
				if progress != nil {
					progress(done, len(entries))
				}
			}
		}
		if failed != nil {
			return RebuildInfo{}, fmt.Errorf("rebuild: %w", failed.err)
		}
		if len(run) == 0 {
			return RebuildInfo{}, fmt.Errorf("rebuild: %w", ctx.Err())
		}
	}
	info := RebuildInfo{At: time.Now().UTC(), Segments: len(objs), Records: records, Skipped: skipped}
	b, _ := json.Marshal(info) // times, ints and strings: cannot fail
	err = ix.meta.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyRebuilt, b) })
	if err != nil {
		return RebuildInfo{}, fmt.Errorf("rebuild: record: %w", err)
	}
	log.WithFields(logrus.Fields{"segments": len(objs), "records": records, "skipped": len(skipped), "took": time.Since(start).Round(time.Millisecond)}).
		Info("index rebuilt")
	return info, ix.Close()
}

// rebuildRun indexes a run of segments; when that fails, one at a time,
// leaving out (and returning) each that storage holds corrupt, so that one
// bad object does not stop a rebuild. The catalog still lists a skipped
// segment: the node's indexer quarantines it once the node runs again.
func (ix *Index) rebuildRun(run []fetched, log *logrus.Entry) (int, []SkippedSegment, error) {
	n, err := ix.indexRun(run)
	if err == nil || len(run) == 1 && !Quarantinable(err) {
		return n, nil, err
	}
	n = 0
	var skipped []SkippedSegment
	for _, f := range run {
		m, err := ix.indexRun([]fetched{f})
		switch {
		case err == nil:
			n += m
		case Quarantinable(err):
			skipped = append(skipped, SkippedSegment{Key: f.Segment.Key, Reason: err.Error()})
			log.WithFields(logrus.Fields{"segment": f.Segment.Key, "severity": "critical", "reason": err.Error()}).
				Error("segment left out of the rebuilt index: storage holds it corrupt")
		default:
			return n, skipped, err
		}
	}
	return n, skipped, nil
}

// Rebuilt returns how the index was rebuilt, and false when it was built
// by following the catalog.
func (ix *Index) Rebuilt() (RebuildInfo, bool, error) {
	if err := ix.enter(); err != nil {
		return RebuildInfo{}, false, err
	}
	defer ix.leave()
	var info RebuildInfo
	var found bool
	err := ix.meta.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta).Get(keyRebuilt)
		if b == nil {
			return nil
		}
		found = true
		return json.Unmarshal(b, &info)
	})
	if err != nil {
		return RebuildInfo{}, false, fmt.Errorf("index: rebuild record: %w", err)
	}
	return info, found, nil
}
