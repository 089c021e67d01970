package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// The retention and hold part of the catalog (fsm.db).
var (
	// bucketPolicies holds policiesKey → JSON PolicyRecord.
	bucketPolicies = []byte("policies")
	// bucketHolds maps a hold id to its JSON archive.Hold.
	bucketHolds = []byte("holds")
	// bucketCoverage maps segment key + 0 + hold id to the number of
	// matching message versions: which holds keep a segment.
	bucketCoverage = []byte("coverage")
	// bucketHoldSegments is the same rows the other way round: hold id +
	// 0 + segment key → count, to list what a hold covers.
	bucketHoldSegments = []byte("hold_segments")
	// bucketSweeps maps a sweep id to its JSON Sweep (the report).
	bucketSweeps = []byte("sweeps")
	// bucketSweepSegments maps sweep id + 0 + segment key to the JSON
	// SweepResult of that segment: what a sweep already did, so that a
	// new leader neither repeats nor forgets a segment.
	bucketSweepSegments = []byte("sweep_segments")

	// bucketSeqOf maps a segment key to its 8-byte catalog seq: how a
	// sweep finds the seq row of a segment it expires.
	bucketSeqOf = []byte("seq_of")

	retentionBuckets = [][]byte{bucketSeqOf, bucketPolicies, bucketHolds, bucketCoverage, bucketHoldSegments, bucketSweeps, bucketSweepSegments}

	policiesKey = []byte("current")
	// metaRunningSweep is the id of the sweep under way, if any.
	metaRunningSweep = []byte("running_sweep")
)

// PolicyRecord is the policy set in force and where it came from.
type PolicyRecord struct {
	Set archive.PolicySet `json:"set"`
	// Source is "config" (the file of the first node to lead with it)
	// or "api".
	Source string    `json:"source"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	// Revision counts the changes.
	Revision int `json:"revision"`
}

// Sweep states.
const (
	SweepRunning  = "running"
	SweepFinished = "finished"
	SweepFailed   = "failed"
)

// Sweep outcomes of one segment.
const (
	// OutcomeDeleted: every version of the object is gone from storage.
	OutcomeDeleted = "deleted"
	// OutcomeWouldDelete: a dry run found it deletable.
	OutcomeWouldDelete = "would_delete"
	// OutcomeHeld: a legal hold covers it; it was left alone.
	OutcomeHeld = "held"
	// OutcomeRefused: storage refused the deletion (still locked).
	OutcomeRefused = "refused"
	// OutcomeError: the deletion failed for another reason; the next
	// sweep tries again.
	OutcomeError = "error"
	// OutcomeProtected: the sweeper itself refused to delete it although
	// its recorded retain-until has passed (an audit segment within the
	// audit retention, a quarantined segment); the reason says why.
	OutcomeProtected = "protected"
)

// Counts are segments and the message versions inside them.
type Counts struct {
	Segments int   `json:"segments"`
	Messages int   `json:"messages"`
	Bytes    int64 `json:"bytes"`
}

func (c *Counts) add(r *SweepResult) {
	c.Segments++
	c.Messages += r.Messages
	c.Bytes += r.Bytes
}

// maxSweepErrors bounds the error samples a report keeps.
const maxSweepErrors = 20

// Sweep is a retention sweep and its report, as the catalog records it:
// every count comes from the per-segment results applied through raft.
type Sweep struct {
	ID     string `json:"id"`
	DryRun bool   `json:"dry_run"`
	// Trigger is "schedule" or "api"; By names who asked.
	Trigger string `json:"trigger"`
	By      string `json:"by"`
	// Cutoff is fixed when the sweep starts: segments retained until
	// before it are expired.
	Cutoff     time.Time `json:"cutoff"`
	State      string    `json:"state"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Nodes are the leaders that worked on it, in order.
	Nodes []string `json:"nodes,omitempty"`
	// Examined counts every expired segment the sweep considered; the
	// others split it by outcome.
	Examined    Counts `json:"examined"`
	Deleted     Counts `json:"deleted"`
	WouldDelete Counts `json:"would_delete"`
	SkippedHeld Counts `json:"skipped_held"`
	Refused     Counts `json:"refused"`
	Failed      Counts `json:"failed"`
	// Protected counts the segments the sweeper kept itself (see
	// OutcomeProtected).
	Protected Counts `json:"protected"`
	// Errors are the first errors met, "key: reason".
	Errors []string `json:"errors,omitempty"`
	// Error is why the sweep ended early, if it did.
	Error string `json:"error,omitempty"`
	// Audited is true once the report is in the audit trail.
	Audited bool `json:"audited,omitempty"`
}

