package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Backoff of a new node asking to be added (Config.Join).
const (
	joinMinBackoff = 100 * time.Millisecond
	joinMaxBackoff = 5 * time.Second
)

// Member is one server of the raft configuration, as this node sees it.
type Member struct {
	// ID and RaftAddr are the member's raft server id and address.
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	// Voter is false for a non-voting member.
	Voter bool `json:"voter"`
	// Leader is true for the member this node knows as the leader.
	Leader bool `json:"leader"`
	// LastContact is how long ago raft traffic last passed between this
	// member and the leader, as well as this node can tell: 0 for the
	// leader itself. On the leader, for a follower whose heartbeats are
	// failing, the time since the leader last heard from it (raft's
	// FailedHeartbeatObservation); otherwise the follower's own raft
	// last_contact, as it reports it. On a follower, for itself, raft's
	// last_contact stat. Negative when unknown (never, or unreachable).
	LastContact time.Duration `json:"last_contact"`
	// AppliedIndex and LastSeq are the member's raft applied index and
	// catalog LastSeq, as it reports them (0 when unreachable).
	AppliedIndex uint64 `json:"applied_index"`
	LastSeq      uint64 `json:"last_seq"`
	// Progress is how far the member's index has followed the catalog (a
	// catalog Seq, see Config.Progress); LastSeq - Progress is its lag.
	Progress uint64 `json:"progress"`
	// Reachable is true when the member answered a status call within a
	// short timeout as the server it is configured as (always true for
	// this node).
	Reachable bool `json:"reachable"`
}

// ID returns this node's raft server id.
func (n *Node) ID() string { return n.cfg.NodeID }

// LeaderID returns the id of the leader this node knows, "" if none.
func (n *Node) LeaderID() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// Join adds the node id, listening for raft on raftAddr, as a voter. It may
// be called on any node and runs on the leader, which first checks that
// raftAddr answers, authenticated, as id, then adds it as a non-voter until
// it has caught up (see addVoter), so that a join never stalls writes.
// Joining a voter already in the configuration at the same address does
// nothing; a timeout leaves the node a non-voter, catching up, and asking
// again completes the join.
func (n *Node) Join(ctx context.Context, id, raftAddr string) error {
	if id == "" || raftAddr == "" {
		return fmt.Errorf("join: %w: empty id or address", ErrInvalid)
	}
	if err := n.enter(); err != nil {
		return err
	}
	defer n.wg.Done()
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	err := n.onLeader(ctx, func(ctx context.Context) error {
		return n.addVoter(ctx, id, raftAddr)
	}, func(ctx context.Context, addr string) error {
		_, err := n.call(ctx, addr, rpcRequest{Op: opJoin, Forwarded: true, ID: id, Addr: raftAddr}, n.cfg.ApplyTimeout)
		return err
	})
	if err != nil {
		return fmt.Errorf("join %s at %s: %w", id, raftAddr, err)
	}
	return nil
}

