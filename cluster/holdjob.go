package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
)

// SegmentMatcher finds the stored message versions a hold's criteria
// match: the search index, which this package does not import.
type SegmentMatcher interface {
	// MatchSegments returns, for every segment holding a message version
	// that matches c, the number of such versions. keys, when not nil,
	// limits the search to those segments.
	MatchSegments(ctx context.Context, c archive.HoldCriteria, keys []string) (map[string]int, error)
	// Indexed is the catalog seq through which every segment is
	// searchable.
	Indexed() uint64
}

// Retention is what the leader's retention jobs need.
type Retention struct {
	Store   archive.ObjectStore
	Matcher SegmentMatcher
	// SweepEvery is the schedule of sweeps; 0 runs none on a schedule
	// (sweeps started through StartSweep still run).
	SweepEvery time.Duration
	// HoldWait bounds how long a sweep waits for every active hold to be
	// checked against the catalog before it gives up, deleting nothing.
	HoldWait time.Duration
	// Poll is how often the hold job looks for work besides catalog
	// changes; 0 is one second.
	Poll time.Duration
	// Report, when set, puts a finished sweep's report in the audit
	// trail; the leader calls it until it succeeds, once per sweep.
	Report func(ctx context.Context, s Sweep) error
	Log    *logrus.Entry
	// AuditUntil is the least retain-until of an audit record made at t
	// (audit.retain, and the longest retention in force for any message).
	// Whatever retain-until the catalog records, a sweep never deletes a
	// segment of tenant archive.ReservedTenant before AuditUntil of its
	// latest record; nil keeps every audit segment.
	AuditUntil func(t time.Time) (time.Time, error)
}

// Defaults of Retention.
const (
	DefaultHoldWait = 5 * time.Minute
	defaultPoll     = time.Second
	// coverChunk bounds the segments of one hold_covered or hold_unheld
	// command and of one MatchSegments call limited to keys.
	coverChunk = 256
)

// RunRetention registers the leader's retention jobs: the hold job, which
// sets legal hold on every segment an active hold covers and lifts it when
// a hold is released, and the sweeper (see sweeper.go).
func (n *Node) RunRetention(r Retention) {
	if r.HoldWait == 0 {
		r.HoldWait = DefaultHoldWait
	}
	if r.Poll == 0 {
		r.Poll = defaultPoll
	}
	if r.Log == nil {
		r.Log = n.log
	}
	n.RunWhileLeader("legal-holds", func(ctx context.Context) { n.holdJob(ctx, &r) })
	n.RunWhileLeader("retention-sweep", func(ctx context.Context) { n.sweepJob(ctx, &r) })
}

// holdJob applies and releases holds until ctx ends. Placement and release
// run in this one goroutine, so that a release never turns off a legal
// hold that a placement has just turned on without recording it yet.
func (n *Node) holdJob(ctx context.Context, r *Retention) {
	log := r.Log.WithField("job", "legal-holds")
	for {
		changed := n.fsm.changes()
		if err := n.holdPass(ctx, r, log); err != nil && ctx.Err() == nil {
			log.WithError(err).Error("legal hold pass failed; retrying")
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(r.Poll):
		}
	}
}

// holdPass brings every hold up to date once.
func (n *Node) holdPass(ctx context.Context, r *Retention, log *logrus.Entry) error {
	holds, err := n.Holds()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range holds {
		switch h.State {
		case archive.HoldActive:
			errs = append(errs, n.coverHold(ctx, r, h, log))
		case archive.HoldReleasing:
			errs = append(errs, n.releaseSegments(ctx, r, h, log))
		}
	}
	return errors.Join(errs...)
}