// SweepResult is what a sweep did to one segment.
type SweepResult struct {
	Key      string `json:"key"`
	Outcome  string `json:"outcome"`
	Messages int    `json:"messages"`
	Bytes    int64  `json:"bytes"`
	Error    string `json:"error,omitempty"`
	// Node is the leader that handled it.
	Node string `json:"node"`
}

// applyRetention applies the policy, hold and sweep ops; known is false for
// an op it does not know.
func (w *catalogWriter) applyRetention(c *wireCommand) (res *applyResult, known bool, err error) {
	known = true
	switch c.Op {
	case OpPoliciesSet:
		res, err = w.setPolicies(c)
	case OpHoldPlaced:
		res, err = w.placeHold(c)
	case OpHoldCovered:
		res, err = w.holdCovered(c)
	case OpHoldReleased:
		res, err = w.releaseHold(c)
	case OpHoldUnheld:
		res, err = w.holdUnheld(c)
	case OpSweepStarted:
		res, err = w.startSweep(c)
	case OpSweepProgress:
		res, err = w.sweepProgress(c)
	case OpSweepFinished:
		res, err = w.finishSweep(c)
	case OpSweepAudited:
		res, err = w.sweepAudited(c)
	case OpRetentionExtended:
		res, err = w.extendRetention(c)
	default:
		known = false
	}
	return res, known, err
}

// checkRetentionCommand checks a forwarded command of the ops above.
func checkRetentionCommand(c *wireCommand) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s command without %s", ErrInvalid, c.Op, what) }
	switch c.Op {
	case OpPoliciesSet:
		if c.Policies == nil {
			return bad("policies")
		}
	case OpHoldPlaced:
		if c.Hold == nil || c.Hold.ID == "" {
			return bad("a hold id")
		}
	case OpHoldCovered, OpHoldReleased, OpHoldUnheld:
		if c.HoldID == "" {
			return bad("hold_id")
		}
	case OpSweepStarted:
		if c.Sweep == nil || c.Sweep.ID == "" {
			return bad("a sweep id")
		}
	case OpSweepProgress, OpSweepFinished, OpSweepAudited:
		if c.SweepID == "" {
			return bad("sweep_id")
		}
	case OpRetentionExtended:
		if len(c.Keys) == 0 || c.Until.IsZero() {
			return bad("keys and until")
		}
	default:
		return fmt.Errorf("%w: unknown command op %q", ErrInvalid, c.Op)
	}
	return nil
}

func rejected(format string, args ...any) *applyResult {
	return &applyResult{err: fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))}
}

func (w *catalogWriter) setPolicies(c *wireCommand) (*applyResult, error) {
	b := w.tx.Bucket(bucketPolicies)
	var rec PolicyRecord
	if v := b.Get(policiesKey); v != nil {
		if err := json.Unmarshal(v, &rec); err != nil {
			return nil, fmt.Errorf("decode policies: %w", err)
		}
	}
	rec = PolicyRecord{Set: *c.Policies, Source: c.Source, By: c.By, At: c.At, Revision: rec.Revision + 1}
	w.policiesSet = true
	return &applyResult{}, putJSON(b, policiesKey, rec)
}

