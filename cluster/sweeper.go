package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
)

// Sweep triggers.
const (
	TriggerSchedule = "schedule"
	TriggerAPI      = "api"
)

const (
	// sweepBatch is the segments decided, deleted and recorded per raft
	// command: progress a new leader does not redo.
	sweepBatch = 64
	// sweepWorkers delete the objects of a batch in parallel.
	sweepWorkers = 8
)

// sweepJob runs the sweep under way (one an earlier leader started, or one
// started through StartSweep) and starts one every r.SweepEvery.
func (n *Node) sweepJob(ctx context.Context, r *Retention) {
	log := r.Log.WithField("job", "retention-sweep")
	for ctx.Err() == nil {
		changed := n.fsm.changes()
		n.reportSweeps(ctx, r, log)
		id, err := n.fsm.runningSweep()
		if err != nil {
			log.WithError(err).Error("read the running sweep")
		}
		if id != "" {
			if err := n.runSweep(ctx, r, id, log); err != nil && ctx.Err() == nil {
				log.WithError(err).WithField("sweep", id).Error("sweep interrupted; resuming")
				sleepCtx(ctx, r.Poll)
			}
			continue
		}
		wait := n.untilScheduled(r)
		if wait <= 0 {
			if _, err := n.StartSweep(ctx, false, TriggerSchedule, n.cfg.NodeID); err != nil && !errors.Is(err, ErrRejected) && ctx.Err() == nil {
				log.WithError(err).Error("start scheduled sweep")
				sleepCtx(ctx, r.Poll)
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-changed:
		case <-time.After(min(wait, r.Poll)):
		}
	}
}

// reportSweeps hands every finished, unaudited sweep to r.Report and
// records that it did.
func (n *Node) reportSweeps(ctx context.Context, r *Retention, log *logrus.Entry) {
	if r.Report == nil {
		return
	}
	recent, err := n.Sweeps(20)
	if err != nil {
		log.WithError(err).Error("list sweeps to audit")
		return
	}
	for _, s := range recent {
		if s.State == SweepRunning || s.Audited {
			continue
		}
		if err := r.Report(ctx, s); err != nil {
			log.WithError(err).WithField("sweep", s.ID).Warn("cannot audit the sweep report yet; retrying")
			continue
		}
		if err := n.apply(ctx, Command{Op: OpSweepAudited, commandBody: commandBody{SweepID: s.ID, At: n.cfg.now().UTC()}}); err != nil {
			log.WithError(err).WithField("sweep", s.ID).Warn("record sweep audited")
		}
	}
}

// untilScheduled is the time left before the next scheduled sweep: every
// r.SweepEvery after the last scheduled one started (after the last of any
// kind when none was scheduled yet); forever when r.SweepEvery is 0.
func (n *Node) untilScheduled(r *Retention) time.Duration {
	if r.SweepEvery <= 0 {
		return time.Hour
	}
	recent, err := n.Sweeps(50)
	if err != nil || len(recent) == 0 {
		return n.started.Add(r.SweepEvery).Sub(n.cfg.now())
	}
	last := recent[0].StartedAt
	for _, s := range recent {
		if s.Trigger == TriggerSchedule {
			last = s.StartedAt
			break
		}
	}
	return last.Add(r.SweepEvery).Sub(n.cfg.now())
}

// runSweep runs (or resumes) sweep id to its end.
func (n *Node) runSweep(ctx context.Context, r *Retention, id string, log *logrus.Entry) error {
	s, err := n.Sweep(id)
	if err != nil {
		return err
	}
	log = log.WithFields(logrus.Fields{"sweep": id, "dry_run": s.DryRun, "cutoff": s.Cutoff})
	log.Info("retention sweep running")
	if err := n.waitHoldsCovered(ctx, r); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return n.finishSweep(ctx, id, "nothing deleted: "+err.Error(), log)
	}
	var cursor []byte
	for {
		cands, err := n.fsm.expiredAfter(id, s.Cutoff, cursor, sweepBatch)
		if err != nil {
			return err
		}
		if len(cands) == 0 {
			break
		}
		cursor = cands[len(cands)-1].cursor
		results := n.sweepBatch(ctx, r, s, cands)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(results) == 0 {
			continue
		}
		err = n.apply(ctx, Command{Op: OpSweepProgress, commandBody: commandBody{
			SweepID: id, Results: results, By: n.cfg.NodeID, At: n.cfg.now().UTC()}})
		if err != nil {
			return fmt.Errorf("record sweep progress: %w", err)
		}
	}
	return n.finishSweep(ctx, id, "", log)
}