// Remove removes the member id from the configuration. It may be called on
// any node and runs on the leader; removing the leader itself makes it step
// down once the change is committed, and the others elect a new one. A
// removed node keeps running, outside the cluster, until it is closed.
func (n *Node) Remove(ctx context.Context, id string) error {
	if err := n.enter(); err != nil {
		return err
	}
	defer n.wg.Done()
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	err := n.onLeader(ctx, func(ctx context.Context) error {
		return n.removeServer(ctx, id)
	}, func(ctx context.Context, addr string) error {
		_, err := n.call(ctx, addr, rpcRequest{Op: opRemove, Forwarded: true, ID: id}, n.cfg.ApplyTimeout)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	return nil
}

// addVoter is Join on the leader. The caller holds enter().
//
// A new voter counts toward the quorum as soon as it is added, so adding
// one straight away would stall every write (growing from one node to two)
// until it has received the whole catalog. It is staged instead: added as
// a non-voter, which raft replicates to without counting it; promoted with
// AddVoter once it has applied what the leader had applied when it was
// added. If that takes longer than ctx allows, the error says so and the
// node stays a non-voter, catching up; asking again resumes the wait.
func (n *Node) addVoter(ctx context.Context, id, addr string) error {
	if n.mux.secret == nil {
		return ErrNoSecret
	}
	if !n.IsLeader() {
		return n.notLeader()
	}
	servers, err := n.servers()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(servers, func(s raft.Server) bool { return string(s.ID) == id })
	if i >= 0 && string(servers[i].Address) == addr && servers[i].Suffrage == raft.Voter {
		return nil
	}
	// Check that it is there, authenticated, and is who it says.
	if _, err := n.memberStatus(ctx, id, addr); err != nil {
		return fmt.Errorf("check the new member: %w", err)
	}
	log := n.log.WithField("member", id).WithField("raft_addr", addr)
	deadline, _ := ctx.Deadline()
	if i < 0 || string(servers[i].Address) != addr {
		f := n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, time.Until(deadline))
		if err := n.await(ctx, f); err != nil {
			return err
		}
		log.Info("member added as a non-voter, catching up")
	}
	if err := n.waitCaughtUp(ctx, id, addr, n.raft.AppliedIndex()); err != nil {
		return err
	}
	if err := n.await(ctx, n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, time.Until(deadline))); err != nil {
		return err
	}
	log.Info("member added as a voter")
	return nil
}

// waitCaughtUp waits until the member reports an applied index of at least
// target.
func (n *Node) waitCaughtUp(ctx context.Context, id, addr string, target uint64) error {
	t := time.NewTicker(max(n.cfg.HeartbeatTimeout, 10*time.Millisecond))
	defer t.Stop()
	var applied uint64
	for {
		st, err := n.memberStatus(ctx, id, addr)
		if err == nil && st.AppliedIndex >= target {
			return nil
		}
		if err == nil {
			applied = st.AppliedIndex
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is still catching up (applied %d of %d), a non-voter until asked again: %w",
				id, applied, target, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// memberStatus asks the member at addr for its status and checks it is id.
func (n *Node) memberStatus(ctx context.Context, id, addr string) (*nodeStatus, error) {
	resp, err := n.call(ctx, addr, rpcRequest{Op: opStatus}, statusTimeout)
	if err != nil {
		return nil, err
	}
	if resp.Status == nil || resp.Status.ID != id {
		return nil, fmt.Errorf("%w: %s answers as %q, not %q", ErrInvalid, addr, statusID(resp.Status), id)
	}
	return resp.Status, nil
}

func statusID(st *nodeStatus) string {
	if st == nil {
		return ""
	}
	return st.ID
}

// removeServer is Remove on the leader. The caller holds enter().
func (n *Node) removeServer(ctx context.Context, id string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	servers, err := n.servers()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == id }) {
		return fmt.Errorf("%w: %q", ErrUnknownMember, id)
	}
	deadline, _ := ctx.Deadline()
	if err := n.await(ctx, n.raft.RemoveServer(raft.ServerID(id), 0, time.Until(deadline))); err != nil {
		return err
	}
	n.log.WithField("member", id).Info("member removed")
	return nil
}

// servers returns the latest raft configuration this node knows.
func (n *Node) servers() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", raftErr(err))
	}
	return f.Configuration().Servers, nil
}