func (w *catalogWriter) placeHold(c *wireCommand) (*applyResult, error) {
	b := w.tx.Bucket(bucketHolds)
	if b.Get([]byte(c.Hold.ID)) != nil {
		return rejected("hold %s already exists", c.Hold.ID), nil
	}
	h := *c.Hold
	h.State, h.Segments, h.Messages, h.CoveredSeq = archive.HoldActive, 0, 0, 0
	return &applyResult{}, putJSON(b, []byte(h.ID), h)
}

// hold reads one hold in the write transaction.
func (w *catalogWriter) hold(id string) (archive.Hold, bool, error) {
	var h archive.Hold
	v := w.tx.Bucket(bucketHolds).Get([]byte(id))
	if v == nil {
		return h, false, nil
	}
	if err := json.Unmarshal(v, &h); err != nil {
		return h, false, fmt.Errorf("decode hold %s: %w", id, err)
	}
	return h, true, nil
}

// cover records that hold id covers segment key with n matching versions,
// updating the hold's counts. Rows are kept for a hold in any state, so
// that a release un-holds what a late coverage set.
func (w *catalogWriter) cover(id, key string, n int) error {
	h, ok, err := w.hold(id)
	if err != nil || !ok {
		return err // a hold unknown here: nothing to count it against
	}
	hs := w.tx.Bucket(bucketHoldSegments)
	row := pairKey(id, key)
	if old := hs.Get(row); old != nil {
		h.Messages += n - int(getU64(old))
	} else {
		h.Segments++
		h.Messages += n
	}
	if err := hs.Put(row, u64(uint64(n))); err != nil {
		return err
	}
	if err := w.tx.Bucket(bucketCoverage).Put(pairKey(key, id), u64(uint64(n))); err != nil {
		return err
	}
	return putJSON(w.tx.Bucket(bucketHolds), []byte(id), h)
}

func (w *catalogWriter) holdCovered(c *wireCommand) (*applyResult, error) {
	h, ok, err := w.hold(c.HoldID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return rejected("no hold %s", c.HoldID), nil
	}
	for key, n := range c.Coverage {
		v := w.segments.Get([]byte(key))
		if v == nil || isExpired(v) {
			continue // gone already: nothing to keep
		}
		if err := w.cover(c.HoldID, key, n); err != nil {
			return nil, err
		}
	}
	if h, _, err = w.hold(c.HoldID); err != nil {
		return nil, err
	}
	h.CoveredSeq = max(h.CoveredSeq, c.CoveredSeq)
	return &applyResult{}, putJSON(w.tx.Bucket(bucketHolds), []byte(h.ID), h)
}

func (w *catalogWriter) releaseHold(c *wireCommand) (*applyResult, error) {
	h, ok, err := w.hold(c.HoldID)
	if err != nil {
		return nil, err
	}
	switch {
	case !ok:
		return &applyResult{err: fmt.Errorf("%w: no hold %s", ErrNotFound, c.HoldID)}, nil
	case h.State != archive.HoldActive:
		return rejected("hold %s is already %s", h.ID, h.State), nil
	}
	h.State, h.ReleasedBy, h.ReleasedAt, h.ReleaseReason = archive.HoldReleasing, c.By, c.At, c.Reason
	if err := putJSON(w.tx.Bucket(bucketHolds), []byte(h.ID), h); err != nil {
		return nil, err
	}
	return &applyResult{}, w.settleRelease(h)
}

// settleRelease marks a releasing hold released once it covers nothing.
func (w *catalogWriter) settleRelease(h archive.Hold) error {
	if h.State != archive.HoldReleasing {
		return nil
	}
	prefix := pairKey(h.ID, "")
	if k, _ := w.tx.Bucket(bucketHoldSegments).Cursor().Seek(prefix); bytes.HasPrefix(k, prefix) {
		return nil
	}
	h.State = archive.HoldReleased
	return putJSON(w.tx.Bucket(bucketHolds), []byte(h.ID), h)
}

