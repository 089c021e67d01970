package index

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/holdfast/holdfast/archive"
)

// RunRecords is about how many records the Follower and Rebuild index as
// one unit when segments are waiting: batches then fill across segment
// boundaries (a segment's records may spread over several months), and
// the checkpoint is committed once per run instead of once per segment.
const RunRecords = 10 * DefaultBatchSize

// fetchAhead is how many segments are fetched ahead of the indexer: the
// most a run holds beyond its first, and the segments held in memory.
const fetchAhead = 8

// fetchResult is one fetched segment, or the error that stopped fetching.
type fetchResult struct {
	fetched
	err error
}

// prefetch fetches entries in order in a goroutine, fetchAhead ahead of
// the reader, and stops after the first error (which it sends). stop
// cancels it and waits for the goroutine.
func prefetch(ctx context.Context, store archive.ObjectStore, entries []CatalogEntry) (<-chan fetchResult, func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan fetchResult, fetchAhead)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ch)
		for _, e := range entries {
			data, err := fetch(ctx, store, e.Segment.Key, e.Segment.Size)
			if err == nil && e.Segment.Count == 0 {
				// Listed, not catalogued: the manifest tells the count.
				if man, merr := archive.SegmentManifest(data); merr == nil {
					e.Segment.Count = len(man.Records)
				}
			}
			select {
			case ch <- fetchResult{fetched{e, data}, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	return ch, func() { cancel(); wg.Wait() }
}

// takeRun reads fetched segments from ch until they hold limit records or
// ch is drained of what is ready, waiting only for the first one. It
// returns them, and the entry whose fetch failed with its error, if that
// is what ended the run.
func takeRun(ch <-chan fetchResult, limit int) ([]fetched, *fetchResult) {
	var run []fetched
	records := 0
	for records < limit {
		var r fetchResult
		var ok bool
		if len(run) == 0 {
			r, ok = <-ch
		} else {
			select {
			case r, ok = <-ch:
			default:
				return run, nil // index what is here rather than wait
			}
		}
		if !ok {
			return run, nil
		}
		if r.err != nil {
			return run, &r
		}
		run = append(run, r.fetched)
		records += max(r.Segment.Count, 1)
	}
	return run, nil
}

// fetch reads the whole object key; size, when known, sizes the buffer.
func fetch(ctx context.Context, store archive.ObjectStore, key string, size int64) ([]byte, error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get segment %s: %w", key, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size))
	}
	if _, err := io.Copy(&buf, rc); err != nil {
		return nil, fmt.Errorf("read segment %s: %w", key, err)
	}
	return buf.Bytes(), nil
}