// Members returns the servers of the raft configuration, sorted by id, each
// with its own report of its applied index and LastSeq, asked over the
// cluster RPC with a short timeout; a member that does not answer is
// marked unreachable.
func (n *Node) Members(ctx context.Context) ([]Member, error) {
	if err := n.enter(); err != nil {
		return nil, err
	}
	defer n.wg.Done()
	servers, err := n.servers()
	if err != nil {
		return nil, err
	}
	_, leaderID := n.raft.LeaderWithID()
	members := make([]Member, len(servers))
	statuses := make([]*nodeStatus, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		members[i] = Member{
			ID:          string(s.ID),
			RaftAddr:    string(s.Address),
			Voter:       s.Suffrage == raft.Voter,
			Leader:      s.ID == leaderID,
			LastContact: -1,
		}
		if string(s.ID) == n.cfg.NodeID {
			st := n.status()
			statuses[i] = &st
			continue
		}
		wg.Go(func() {
			resp, err := n.call(ctx, string(s.Address), rpcRequest{Op: opStatus}, statusTimeout)
			if err == nil && resp.Status != nil && resp.Status.ID == string(s.ID) {
				statuses[i] = resp.Status
			}
		})
	}
	wg.Wait()
	leading := n.IsLeader()
	for i := range members {
		m, st := &members[i], statuses[i]
		if st != nil {
			m.Reachable, m.AppliedIndex, m.LastSeq, m.Progress = true, st.AppliedIndex, st.LastSeq, st.Progress
		}
		m.LastContact = n.contactOf(m, st, leading)
	}
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return members, nil
}

// contactOf is Member.LastContact for m, whose status is st (nil when
// unreachable).
func (n *Node) contactOf(m *Member, st *nodeStatus, leading bool) time.Duration {
	switch {
	case m.Leader:
		if m.ID == n.cfg.NodeID {
			return 0
		}
		return sinceContact(n.raft.LastContact()) // this follower's view of the leader
	case leading:
		if last, failing := n.failingSince(m.ID); failing {
			return sinceContact(last)
		}
	case m.ID == n.cfg.NodeID:
		return sinceContact(n.raft.LastContact())
	}
	if st != nil && st.LastContactNS >= 0 {
		return time.Duration(st.LastContactNS)
	}
	return -1
}

// sinceContact is the time since t, or -1 for a zero t (never).
func sinceContact(t time.Time) time.Duration {
	if t.IsZero() {
		return -1
	}
	return time.Since(t)
}

// status is this node's report of itself.
func (n *Node) status() nodeStatus {
	_, leaderID := n.raft.LeaderWithID()
	st := nodeStatus{
		ID:            n.cfg.NodeID,
		RaftAddr:      n.mux.advertise.String(),
		State:         n.raft.State().String(),
		LeaderID:      string(leaderID),
		AppliedIndex:  n.raft.AppliedIndex(),
		LastSeq:       n.fsm.lastSeq.Load(),
		LastContactNS: int64(sinceContact(n.raft.LastContact())),
	}
	if n.IsLeader() {
		st.LastContactNS = 0
	}
	if n.cfg.Progress != nil {
		st.Progress = n.cfg.Progress()
	}
	return st
}

// joinLoop asks the members in Config.Join, in turn, for the leader to add
// this node, with backoff, until one says yes, until this node finds itself
// in a configuration with a leader (someone else added it), or until Close.
func (n *Node) joinLoop() {
	self := n.mux.advertise.String()
	log := n.log.WithField("join", n.cfg.Join)
	backoff := joinMinBackoff
	for {
		if n.joined() {
			log.Info("joined the cluster")
			return
		}
		var errs []error
		for _, addr := range n.cfg.Join {
			if addr == self {
				continue
			}
			_, err := n.call(n.ctx, addr, rpcRequest{Op: opJoin, ID: n.cfg.NodeID, Addr: self}, n.cfg.ApplyTimeout)
			if err == nil {
				log.WithField("via", addr).Info("joined the cluster")
				return
			}
			if n.ctx.Err() != nil {
				return
			}
			errs = append(errs, err)
		}
		log.WithError(errors.Join(errs...)).WithField("retry_in", backoff).Warn("join the cluster")
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, joinMaxBackoff)
	}
}

// joined reports whether this node knows a leader and is a voter in its
// configuration.
func (n *Node) joined() bool {
	if n.LeaderID() == "" {
		return false
	}
	servers, err := n.servers()
	return err == nil && slices.ContainsFunc(servers, func(s raft.Server) bool {
		return string(s.ID) == n.cfg.NodeID && s.Suffrage == raft.Voter
	})
}