func (w *catalogWriter) holdUnheld(c *wireCommand) (*applyResult, error) {
	h, ok, err := w.hold(c.HoldID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return rejected("no hold %s", c.HoldID), nil
	}
	for _, key := range c.Keys {
		if err := w.tx.Bucket(bucketHoldSegments).Delete(pairKey(c.HoldID, key)); err != nil {
			return nil, err
		}
		if err := w.tx.Bucket(bucketCoverage).Delete(pairKey(key, c.HoldID)); err != nil {
			return nil, err
		}
	}
	return &applyResult{}, w.settleRelease(h)
}

func (w *catalogWriter) startSweep(c *wireCommand) (*applyResult, error) {
	if id := w.meta.Get(metaRunningSweep); len(id) > 0 {
		return rejected("sweep %s is still running", id), nil
	}
	b := w.tx.Bucket(bucketSweeps)
	if b.Get([]byte(c.Sweep.ID)) != nil {
		return rejected("sweep %s already exists", c.Sweep.ID), nil
	}
	s := Sweep{ID: c.Sweep.ID, DryRun: c.Sweep.DryRun, Trigger: c.Sweep.Trigger, By: c.By,
		Cutoff: c.Sweep.Cutoff, State: SweepRunning, StartedAt: c.At}
	if err := w.meta.Put(metaRunningSweep, []byte(s.ID)); err != nil {
		return nil, err
	}
	return &applyResult{}, putJSON(b, []byte(s.ID), s)
}

// sweep reads one sweep in the write transaction.
func (w *catalogWriter) sweep(id string) (Sweep, bool, error) {
	var s Sweep
	v := w.tx.Bucket(bucketSweeps).Get([]byte(id))
	if v == nil {
		return s, false, nil
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return s, false, fmt.Errorf("decode sweep %s: %w", id, err)
	}
	return s, true, nil
}

// sweepProgress records results of a running sweep. A segment already
// recorded for the sweep keeps its first result: a deposed leader's late
// report cannot count a segment twice. A deleted segment leaves the
// catalog (SegmentExpired).
func (w *catalogWriter) sweepProgress(c *wireCommand) (*applyResult, error) {
	s, ok, err := w.sweep(c.SweepID)
	if err != nil {
		return nil, err
	}
	if !ok || s.State != SweepRunning {
		return rejected("sweep %s is not running", c.SweepID), nil
	}
	done := w.tx.Bucket(bucketSweepSegments)
	for i := range c.Results {
		r := &c.Results[i]
		row := pairKey(s.ID, r.Key)
		if done.Get(row) != nil {
			continue
		}
		if err := putJSON(done, row, r); err != nil {
			return nil, err
		}
		s.Examined.add(r)
		switch r.Outcome {
		case OutcomeDeleted:
			s.Deleted.add(r)
			if err := w.expire(r.Key, s.ID, c.At); err != nil {
				return nil, err
			}
		case OutcomeWouldDelete:
			s.WouldDelete.add(r)
		case OutcomeHeld:
			s.SkippedHeld.add(r)
		case OutcomeRefused:
			s.Refused.add(r)
		case OutcomeProtected:
			s.Protected.add(r)
		default:
			s.Failed.add(r)
		}
		if r.Error != "" && len(s.Errors) < maxSweepErrors {
			s.Errors = append(s.Errors, r.Key+": "+r.Error)
		}
	}
	if n := len(s.Nodes); n == 0 || s.Nodes[n-1] != c.By {
		s.Nodes = append(s.Nodes, c.By)
	}
	return &applyResult{}, putJSON(w.tx.Bucket(bucketSweeps), []byte(s.ID), s)
}

