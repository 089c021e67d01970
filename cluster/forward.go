package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Leader work from any node. A call that needs the leader (a write, a
// membership change, a barrier) runs here when this node leads, and is
// otherwise sent over the cluster RPC to the leader raft names. When the
// leader changes under it (raft answers not-leader or leadership-lost, or
// the leader cannot be reached) the call is retried once against the new
// leader; every such call is idempotent. While no leader is known it waits
// at most noLeaderWait for one, then fails with ErrNoLeader: callers such
// as the gateway's uploader retry on their own schedule, and the caller's
// ctx bounds everything.

// noLeaderWait is how long a call waits for a leader to be known (or for
// the one that just failed to be replaced): about one election.
func (n *Node) noLeaderWait() time.Duration {
	return 2 * (n.cfg.HeartbeatTimeout + n.cfg.ElectionTimeout)
}

// onLeader runs here(ctx) when this node leads, there(ctx, leaderAddr)
// when another node does, retrying once when the leader changes.
func (n *Node) onLeader(ctx context.Context, here func(context.Context) error, there func(context.Context, string) error) error {
	var failed raft.ServerAddress
	var err error
	for range 2 {
		addr, id, werr := n.awaitLeader(ctx, failed)
		if werr != nil {
			if err != nil {
				return fmt.Errorf("%w (after %w)", werr, err)
			}
			return werr
		}
		if string(id) == n.cfg.NodeID {
			err = here(ctx)
		} else {
			err = there(ctx, string(addr))
		}
		if err == nil || !leaderChanged(err) || ctx.Err() != nil {
			return err
		}
		n.log.WithField("leader", string(id)).WithError(err).Debug("leader changed mid-call, retrying")
		failed = addr
	}
	if errors.Is(err, ErrNoLeader) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoLeader, err)
}

// leaderChanged reports whether err means the leader asked is no longer
// (or cannot be reached as) the leader, so that asking again makes sense.
func leaderChanged(err error) bool {
	var re *rpcError
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, errUnreachable) ||
		(errors.As(err, &re) && re.Code == codeClosed)
}

// awaitLeader returns the leader raft knows, waiting up to noLeaderWait for
// one to be known and to differ from failed (the one that just failed us;
// after the wait it is returned anyway, to be asked once more).
func (n *Node) awaitLeader(ctx context.Context, failed raft.ServerAddress) (raft.ServerAddress, raft.ServerID, error) {
	deadline := time.Now().Add(n.noLeaderWait())
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for {
		addr, id := n.raft.LeaderWithID()
		expired := !time.Now().Before(deadline)
		switch {
		case addr != "" && (addr != failed || expired):
			return addr, id, nil
		case expired:
			return "", "", fmt.Errorf("%w: none known after %v", ErrNoLeader, n.noLeaderWait())
		}
		select {
		case <-ctx.Done():
			if addr == "" {
				return "", "", fmt.Errorf("%w: %w", ErrNoLeader, context.Cause(ctx))
			}
			return "", "", context.Cause(ctx)
		case <-n.closing:
			return "", "", ErrClosed
		case <-t.C:
		}
	}
}

// notLeader is the error of leader work asked of a follower.
func (n *Node) notLeader() error {
	if _, id := n.raft.LeaderWithID(); id != "" {
		return fmt.Errorf("%w: %s is (leader %s)", ErrNotLeader, n.cfg.NodeID, id)
	}
	return fmt.Errorf("%w: %s is, and knows no leader", ErrNotLeader, n.cfg.NodeID)
}

// applyAnywhere applies encoded commands through the leader and returns
// once they are committed and applied here, so that this node reads its
// own writes. The caller holds enter().
func (n *Node) applyAnywhere(ctx context.Context, cmds [][]byte) (uint64, error) {
	var index uint64
	err := n.onLeader(ctx, func(ctx context.Context) error {
		var err error
		index, err = n.applyCommands(ctx, cmds)
		return err
	}, func(ctx context.Context, addr string) error {
		var err error
		index, err = n.forwardApply(ctx, addr, cmds)
		return err
	})
	if err != nil {
		return 0, err
	}
	if err := n.waitApplied(ctx, index); err != nil {
		return index, fmt.Errorf("committed at raft index %d, not yet applied here: %w", index, err)
	}
	return index, nil
}

