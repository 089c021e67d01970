package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Job is work that only the leader does, such as a retention sweep. It
// runs until its ctx is cancelled, which happens when this node stops
// leading or closes, and must then return promptly. A job that returns
// early is not run again until the next time this node becomes leader.
type Job func(ctx context.Context)

// leaderJob is a registered Job.
type leaderJob struct {
	name string
	fn   Job
}

// leaderTerm is one stretch of leadership: its jobs share its ctx.
type leaderTerm struct {
	ctx     context.Context
	cancel  context.CancelFunc
	prev    *leaderTerm   // the term before, whose jobs must end before these start
	ready   bool          // the barrier passed: jobs run
	stopped bool          // stopTerm ran
	count   int           // jobs running
	jobs    chan struct{} // closed once stopped and no job runs
}

// RunWhileLeader runs job in its own goroutine whenever this node becomes
// leader, with a ctx that is cancelled when leadership is lost and on
// Close, and runs it again when leadership returns. Two runs of the same
// job never overlap. On becoming leader the node first waits for a raft
// barrier, so the job sees every entry committed by earlier leaders in the
// local catalog.
//
// Leadership is tracked by a watcher that wakes on raft's observations
// (RaftState and LeaderObservation, as soon as raft changes state) and,
// in case an observation is dropped, checks raft's State every
// HeartbeatTimeout/2: a job's ctx is cancelled at most half a heartbeat
// after raft leaves the leader state. As in any raft system, a leader cut
// off from the others keeps its state until LeaderLeaseTimeout, so for a
// moment two nodes can both run a job: jobs change the catalog through raft
// writes, which a deposed leader cannot commit.
//
// name labels the job's log lines and must be unique; registering a name
// twice panics. After Close it does nothing.
func (n *Node) RunWhileLeader(name string, job Job) {
	n.jobsMu.Lock()
	defer n.jobsMu.Unlock()
	for _, j := range n.jobs {
		if j.name == name {
			panic(fmt.Sprintf("cluster: leader job %q registered twice", name))
		}
	}
	if n.jobsClosed {
		return
	}
	j := leaderJob{name, job}
	n.jobs = append(n.jobs, j)
	if t := n.term; t != nil && t.ready {
		n.startJob(t, j)
	}
}

// watchLeadership starts and stops leader terms as raft's state changes,
// and keeps the leader's view of failing followers for Members.
func (n *Node) watchLeadership() {
	obsCh := make(chan raft.Observation, 64)
	obs := raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.RaftState, raft.LeaderObservation,
			raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	tick := time.NewTicker(n.cfg.HeartbeatTimeout / 2)
	defer tick.Stop()
	for {
		n.syncLeadership()
		select {
		case <-n.ctx.Done():
			n.jobsMu.Lock()
			n.jobsClosed = true
			n.stopTerm()
			n.jobsMu.Unlock()
			return
		case o := <-obsCh:
			n.observe(o)
		case <-tick.C:
		}
	}
}

// observe records the leader's heartbeat failures.
func (n *Node) observe(o raft.Observation) {
	n.contactMu.Lock()
	defer n.contactMu.Unlock()
	switch d := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		n.failing[string(d.PeerID)] = d.LastContact
	case raft.ResumedHeartbeatObservation:
		delete(n.failing, string(d.PeerID))
	}
}

// failingSince returns when the leader last heard from a follower whose
// heartbeats are failing.
func (n *Node) failingSince(id string) (time.Time, bool) {
	n.contactMu.Lock()
	defer n.contactMu.Unlock()
	t, ok := n.failing[id]
	return t, ok
}

// syncLeadership starts a term when this node leads and none runs, and
// stops it when it no longer leads.
func (n *Node) syncLeadership() {
	leading := n.IsLeader()
	n.jobsMu.Lock()
	defer n.jobsMu.Unlock()
	switch {
	case leading && n.term == nil:
		ctx, cancel := context.WithCancel(n.ctx)
		t := &leaderTerm{ctx: ctx, cancel: cancel, prev: n.lastTerm, jobs: make(chan struct{})}
		n.term, n.lastTerm = t, t
		n.bg.Go(func() { n.establish(t) })
	case !leading && n.term != nil:
		n.stopTerm()
		n.contactMu.Lock()
		clear(n.failing)
		n.contactMu.Unlock()
	}
}

// stopTerm cancels the current term. The caller holds jobsMu.
func (n *Node) stopTerm() {
	t := n.term
	if t == nil {
		return
	}
	n.term = nil
	t.stopped = true
	t.cancel()
	if t.count == 0 {
		close(t.jobs)
	}
	n.log.Info("leader jobs stopped")
}

// establish waits for the previous term's jobs to end and for a barrier,
// then starts every job of term t unless it ended meanwhile.
func (n *Node) establish(t *leaderTerm) {
	if t.prev != nil {
		select {
		case <-t.prev.jobs:
		case <-t.ctx.Done():
			return
		}
		t.prev = nil
	}
	for {
		err := raftErr(n.raft.Barrier(n.cfg.ApplyTimeout).Error())
		if err == nil {
			break
		}
		n.log.WithError(err).Warn("leader barrier before starting leader jobs")
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(n.cfg.HeartbeatTimeout):
		}
	}
	n.jobsMu.Lock()
	defer n.jobsMu.Unlock()
	if n.term != t {
		return
	}
	t.ready = true
	n.log.WithField("jobs", len(n.jobs)).Info("leadership established: starting leader jobs")
	for _, j := range n.jobs {
		n.startJob(t, j)
	}
}

// startJob runs j for term t. The caller holds jobsMu and t is current.
func (n *Node) startJob(t *leaderTerm, j leaderJob) {
	t.count++
	n.bg.Go(func() {
		log := n.log.WithField("job", j.name)
		log.Debug("leader job started")
		j.fn(t.ctx)
		log.Debug("leader job stopped")
		n.jobsMu.Lock()
		defer n.jobsMu.Unlock()
		t.count--
		if t.count == 0 && t.stopped {
			close(t.jobs)
		}
	})
}
