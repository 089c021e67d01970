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
	// QuarantineAfter is how many attempts in a row must find a segment
	// corrupt or missing before a Follower quarantines it: reading it
	// again rules out a transfer that went wrong.
	QuarantineAfter = 3
)

// Quarantiner records, for every node to see, that this node cannot index
// a segment. A Follower with one quarantines a segment that is corrupt in
// storage and indexes on past it; without one it retries it for ever.
// *cluster.Node satisfies it.
type Quarantiner interface {
	// ID names this node.
	ID() string
	// QuarantineSegment records that this node cannot index segment key,
	// and why; it returns once the record is replicated.
	QuarantineSegment(ctx context.Context, key, reason string) error
	// IsQuarantined reports whether this node has key quarantined, and
	// ClearQuarantine removes that record once the segment is indexed
	// after all (after a repair, or a reindex).
	IsQuarantined(key string) bool
	ClearQuarantine(ctx context.Context, key string) error
}

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
	// Quarantined counts the segments quarantined since NewFollower.
	Quarantined uint64
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
// reported (an error log naming its key, Failures, LastError). Only a
// segment that storage verifiably holds corrupt (its bytes do not match
// the catalogued hash, a record cannot be decoded) or has lost is skipped,
// after QuarantineAfter attempts, and only once the Quarantiner has
// recorded it (see SetQuarantiner); any other failure (a timeout, a 503, a
// full disk) is retried until it succeeds, so the checkpoint never passes
// a segment that could still be read.
type Follower struct {
	ix    *Index
	cat   Catalog
	store archive.ObjectStore
	log   *logrus.Entry
	q     Quarantiner

	mu      sync.Mutex
	cancel  context.CancelFunc
	closed  bool
	lastErr string
	wg      sync.WaitGroup

	indexed     atomic.Uint64
	failures    atomic.Uint64
	quarantined atomic.Uint64
}

// NewFollower returns a Follower of cat into ix, reading segments from
// store. Start starts it.
func NewFollower(ix *Index, cat Catalog, store archive.ObjectStore, log *logrus.Entry) *Follower {
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	return &Follower{ix: ix, cat: cat, store: store, log: log}
}

// SetQuarantiner makes the Follower quarantine corrupt segments through q
// instead of retrying them for ever. Call it before Start.
func (f *Follower) SetQuarantiner(q Quarantiner) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.q = q
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
// RunRecords). A segment that fails is retried alone until it succeeds or
// is quarantined; catchUp then returns true so that the catalog is read again from the
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
				f.unquarantine(ctx, run...)
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

// follow indexes one segment, retrying with backoff until it succeeds or
// is quarantined; false when stopped first. s.data, when set, is used for
// the first attempt; err, when set, is the failure of a first attempt
// already made.
func (f *Follower) follow(ctx context.Context, s fetched, err error) bool {
	bad := 0 // attempts in a row that found the segment corrupt or missing
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
				f.unquarantine(ctx, s)
				return true
			}
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return false
		}
		if f.superseded(s) {
			// Expired by a sweep, or repaired, since it was listed: the
			// catalog lists it again (or its tombstone) further on.
			f.log.WithFields(logrus.Fields{"segment": s.Segment.Key, "seq": s.Seq}).WithError(err).
				Info("segment no longer at this catalog position; going on")
			if err := f.ix.skip(s.Seq); err == nil {
				f.clearErr() // not retrying it any more
				return true
			}
		}
		f.failed(err)
		if bad++; !Quarantinable(err) {
			bad = 0
		}
		if q := f.quarantiner(); q != nil && bad >= QuarantineAfter {
			return f.quarantine(ctx, q, s, err)
		}
		f.log.WithFields(logrus.Fields{"segment": s.Segment.Key, "seq": s.Seq, "attempt": attempt + 1}).
			WithError(err).Error("cannot index segment; retrying")
		if !sleep(ctx, backoff(attempt)) {
			return false
		}
		s.data, err = nil, nil
	}
}

// superseded reports whether the catalog no longer lists s at s.Seq.
func (f *Follower) superseded(s fetched) bool {
	if s.Seq == 0 {
		return false
	}
	entries, err := f.cat.SegmentsAfter(s.Seq-1, 1)
	if err != nil {
		return false
	}
	return len(entries) == 0 || entries[0].Seq != s.Seq || entries[0].Segment.Key != s.Segment.Key
}

// Quarantinable reports whether err, from reading or indexing a segment,
// says that storage holds it corrupt (archive.ErrCorrupt: a hash mismatch,
// an undecodable record) or has lost it (archive.ErrNotFound). Reading it
// again gives the same answer, unlike a timeout or an unavailable storage,
// which are retried.
func Quarantinable(err error) bool {
	return errors.Is(err, archive.ErrCorrupt) || errors.Is(err, archive.ErrNotFound)
}

func (f *Follower) quarantiner() Quarantiner {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.q
}

// quarantine records segment s quarantined for cause, then moves the
// checkpoint past it. Both are retried until they succeed: a segment is
// skipped only once every node can see that it was. False when stopped
// first.
func (f *Follower) quarantine(ctx context.Context, q Quarantiner, s fetched, cause error) bool {
	log := f.log.WithFields(logrus.Fields{"segment": s.Segment.Key, "seq": s.Seq, "node": q.ID()})
	for attempt := 0; ; attempt++ {
		err := q.QuarantineSegment(ctx, s.Segment.Key, cause.Error())
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		log.WithError(err).Warn("cannot record the quarantine of a corrupt segment yet; retrying")
		if !sleep(ctx, backoff(attempt)) {
			return false
		}
	}
	f.quarantined.Add(1)
	f.clearErr()
	log.WithFields(logrus.Fields{"severity": "critical", "reason": cause.Error()}).
		Error("segment quarantined: storage holds it corrupt or has lost it; indexing goes on past it, its records are not searchable on this node until it is repaired (holdfast repair)")
	for attempt := 0; ; attempt++ {
		err := f.ix.skip(s.Seq)
		if err == nil {
			return true
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return false
		}
		f.failed(err)
		log.WithError(err).Error("cannot move the checkpoint past a quarantined segment; retrying")
		if !sleep(ctx, backoff(attempt)) {
			return false
		}
	}
}

// unquarantine clears this node's quarantine of segments it has now
// indexed. A failure is logged and left: a repair clears it too.
func (f *Follower) unquarantine(ctx context.Context, segs ...fetched) {
	q := f.quarantiner()
	if q == nil {
		return
	}
	for _, s := range segs {
		if !q.IsQuarantined(s.Segment.Key) {
			continue
		}
		log := f.log.WithFields(logrus.Fields{"segment": s.Segment.Key, "seq": s.Seq, "node": q.ID()})
		if err := q.ClearQuarantine(ctx, s.Segment.Key); err != nil {
			log.WithError(err).Warn("a quarantined segment is indexed now, but its quarantine cannot be cleared")
			continue
		}
		log.Info("a quarantined segment is indexed now; its quarantine is cleared")
	}
}

func (f *Follower) succeeded(segments int) {
	f.indexed.Add(uint64(segments))
	f.clearErr()
}

// clearErr forgets the error of the segment retried: it is indexed,
// quarantined or no longer listed.
func (f *Follower) clearErr() {
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
	s := FollowerStats{Checkpoint: f.ix.Checkpoint(), Indexed: f.indexed.Load(), Failures: f.failures.Load(),
		Quarantined: f.quarantined.Load()}
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