// forwardApply sends commands to the leader at addr and returns the raft
// index of the last one.
func (n *Node) forwardApply(ctx context.Context, addr string, cmds [][]byte) (uint64, error) {
	var index uint64
	for chunk := range slices.Chunk(cmds, maxCommandsPerRPC) {
		req := rpcRequest{Op: opApply, Forwarded: true, Commands: make([]json.RawMessage, len(chunk))}
		for i, c := range chunk {
			req.Commands[i] = c
		}
		resp, err := n.call(ctx, addr, req, n.cfg.ApplyTimeout)
		if err != nil {
			return 0, err
		}
		index = max(index, resp.Index)
	}
	return index, nil
}

// applyCommands proposes every command before awaiting any, so that raft
// writes them together, and returns the index of the last. This node must
// lead. The caller holds enter().
func (n *Node) applyCommands(ctx context.Context, cmds [][]byte) (uint64, error) {
	type result struct {
		index uint64
		err   error
	}
	var pending []chan result
	for _, data := range cmds {
		deadline, ok := ctx.Deadline()
		wait := time.Until(deadline)
		if !ok {
			wait = n.cfg.ApplyTimeout
		}
		if wait <= 0 {
			return 0, context.Cause(ctx)
		}
		future := n.raft.Apply(data, wait)
		done := make(chan result, 1)
		// The waiter is counted in n.wg: Close keeps raft running until
		// raft has answered this future, so the waiter always returns.
		n.wg.Go(func() {
			err := applyErr(future)
			done <- result{future.Index(), err}
		})
		pending = append(pending, done)
	}
	var index uint64
	for _, done := range pending {
		select {
		case r := <-done:
			if r.err != nil {
				return 0, r.err
			}
			index = max(index, r.index)
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		case <-n.closing:
			return 0, ErrClosed
		}
	}
	return index, nil
}

// waitApplied waits until the local catalog has applied raft index index.
func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	for {
		ch := n.fsm.appliedChanged()
		if n.fsm.applied.Load() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-n.closing:
			return ErrClosed
		}
	}
}

// LeaderLastSeq returns the leader's catalog LastSeq after a raft barrier:
// it covers every segment committed when the call was made, on whichever
// node. A follower asks the leader over the cluster RPC. A caller that
// wants a read that strong waits until the local LastSeq (or its follower
// of the catalog) reaches the value returned.
func (n *Node) LeaderLastSeq(ctx context.Context) (uint64, error) {
	if err := n.enter(); err != nil {
		return 0, err
	}
	defer n.wg.Done()
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	var seq uint64
	err := n.onLeader(ctx, func(ctx context.Context) error {
		var err error
		seq, err = n.barrierLastSeq(ctx)
		return err
	}, func(ctx context.Context, addr string) error {
		resp, err := n.call(ctx, addr, rpcRequest{Op: opBarrierLastSeq, Forwarded: true}, n.cfg.ApplyTimeout)
		seq = resp.LastSeq
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("leader last seq: %w", err)
	}
	return seq, nil
}

// barrierLastSeq is LeaderLastSeq on the leader. The caller holds enter().
func (n *Node) barrierLastSeq(ctx context.Context) (uint64, error) {
	if !n.IsLeader() {
		return 0, n.notLeader()
	}
	deadline, _ := ctx.Deadline()
	if err := n.await(ctx, n.raft.Barrier(time.Until(deadline))); err != nil {
		return 0, fmt.Errorf("barrier: %w", err)
	}
	return n.fsm.lastSeq.Load(), nil
}

// await waits for a raft future within ctx. The caller holds enter(): the
// waiter is counted in n.wg, so Close keeps raft up until it is answered.
func (n *Node) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	n.wg.Go(func() { done <- raftErr(f.Error()) })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-n.closing:
		return ErrClosed
	}
}

// opContext bounds a leader call by ApplyTimeout (cause ErrTimeout).
func (n *Node) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, n.cfg.ApplyTimeout, ErrTimeout)
}

// raftErr maps raft's errors onto ours.
func raftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	default:
		return err
	}
}

// applyErr waits for an apply future and returns raft's error or the
// catalog's answer.
func applyErr(f raft.ApplyFuture) error {
	if err := raftErr(f.Error()); err != nil {
		return err
	}
	res, ok := f.Response().(*applyResult)
	if !ok {
		return fmt.Errorf("unexpected apply response %T", f.Response())
	}
	return res.err
}