// expire replaces segment key by its tombstone under a new seq, so that
// followers drop its documents, and removes it from the retention index.
// Its hold rows go too: there is nothing left to hold.
func (w *catalogWriter) expire(key, sweepID string, at time.Time) error {
	v := w.segments.Get([]byte(key))
	if v == nil || isExpired(v) {
		return nil
	}
	var seg archive.Segment
	if err := json.Unmarshal(v, &seg); err != nil {
		return fmt.Errorf("decode segment %s: %w", key, err)
	}
	if err := w.retain.Delete(retainKey(seg.RetainUntil, key)); err != nil {
		return err
	}
	if err := w.deleteSeqOf(key); err != nil {
		return err
	}
	if _, err := w.clearQuarantines(&wireCommand{commandBody: commandBody{Keys: []string{key}}}); err != nil {
		return err // deleted: nothing is left to repair
	}
	seg.Expired, seg.ExpiredAt, seg.Sweep = true, at, sweepID
	w.lastSeq++
	w.count--
	if err := putJSON(w.segments, []byte(key), seg); err != nil {
		return err
	}
	if err := w.tx.Bucket(bucketSeqOf).Put([]byte(key), u64(w.lastSeq)); err != nil {
		return err
	}
	return w.seq.Put(u64(w.lastSeq), []byte(key))
}

// deleteSeqOf removes the seq row of key.
func (w *catalogWriter) deleteSeqOf(key string) error {
	seqOf := w.tx.Bucket(bucketSeqOf)
	if seq := seqOf.Get([]byte(key)); seq != nil {
		if err := w.seq.Delete(seq); err != nil {
			return err
		}
		return seqOf.Delete([]byte(key))
	}
	return nil
}

func (w *catalogWriter) finishSweep(c *wireCommand) (*applyResult, error) {
	s, ok, err := w.sweep(c.SweepID)
	if err != nil {
		return nil, err
	}
	if !ok || s.State != SweepRunning {
		return rejected("sweep %s is not running", c.SweepID), nil
	}
	s.State, s.FinishedAt, s.Error = SweepFinished, c.At, c.Error
	if c.Error != "" {
		s.State = SweepFailed
	}
	if err := w.meta.Delete(metaRunningSweep); err != nil {
		return nil, err
	}
	return &applyResult{}, putJSON(w.tx.Bucket(bucketSweeps), []byte(s.ID), s)
}

func (w *catalogWriter) sweepAudited(c *wireCommand) (*applyResult, error) {
	s, ok, err := w.sweep(c.SweepID)
	if err != nil || !ok {
		return &applyResult{}, err
	}
	s.Audited = true
	return &applyResult{}, putJSON(w.tx.Bucket(bucketSweeps), []byte(s.ID), s)
}

func (w *catalogWriter) extendRetention(c *wireCommand) (*applyResult, error) {
	for _, key := range c.Keys {
		v := w.segments.Get([]byte(key))
		if v == nil || isExpired(v) {
			continue
		}
		var seg archive.Segment
		if err := json.Unmarshal(v, &seg); err != nil {
			return nil, fmt.Errorf("decode segment %s: %w", key, err)
		}
		if !c.Until.After(seg.RetainUntil) {
			continue
		}
		if err := w.retain.Delete(retainKey(seg.RetainUntil, key)); err != nil {
			return nil, err
		}
		seg.RetainUntil = c.Until.UTC()
		if err := putJSON(w.segments, []byte(key), seg); err != nil {
			return nil, err
		}
		if err := w.retain.Put(retainKey(seg.RetainUntil, key), nil); err != nil {
			return nil, err
		}
	}
	return &applyResult{}, nil
}

// isExpired reports whether a recorded segment's JSON is a tombstone.
func isExpired(v []byte) bool {
	var s struct {
		Expired bool `json:"expired"`
	}
	return json.Unmarshal(v, &s) == nil && s.Expired
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

// pairKey is a + 0 + b: ids and keys never contain a NUL byte.
func pairKey(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}