func (n *Node) finishSweep(ctx context.Context, id, reason string, log *logrus.Entry) error {
	err := n.apply(ctx, Command{Op: OpSweepFinished, commandBody: commandBody{
		SweepID: id, Error: reason, By: n.cfg.NodeID, At: n.cfg.now().UTC()}})
	if err != nil {
		return fmt.Errorf("finish sweep: %w", err)
	}
	s, err := n.Sweep(id)
	if err != nil {
		return err
	}
	log.WithFields(logrus.Fields{
		"examined": s.Examined.Segments, "deleted_segments": s.Deleted.Segments, "deleted_messages": s.Deleted.Messages,
		"bytes_freed": s.Deleted.Bytes, "skipped_held": s.SkippedHeld.Segments, "refused": s.Refused.Segments,
		"failed": s.Failed.Segments, "error": s.Error,
	}).Info("retention sweep finished")
	return nil
}

// waitHoldsCovered waits until every active hold has been checked against
// the whole catalog as it is now, so that no segment a new hold matches
// can be taken for unheld.
func (n *Node) waitHoldsCovered(ctx context.Context, r *Retention) error {
	need := n.LastSeq()
	deadline := time.Now().Add(r.HoldWait)
	for {
		holds, err := n.ActiveHolds()
		if err != nil {
			return err
		}
		var behind *archive.Hold
		for i := range holds {
			if holds[i].CoveredSeq < need {
				behind = &holds[i]
				break
			}
		}
		if behind == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("legal hold %s (%s) is checked through catalog seq %d of %d after %v",
				behind.ID, behind.Matter, behind.CoveredSeq, need, r.HoldWait)
		}
		if !sleepCtx(ctx, min(r.Poll, 200*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// sweepBatch decides each candidate and deletes the deletable ones, in
// parallel; candidates this sweep already recorded are left out.
func (n *Node) sweepBatch(ctx context.Context, r *Retention, s Sweep, cands []sweepCandidate) []SweepResult {
	store, dryRun := r.Store, s.DryRun
	results := make([]SweepResult, 0, len(cands))
	var work []int
	var relock []relockAudit
	for _, c := range cands {
		if c.done {
			continue
		}
		res := SweepResult{Key: c.seg.Key, Messages: c.seg.Count, Bytes: c.seg.Size, Node: n.cfg.NodeID}
		switch why, keep := protected(r, &c, s.Cutoff); {
		case len(c.holds) > 0:
			res.Outcome = OutcomeHeld
		case why != "":
			res.Outcome, res.Error = OutcomeProtected, why
			r.Log.WithFields(logrus.Fields{"segment": c.seg.Key, "sweep": s.ID, "reason": why}).Warn("sweep kept a protected segment")
			if !keep.IsZero() && !dryRun {
				relock = append(relock, relockAudit{c.seg.Key, c.seg.VersionID, keep})
			}
		case dryRun:
			res.Outcome = OutcomeWouldDelete
		default:
			work = append(work, len(results))
		}
		results = append(results, res)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(sweepWorkers, len(work)) {
		wg.Go(func() {
			for i := range next {
				results[i].Outcome, results[i].Error = deleteObject(ctx, store, results[i].Key)
			}
		})
	}
	for _, i := range work {
		next <- i
	}
	close(next)
	wg.Wait()
	n.relockAudit(ctx, r, relock)
	return results
}

// relockAudit is an audit segment locked for less than its audit
// retention, and the date it must be kept until.
type relockAudit struct {
	key, versionID string
	until          time.Time
}

// relockAudit extends the Object Lock of audit segments kept for less than
// their audit retention (written before audit.retain, or under a policy
// that named the audit tenant) and records it in the catalog, so that
// storage itself keeps them and no later sweep considers them early. A
// failure is logged: the sweeper still keeps them.
func (n *Node) relockAudit(ctx context.Context, r *Retention, segs []relockAudit) {
	for _, a := range segs {
		log := r.Log.WithFields(logrus.Fields{"segment": a.key, "until": a.until})
		if err := r.Store.ExtendRetention(ctx, a.key, a.versionID, a.until); err != nil {
			log.WithError(err).Warn("cannot extend an audit segment's lock to its audit retention")
			continue
		}
		if err := n.RecordRetention(ctx, []string{a.key}, a.until, n.cfg.NodeID); err != nil {
			log.WithError(err).Warn("extended an audit segment's lock, but cannot record it yet")
			continue
		}
		log.Info("audit segment locked until its audit retention")
	}
}

// protected says why a sweep must keep candidate c although its recorded
// retain-until is before cutoff, or "" when nothing keeps it: defence in
// depth behind the retention stamped at ingest. An audit segment is kept
// until r.AuditUntil of its latest record, whatever a policy or a catalog
// entry says; a quarantined segment is kept because its records, and so
// the holds that match them, cannot be read.
//
// keep, when not zero, is the date an audit segment must be kept until.
func protected(r *Retention, c *sweepCandidate, cutoff time.Time) (why string, keep time.Time) {
	if len(c.quarantine) > 0 {
		return fmt.Sprintf("quarantined by %s: its records cannot be read, so no legal hold can be checked against them", strings.Join(c.quarantine, ", ")), time.Time{}
	}
	if c.seg.Tenant != archive.ReservedTenant {
		return "", time.Time{}
	}
	if r.AuditUntil == nil {
		return "an audit segment, and this node has no audit retention to check it against", time.Time{}
	}
	last := c.seg.MaxSentAt
	if last.IsZero() {
		last = c.seg.SealedAt
	}
	if last.IsZero() {
		return "an audit segment with no record time to check its audit retention against", time.Time{}
	}
	keep, err := r.AuditUntil(last)
	switch {
	case err != nil:
		return "an audit segment whose audit retention cannot be computed: " + err.Error(), time.Time{}
	case cutoff.Before(keep):
		return "an audit segment, kept until " + keep.UTC().Format(time.RFC3339) + " (audit.retain and the longest retention in force)", keep.UTC()
	}
	return "", time.Time{}
}

// deleteObject removes every version of key, delete markers included. An
// object already gone counts as deleted: a leader that deleted it and died
// before recording it leaves nothing to delete twice.
func deleteObject(ctx context.Context, store archive.ObjectStore, key string) (outcome, reason string) {
	versions, err := store.Versions(ctx, key)
	if err != nil && !errors.Is(err, archive.ErrNotFound) {
		return OutcomeError, "list versions: " + err.Error()
	}
	for _, v := range versions {
		err := store.DeleteVersion(ctx, key, v.VersionID)
		switch {
		case errors.Is(err, archive.ErrNotFound):
		case errors.Is(err, archive.ErrLocked):
			return OutcomeRefused, fmt.Sprintf("storage refused to delete version %s: %v", v.VersionID, err)
		case err != nil:
			return OutcomeError, fmt.Sprintf("delete version %s: %v", v.VersionID, err)
		}
	}
	return OutcomeDeleted, ""
}

// sleepCtx sleeps for d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
