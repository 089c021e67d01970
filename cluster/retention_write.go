package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// apply applies commands through the leader, all proposed before any is
// awaited, and returns once they are applied here. It may be called on any
// node.
func (n *Node) apply(ctx context.Context, cs ...Command) error {
	if len(cs) == 0 {
		return nil
	}
	if err := n.enter(); err != nil {
		return err
	}
	defer n.wg.Done()
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	cmds := make([][]byte, len(cs))
	for i, c := range cs {
		data, err := encodeCommand(c)
		if err != nil {
			return err
		}
		cmds[i] = data
	}
	_, err := n.applyAnywhere(ctx, cmds)
	return err
}

// newID returns prefix-<UTC time>-<random>: ids that sort by creation.
func newID(prefix string, now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + now.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

// SetPolicies replaces the retention policies. source is "api" or
// "config"; by names who changed them. The caller validates set.
func (n *Node) SetPolicies(ctx context.Context, set archive.PolicySet, source, by string) error {
	err := n.apply(ctx, Command{Op: OpPoliciesSet, commandBody: commandBody{
		Policies: &set, Source: source, By: by, At: n.cfg.now().UTC()}})
	if err != nil {
		return fmt.Errorf("set policies: %w", err)
	}
	return nil
}

// PlaceHold records a new legal hold and returns it with its id. From then
// on every segment sealed with a matching message is written under legal
// hold, and the leader's hold job sets legal hold on every segment already
// stored that holds one (see RunRetention).
func (n *Node) PlaceHold(ctx context.Context, h archive.Hold) (archive.Hold, error) {
	if h.Criteria.Empty() {
		return h, fmt.Errorf("place hold: %w: a hold needs at least one criterion", ErrInvalid)
	}
	now := n.cfg.now().UTC()
	h.ID, h.CreatedAt, h.State = newID("hold", now), now, archive.HoldActive
	if err := n.apply(ctx, Command{Op: OpHoldPlaced, commandBody: commandBody{Hold: &h, By: h.CreatedBy, At: now}}); err != nil {
		return h, fmt.Errorf("place hold: %w", err)
	}
	return n.Hold(h.ID)
}

// ReleaseHold starts the release of hold id: the leader's hold job turns
// legal hold off on every segment it covers that no other hold covers.
func (n *Node) ReleaseHold(ctx context.Context, id, by, reason string) (archive.Hold, error) {
	err := n.apply(ctx, Command{Op: OpHoldReleased, commandBody: commandBody{
		HoldID: id, By: by, Reason: reason, At: n.cfg.now().UTC()}})
	if err != nil {
		return archive.Hold{}, fmt.Errorf("release hold %s: %w", id, err)
	}
	return n.Hold(id)
}

// ActiveHolds returns the holds in force, for the segment writer to decide
// which new segments to write under legal hold.
func (n *Node) ActiveHolds() ([]archive.Hold, error) {
	all, err := n.Holds()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(h archive.Hold) bool { return h.State != archive.HoldActive }), nil
}

// StartSweep starts a retention sweep now, with the cutoff fixed at the
// current time; the leader runs it (see RunRetention). ErrRejected when a
// sweep is already running.
func (n *Node) StartSweep(ctx context.Context, dryRun bool, trigger, by string) (Sweep, error) {
	now := n.cfg.now().UTC()
	s := Sweep{ID: newID("sweep", now), DryRun: dryRun, Trigger: trigger, Cutoff: now}
	if err := n.apply(ctx, Command{Op: OpSweepStarted, commandBody: commandBody{Sweep: &s, By: by, At: now}}); err != nil {
		return s, fmt.Errorf("start sweep: %w", err)
	}
	return n.Sweep(s.ID)
}

// RecordRetention records that segments keys are now retained until
// until (after their objects' retention was extended in storage), so that
// no sweep considers them before then.
func (n *Node) RecordRetention(ctx context.Context, keys []string, until time.Time, by string) error {
	var cmds []Command
	for chunk := range slices.Chunk(keys, maxSegmentsPerCommand) {
		cmds = append(cmds, Command{Op: OpRetentionExtended, commandBody: commandBody{
			Keys: chunk, Until: until.UTC(), By: by, At: n.cfg.now().UTC()}})
	}
	if err := n.apply(ctx, cmds...); err != nil {
		return fmt.Errorf("record extended retention: %w", err)
	}
	return nil
}
