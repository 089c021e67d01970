package index

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/blevesearch/bleve/v2"
	"github.com/sirupsen/logrus"
)

// ExpireSegments removes every document of segments that a retention sweep
// deleted from storage (the catalog's tombstones) and then records seq as
// the checkpoint. A month partition whose documents all come from these
// segments is dropped whole, far faster than deleting its documents one by
// one; the others lose the segments' documents (DeleteSegment). It returns
// the documents removed. Like DeleteSegment it is idempotent and safe to
// retry after a crash.
func (ix *Index) ExpireSegments(seq uint64, keys []string) (int, error) {
	dropped, err := ix.dropWholePartitions(keys)
	if err != nil {
		return 0, err
	}
	n := dropped
	for _, key := range keys {
		c, err := ix.DeleteSegment(key)
		if err != nil {
			return n, err
		}
		n += c
	}
	if err := ix.enter(); err != nil {
		return n, err
	}
	defer ix.leave()
	if err := commitVersions(ix.meta, nil, seq); err != nil {
		return n, fmt.Errorf("expire segments: checkpoint %d: %w", seq, err)
	}
	ix.setCheckpoint(seq)
	return n, nil
}

// dropWholePartitions drops every partition all of whose documents belong
// to keys, and returns how many documents went with them.
func (ix *Index) dropWholePartitions(keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	type whole struct {
		month string
		docs  uint64
	}
	var drop []whole
	err := func() error {
		if err := ix.enter(); err != nil {
			return err
		}
		defer ix.leave()
		q := anyOf(fieldSegment, keys)
		for _, p := range ix.partitionsIn(math.MinInt, math.MaxInt) {
			idx, err := p.open(ix.mapping)
			if errors.Is(err, errDropped) {
				continue
			}
			if err != nil {
				return err
			}
			total, err := idx.DocCount()
			if err != nil {
				return err
			}
			if total == 0 {
				continue
			}
			req := bleve.NewSearchRequestOptions(q, 0, 0, false)
			req.Score = bleve.ScoreNone
			res, err := idx.SearchInContext(context.Background(), req)
			if err != nil {
				return err
			}
			if res.Total == total {
				drop = append(drop, whole{monthName(p.month), total})
			}
		}
		return nil
	}()
	if err != nil {
		return 0, fmt.Errorf("expire segments: %w", err)
	}
	n := 0
	for _, w := range drop {
		if err := ix.DropPartition(w.month); err != nil {
			return n, fmt.Errorf("expire segments: %w", err)
		}
		n += int(w.docs)
		ix.log.WithFields(logrus.Fields{"month": w.month, "docs": w.docs}).Info("every document of the partition expired: dropped it whole")
	}
	return n, nil
}

// step handles one page of catalog entries, less those at or below the
// checkpoint: a run of live segments is indexed (catchUp), a run of
// tombstones expired. It returns false when
// stopped. The caller reads the catalog again from the checkpoint.
func (f *Follower) step(ctx context.Context, entries []CatalogEntry) bool {
	cp := f.ix.Checkpoint()
	for len(entries) > 0 && entries[0].Seq <= cp {
		entries = entries[1:]
	}
	if len(entries) == 0 {
		return true
	}
	i := 0
	for i < len(entries) && entries[i].Segment.Expired == entries[0].Segment.Expired {
		i++
	}
	run := entries[:i]
	if !run[0].Segment.Expired {
		return f.catchUp(ctx, run)
	}
	keys := make([]string, len(run))
	for j, e := range run {
		keys[j] = e.Segment.Key
	}
	for attempt := 0; ; attempt++ {
		n, err := f.ix.ExpireSegments(run[len(run)-1].Seq, keys)
		if err == nil {
			f.succeeded(len(run))
			f.log.WithFields(logrus.Fields{"segments": len(run), "docs": n, "seq": run[len(run)-1].Seq}).Info("expired segments removed from the index")
			return true
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return false
		}
		f.failed(err)
		f.log.WithError(err).WithField("segments", len(run)).Error("cannot remove expired segments from the index; retrying")
		if !sleep(ctx, backoff(attempt)) {
			return false
		}
	}
}
