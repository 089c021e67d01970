package index

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
)

// Follower tuning.
const (
	// FollowPage is how many catalog entries a Follower asks for at once.
	FollowPage = 100
	// MinRetry and MaxRetry bound the backoff between attempts at a
	// segment that cannot be read or indexed.
	MinRetry = 200 * time.Millisecond
	MaxRetry = 30 * time.Second
)

// CatalogEntry is one sealed segment and its catalog sequence number. It
// is archive's type, so that the cluster's catalog satisfies Catalog
// without either package importing the other.
type CatalogEntry = archive.CatalogEntry

// Catalog is what a Follower needs from the cluster's catalog.
// SegmentsAfter returns up to limit entries with Seq > seq in Seq order.
// Changed returns a channel closed at the next change; a Follower takes it
// before reading, so it misses nothing. A Catalog that also has
// LastSeq() uint64 lets FollowerStats report the lag.
type Catalog interface {
	SegmentsAfter(seq uint64, limit int) ([]CatalogEntry, error)
	Changed() <-chan struct{}
}

// FollowerStats describe a Follower's progress.
type FollowerStats struct {
	// Checkpoint is the index's checkpoint.
	Checkpoint uint64
	// Indexed counts the segments indexed since NewFollower.
	Indexed uint64
	// Failures counts failed attempts: reading the catalog, or fetching
	// or indexing a segment. Each is retried.
	Failures uint64
	// LastError is the error of the segment the Follower is retrying, ""
	// when it is not stuck.
	LastError string
	// Lag is how many catalog entries are not indexed yet; 0 when the
	// catalog cannot say.
	Lag uint64
}

// Follower keeps an Index up to date with the catalog: from the index's
// checkpoint, it fetches every new segment from storage and indexes it, in
// catalog order. When several segments are waiting (catching up after a
// restart or a rebuild) it fetches ahead and indexes them in runs of about
// RunRecords records, committing the checkpoint once per run. A segment
// that cannot be read or indexed is retried alone with backoff and
// reported (an error log naming its key, Failures, LastError); it is never
// skipped, so the checkpoint never passes it.
type Follower struct {
	ix    *Index
	cat   Catalog
	store archive.ObjectStore
	log   *logrus.Entry

	mu      sync.Mutex
	cancel  context.CancelFunc
	closed  bool
	lastErr string
	wg      sync.WaitGroup

	indexed  atomic.Uint64
	failures atomic.Uint64
}

// NewFollower returns a Follower of cat into ix, reading segments from
// store. Start starts it.
func NewFollower(ix *Index, cat Catalog, store archive.ObjectStore, log *logrus.Entry) *Follower {
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	return &Follower{ix: ix, cat: cat, store: store, log: log}
}

// Start starts following in a goroutine the Follower owns, until ctx is
// done or Close is called. Starting twice, or after Close, does nothing.
func (f *Follower) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil || f.closed {
		return
	}
	ctx, f.cancel = context.WithCancel(ctx)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.run(ctx)
	}()
}

// Close stops the Follower and waits for its goroutine. It is idempotent
// and does not close the Index.
func (f *Follower) Close() {
	f.mu.Lock()
	f.closed = true
	cancel := f.cancel
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	f.wg.Wait()
}

func (f *Follower) run(ctx context.Context) {
	f.log.WithField("checkpoint", f.ix.Checkpoint()).Info("following the catalog")
	for attempt := 0; ctx.Err() == nil; {
		changed := f.cat.Changed()
		entries, err := f.cat.SegmentsAfter(f.ix.Checkpoint(), FollowPage)
		if err != nil {
			f.failed(err)
			f.log.WithError(err).Error("cannot read the catalog; retrying")
			if !sleep(ctx, backoff(attempt)) {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		if len(entries) == 0 {
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
			continue
		}
		if !f.step(ctx, entries) {
			return
		}
	}
}

// catchUp indexes entries in runs of the segments fetched so far (see
// RunRecords). A segment that fails is retried alone until it succeeds;
// catchUp then returns true so that the catalog is read again from the
// checkpoint. It returns false when stopped.
func (f *Follower) catchUp(ctx context.Context, entries []CatalogEntry) bool {
	ch, stop := prefetch(ctx, f.store, entries)
	defer stop()
	for {
		run, failed := takeRun(ch, RunRecords)
		if len(run) == 0 && failed == nil {
			return ctx.Err() == nil
		}
		if len(run) > 0 {
			_, err := f.ix.indexRun(run)
			switch {
			case err == nil:
				f.succeeded(len(run))
			case ctx.Err() != nil || errors.Is(err, ErrClosed):
				return false
			default:
				// One at a time: the good ones are indexed and the bad
				// one is retried and reported.
				for _, r := range run {
					if !f.follow(ctx, r, nil) {
						return false
					}
				}
			}
		}
		if failed != nil {
			return f.follow(ctx, failed.fetched, failed.err)
		}
	}
}

// follow indexes one segment, retrying with backoff until it succeeds;
// false when stopped first. s.data, when set, is used for the first
// attempt; err, when set, is the failure of a first attempt already made.
func (f *Follower) follow(ctx context.Context, s fetched, err error) bool {
	for attempt := 0; ; attempt++ {
		if err == nil {
			if s.data == nil {
				s.data, err = fetch(ctx, f.store, s.Segment.Key, s.Segment.Size)
			}
			if err == nil {
				_, err = f.ix.indexRun([]fetched{s})
			}
			if err == nil {
				f.succeeded(1)
				return true
			}
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return false
		}
		f.failed(err)
		f.log.WithFields(logrus.Fields{"segment": s.Segment.Key, "seq": s.Seq, "attempt": attempt + 1}).
			WithError(err).Error("cannot index segment; retrying")
		if !sleep(ctx, backoff(attempt)) {
			return false
		}
		s.data, err = nil, nil
	}
}

func (f *Follower) succeeded(segments int) {
	f.indexed.Add(uint64(segments))
	f.mu.Lock()
	f.lastErr = ""
	f.mu.Unlock()
}

func (f *Follower) failed(err error) {
	f.failures.Add(1)
	f.mu.Lock()
	f.lastErr = err.Error()
	f.mu.Unlock()
}

// Stats returns the Follower's progress.
func (f *Follower) Stats() FollowerStats {
	s := FollowerStats{Checkpoint: f.ix.Checkpoint(), Indexed: f.indexed.Load(), Failures: f.failures.Load()}
	f.mu.Lock()
	s.LastError = f.lastErr
	f.mu.Unlock()
	if c, ok := f.cat.(interface{ LastSeq() uint64 }); ok {
		if last := c.LastSeq(); last > s.Checkpoint {
			s.Lag = last - s.Checkpoint
		}
	}
	return s
}

// WaitIndexed returns once the index's checkpoint is at least seq, or with
// ctx's error, or ErrClosed when the index closes first.
func (f *Follower) WaitIndexed(ctx context.Context, seq uint64) error {
	for {
		changed := f.ix.checkpointChanged()
		if f.ix.Checkpoint() >= seq {
			return nil
		}
		select {
		case <-changed:
		case <-f.ix.closing:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// backoff is the wait before retry attempt+1: doubling from MinRetry up
// to MaxRetry.
func backoff(attempt int) time.Duration {
	d := MinRetry
	for i := 0; i < attempt && d < MaxRetry; i++ {
		d *= 2
	}
	return min(d, MaxRetry)
}

// sleep waits d; false when ctx is done first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