// coverHold checks the segments catalogued since h.CoveredSeq against its
// criteria (all of them the first time), turns legal hold on for those
// that match, and records them.
func (n *Node) coverHold(ctx context.Context, r *Retention, h archive.Hold, log *logrus.Entry) error {
	target := min(n.LastSeq(), r.Matcher.Indexed())
	if h.CoveredSeq >= target {
		return nil
	}
	var found map[string]int
	var err error
	if h.CoveredSeq == 0 {
		found, err = r.Matcher.MatchSegments(ctx, h.Criteria, nil)
	} else {
		found, err = n.matchNew(ctx, r, h, target)
	}
	if err != nil {
		return fmt.Errorf("hold %s: match segments: %w", h.ID, err)
	}
	keys := slices.Sorted(maps.Keys(found))
	// One command per chunk of segments, the last (or the only one, when
	// nothing matched) recording how far the check went.
	parts := slices.Collect(slices.Chunk(keys, coverChunk))
	if len(parts) == 0 {
		parts = [][]string{nil}
	}
	for i, chunk := range parts {
		cov := make(map[string]int, len(chunk))
		for _, key := range chunk {
			if err := n.setLegalHold(ctx, r.Store, key, true); err != nil {
				return fmt.Errorf("hold %s: %w", h.ID, err)
			}
			cov[key] = found[key]
		}
		c := Command{Op: OpHoldCovered, commandBody: commandBody{HoldID: h.ID, Coverage: cov, At: n.cfg.now().UTC()}}
		if i == len(parts)-1 {
			c.CoveredSeq = target
		}
		if err := n.apply(ctx, c); err != nil {
			return fmt.Errorf("hold %s: record coverage: %w", h.ID, err)
		}
	}
	log.WithFields(logrus.Fields{"hold": h.ID, "matter": h.Matter, "segments": len(keys), "through_seq": target}).Info("legal hold applied")
	return nil
}

// matchNew matches h against the live segments catalogued in
// (h.CoveredSeq, target].
func (n *Node) matchNew(ctx context.Context, r *Retention, h archive.Hold, target uint64) (map[string]int, error) {
	found := map[string]int{}
	for after := h.CoveredSeq; after < target; {
		entries, err := n.SegmentsAfter(after, coverChunk)
		if err != nil || len(entries) == 0 {
			return found, err
		}
		var keys []string
		for _, e := range entries {
			if e.Seq > target {
				break
			}
			after = e.Seq
			if !e.Segment.Expired {
				keys = append(keys, e.Segment.Key)
			}
		}
		if len(keys) > 0 {
			m, err := r.Matcher.MatchSegments(ctx, h.Criteria, keys)
			if err != nil {
				return nil, err
			}
			maps.Copy(found, m)
		}
		if entries[len(entries)-1].Seq > target {
			break
		}
	}
	return found, nil
}

// releaseSegments lifts the legal hold of every segment a releasing hold
// covers that no other hold covers, and records each as done.
func (n *Node) releaseSegments(ctx context.Context, r *Retention, h archive.Hold, log *logrus.Entry) error {
	lifted := 0
	for {
		segs, err := n.HoldSegments(h.ID, "", coverChunk)
		if err != nil {
			return err
		}
		if len(segs) == 0 {
			break
		}
		keys := make([]string, len(segs))
		for i, s := range segs {
			keys[i] = s.Key
			others, err := n.HeldBy(s.Key)
			if err != nil {
				return err
			}
			if slices.ContainsFunc(others, func(id string) bool { return id != h.ID }) {
				continue // another hold still needs it
			}
			if err := n.setLegalHold(ctx, r.Store, s.Key, false); err != nil {
				return fmt.Errorf("release hold %s: %w", h.ID, err)
			}
			lifted++
		}
		if err := n.apply(ctx, Command{Op: OpHoldUnheld, commandBody: commandBody{HoldID: h.ID, Keys: keys, At: n.cfg.now().UTC()}}); err != nil {
			return fmt.Errorf("release hold %s: record: %w", h.ID, err)
		}
	}
	log.WithFields(logrus.Fields{"hold": h.ID, "matter": h.Matter, "lifted": lifted}).Info("legal hold released")
	return nil
}

// setLegalHold turns the legal hold of the segment's catalogued version on
// or off. A segment already gone from storage needs neither.
func (n *Node) setLegalHold(ctx context.Context, store archive.ObjectStore, key string, on bool) error {
	seg, ok, err := n.Segment(key)
	if err != nil {
		return err
	}
	if !ok || seg.Expired {
		return nil
	}
	err = store.SetLegalHold(ctx, key, seg.VersionID, on)
	if errors.Is(err, archive.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set legal hold %v on %s: %w", on, key, err)
	}
	return nil
}
