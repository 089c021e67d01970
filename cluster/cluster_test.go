package cluster

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/holdfast/holdfast/archive"
)

func TestClusterSealFromEveryNode(t *testing.T) {
	c := mustCluster(t, 3)
	leader := c.leaderIndex()

	// One after the other: each node reads its own write at once, even a
	// follower, and the seqs follow the order of the calls.
	var want []archive.Segment
	for i, n := range c.nodes {
		segs := testSegments(i*10, 10)
		mustSeal(t, n, segs)
		for _, s := range segs {
			if _, ok, err := n.Segment(s.Key); !ok || err != nil {
				t.Fatalf("%s (leader: %v) does not read its own write %s: %v", n.ID(), i == leader, s.Key, err)
			}
		}
		want = append(want, segs...)
	}
	checkSeqs(t, c.waitConverged(), want)

	// All at once, from every node: every node ends with the same order.
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		for b := range 5 {
			wg.Go(func() { mustSeal(t, n, testSegments(1000+i*100+b*10, 10)) })
		}
	}
	wg.Wait()
	all := c.waitConverged()
	if len(all) != 30+150 {
		t.Fatalf("catalog has %d entries, want 180", len(all))
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
	}
}

func TestClusterLeaderFailover(t *testing.T) {
	c := mustCluster(t, 3)
	mustSeal(t, c.follower(), testSegments(0, 5))
	c.waitConverged()

	old := c.leaderIndex()
	c.stop(old)
	start := time.Now()
	newLeader := c.leaderIndex()
	took := time.Since(start)
	t.Logf("new leader %s elected %v after the old one closed", c.nodes[newLeader].ID(), took)
	if took > 5*time.Second {
		t.Fatalf("new leader took %v", took)
	}

	// Sealing continues on both survivors, the leader and a follower.
	for i, n := range c.nodes {
		if n != nil {
			mustSeal(t, n, testSegments(100+i*10, 10))
		}
	}
	before := c.waitConverged()

	// The old leader comes back with its directory and catches up, then
	// writes through the new leader.
	back := c.start(old)
	c.waitLeader(back)
	after := c.waitConverged()
	if len(after) != len(before) || back.LastSeq() != 25 {
		t.Fatalf("restarted node has LastSeq %d, want 25", back.LastSeq())
	}
	mustSeal(t, back, testSegments(500, 3))
	if _, ok, _ := back.Segment(testSegment(500).Key); !ok {
		t.Fatal("the restarted node does not read its own write")
	}
	all := c.waitConverged()
	for i, s := range testSegments(500, 3) {
		if e := all[25+i]; e.Seq != uint64(26+i) || e.Segment.Key != s.Key {
			t.Fatalf("entry %d is seq %d %s, want seq %d %s", 25+i, e.Seq, e.Segment.Key, 26+i, s.Key)
		}
	}
}

func TestClusterJoinFromSnapshot(t *testing.T) {
	const total, batch = 20_000, 10_000
	// The catalog is built on one node, so that three FSMs applying 20k
	// segments under -race do not starve 50ms heartbeats; the new nodes
	// then join it one after the other.
	c := mustCluster(t, 1, func(cfg *Config) { cfg.TrailingLogs = 4 })
	leader := c.nodes[0]
	start := time.Now()
	for from := 0; from < total; from += batch {
		mustSeal(t, leader, testSegments(from, batch))
	}
	t.Logf("sealed %d segments in %v", total, time.Since(start))
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if first, _ := leader.store.FirstIndex(); first <= 2 {
		t.Fatalf("the leader's log still starts at %d after the snapshot", first)
	}
	want := catalogDigest(t, leader)

	// node2 joins through the leader, node3 through node2, a follower.
	for via := range 2 {
		start := time.Now()
		n := c.add(via)
		changed := n.Changed()
		// Raft records the installed snapshot just after the catalog
		// restored it: wait for both.
		waitForWithin(t, 45*time.Second, n.ID()+" catches up from a snapshot", func() bool {
			idx, _ := strconv.Atoi(n.Stats()["last_snapshot_index"])
			return n.LastSeq() == total && idx > 0
		})
		t.Logf("%s caught up with %d segments in %v", n.ID(), total, time.Since(start))
		select {
		case <-changed:
		default:
			t.Fatalf("%s: Changed did not fire when the snapshot was restored", n.ID())
		}
		page, err := n.SegmentsAfter(0, 0)
		if err != nil || len(page) != DefaultPageLimit {
			t.Fatalf("%s: SegmentsAfter(0, 0): %d entries, %v", n.ID(), len(page), err)
		}
		if got := catalogDigest(t, n); got != want {
			t.Fatalf("%s holds a catalog that differs from the leader's", n.ID())
		}
	}
	// Paged the way the indexer pages, the newest node's catalog is the
	// leader's, entry for entry.
	for seq := uint64(0); seq < total; seq += DefaultPageLimit {
		got, err := c.nodes[2].SegmentsAfter(seq, 0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := leader.SegmentsAfter(seq, 0)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("SegmentsAfter(%d, 0) differs on node3 (%v)", seq, err)
		}
	}
	if ms := mustMembers(t, leader); len(ms) != 3 {
		t.Fatalf("members %v, want 3", memberIDs(ms))
	}
	// The grown cluster takes writes from the newest node.
	mustSeal(t, c.nodes[2], testSegments(total, 10))
	c.waitConverged()
	if leader.LastSeq() != total+10 {
		t.Fatalf("LastSeq %d, want %d", leader.LastSeq(), total+10)
	}
}

func TestClusterQuorumLoss(t *testing.T) {
	for _, survivor := range []string{"leader", "follower"} {
		t.Run("survivor="+survivor, func(t *testing.T) {
			c := mustCluster(t, 3)
			leader := c.leaderIndex()
			keep := leader
			if survivor == "follower" {
				keep = (leader + 1) % 3
			}
			for i := range c.nodes {
				if i != keep {
					c.stop(i)
				}
			}
			n := c.nodes[keep]
			for attempt := range 2 {
				start := time.Now()
				err := n.SealSegments(context.Background(), testSegments(attempt, 1))
				took := time.Since(start)
				t.Logf("attempt %d: %v after %v", attempt, err, took)
				if !errors.Is(err, ErrNoLeader) {
					t.Fatalf("SealSegments without a quorum: %v, want ErrNoLeader", err)
				}
				if limit := 2*n.noLeaderWait() + time.Second; took > limit {
					t.Fatalf("SealSegments without a quorum took %v, want under %v", took, limit)
				}
			}
			if _, err := n.LeaderLastSeq(context.Background()); !errors.Is(err, ErrNoLeader) {
				t.Fatalf("LeaderLastSeq without a quorum: %v, want ErrNoLeader", err)
			}
			// A cancelled ctx is respected even sooner.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			start := time.Now()
			if err := n.SealSegments(ctx, testSegments(9, 1)); err == nil || time.Since(start) > time.Second {
				t.Fatalf("SealSegments with a 20ms ctx: %v after %v", err, time.Since(start))
			}

			// One node back: a quorum again.
			c.start((keep + 1) % 3)
			c.waitLeader(n)
			mustSeal(t, n, testSegments(10, 2))
			c.waitConverged()
		})
	}
}

func TestClusterWrongSecretCannotJoin(t *testing.T) {
	c := mustCluster(t, 3)
	leader := c.leaderIndex()

	cfg := testConfig(t.TempDir())
	cfg.NodeID, cfg.Bootstrap = "intruder", false
	cfg.Secret = "not-the-cluster-secret-at-all"
	cfg.Join = []string{c.addr(0), c.addr(1), c.addr(2)}
	bad, err := Open(cfg, testLog(t).WithField("node", "intruder"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()

	// Every member it asks drops it, and says who it dropped.
	for i, h := range c.logs {
		var line logLine
		waitForWithin(t, 5*time.Second, c.cfgs[i].NodeID+" logs the intruder", func() bool {
			var ok bool
			line, ok = h.find("dropped unauthenticated cluster connection")
			return ok
		})
		if addr, _ := line.fields["remote_addr"].(string); len(addr) < len("127.0.0.1:1") || addr[:10] != "127.0.0.1:" {
			t.Fatalf("warning names remote_addr %q", line.fields["remote_addr"])
		}
	}
	// An admin adding it by hand fails too: the leader cannot authenticate
	// it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.follower().Join(ctx, "intruder", string(bad.trans.LocalAddr())); err == nil {
		t.Fatal("Join of a node with the wrong secret succeeded")
	}
	for _, n := range c.running() {
		if ids := memberIDs(mustMembers(t, n)); slices.Contains(ids, "intruder") || len(ids) != 3 {
			t.Fatalf("%s members: %v", n.ID(), ids)
		}
	}
	if bad.LeaderID() != "" {
		t.Fatalf("the intruder knows leader %q", bad.LeaderID())
	}
	// The cluster carries on.
	mustSeal(t, c.follower(), testSegments(0, 3))
	mustSeal(t, c.nodes[leader], testSegments(3, 3))
	checkSeqs(t, c.waitConverged(), testSegments(0, 6))
	if bad.LastSeq() != 0 {
		t.Fatal("the intruder got catalog entries")
	}
}

func TestRunWhileLeader(t *testing.T) {
	c := mustCluster(t, 3)
	type event struct {
		node  string
		start bool
		at    time.Time
	}
	events := make(chan event, 64)
	probe := func(id string) Job {
		return func(ctx context.Context) {
			events <- event{id, true, time.Now()}
			<-ctx.Done()
			events <- event{id, false, time.Now()}
		}
	}
	next := func() event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no leader job event within 10s")
			return event{}
		}
	}
	// Registered while already leading: it starts at once, on the leader
	// only.
	old := c.leaderIndex()
	for _, n := range c.nodes {
		n.RunWhileLeader("probe", probe(n.ID()))
	}
	if e := next(); !e.start || e.node != c.cfgs[old].NodeID {
		t.Fatalf("first event %+v, want a start on the leader %s", e, c.cfgs[old].NodeID)
	}
	select {
	case e := <-events:
		t.Fatalf("unexpected event %+v", e)
	case <-time.After(300 * time.Millisecond):
	}

	// Leadership moves: the old leader's job is cancelled within two
	// heartbeats of raft leaving the leader state, and the job starts on
	// the new leader.
	oldNode := c.nodes[old]
	lost := make(chan time.Time, 1)
	go func() {
		for oldNode.raft.State() == raft.Leader {
			time.Sleep(time.Millisecond)
		}
		lost <- time.Now()
	}()
	// The transfer is how the test moves leadership, not what it checks;
	// on a loaded machine with 50 ms timeouts one attempt can time out.
	var terr error
	for attempt := 0; attempt < 5; attempt++ {
		if terr = oldNode.raft.LeadershipTransfer().Error(); terr == nil || oldNode.raft.State() != raft.Leader {
			break
		}
	}
	if terr != nil && oldNode.raft.State() == raft.Leader {
		t.Fatalf("leadership transfer: %v", terr)
	}
	lostAt := <-lost
	stop := next()
	if stop.start || stop.node != oldNode.ID() {
		t.Fatalf("event %+v, want the old leader's job to stop", stop)
	}
	delay := stop.at.Sub(lostAt)
	t.Logf("job cancelled %v after the old leader left the leader state", delay)
	if limit := 2 * oldNode.cfg.HeartbeatTimeout; delay > limit {
		t.Fatalf("job cancelled %v after leadership was lost, want within %v", delay, limit)
	}
	now := c.leaderIndex()
	if e := next(); !e.start || e.node != c.cfgs[now].NodeID || now == old {
		t.Fatalf("event %+v, want a start on the new leader %s", e, c.cfgs[now].NodeID)
	}

	// Close stops the job and waits for it.
	c.stop(now)
	if e := next(); e.start || e.node != c.cfgs[now].NodeID {
		t.Fatalf("event %+v, want the closed leader's job to stop", e)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("registering a job name twice did not panic")
			}
		}()
		c.nodes[old].RunWhileLeader("probe", probe("again"))
	}()
}

func TestClusterRemove(t *testing.T) {
	c := mustCluster(t, 3)
	leader := c.leaderIndex()
	gone, asker := (leader+1)%3, (leader+2)%3
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A follower, removed by asking the other follower.
	if err := c.nodes[asker].Remove(ctx, c.cfgs[gone].NodeID); err != nil {
		t.Fatalf("Remove follower: %v", err)
	}
	if ids := memberIDs(mustMembers(t, c.nodes[leader])); len(ids) != 2 || slices.Contains(ids, c.cfgs[gone].NodeID) {
		t.Fatalf("members after Remove: %v", ids)
	}
	c.stop(gone)
	if err := c.nodes[asker].Remove(ctx, "nobody"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("Remove of an unknown member: %v, want ErrUnknownMember", err)
	}
	mustSeal(t, c.nodes[asker], testSegments(0, 2))

	// The leader removes itself: it steps down and the last node leads.
	if err := c.nodes[leader].Remove(ctx, c.cfgs[leader].NodeID); err != nil {
		t.Fatalf("Remove the leader: %v", err)
	}
	last := c.nodes[asker]
	waitForWithin(t, 10*time.Second, "the last node leads", last.IsLeader)
	if c.nodes[leader].IsLeader() {
		t.Fatal("the removed leader still leads")
	}
	c.stop(leader)
	mustSeal(t, last, testSegments(2, 2))
	if ids := memberIDs(mustMembers(t, last)); !reflect.DeepEqual(ids, []string{last.ID()}) {
		t.Fatalf("members at the end: %v", ids)
	}
	checkSeqs(t, mustAll(t, last), testSegments(0, 4))
}

func TestClusterMembers(t *testing.T) {
	c := mustCluster(t, 3)
	mustSeal(t, c.follower(), testSegments(0, 7))
	c.waitConverged()
	leader := c.leader()

	for _, n := range c.running() {
		ms := mustMembers(t, n)
		if !reflect.DeepEqual(memberIDs(ms), []string{"node1", "node2", "node3"}) {
			t.Fatalf("%s: members %v", n.ID(), memberIDs(ms))
		}
		for _, m := range ms {
			if !m.Voter || !m.Reachable || m.AppliedIndex == 0 || m.LastSeq != 7 {
				t.Fatalf("%s sees %+v", n.ID(), m)
			}
			if m.Leader != (m.ID == leader.ID()) {
				t.Fatalf("%s sees %s with Leader %v; the leader is %s", n.ID(), m.ID, m.Leader, leader.ID())
			}
			if m.LastContact < 0 || m.LastContact > time.Second || (m.Leader && n == leader && m.LastContact != 0) {
				t.Fatalf("%s sees %s with LastContact %v", n.ID(), m.ID, m.LastContact)
			}
		}
	}

	// A follower down: unreachable, and the leader sees its contact age.
	down := c.follower()
	idx := slices.Index(c.nodes, down)
	c.stop(idx)
	time.Sleep(300 * time.Millisecond)
	for _, m := range mustMembers(t, leader) {
		if m.ID != down.ID() {
			continue
		}
		if m.Reachable || m.LastSeq != 0 {
			t.Fatalf("stopped member reported %+v", m)
		}
		if m.LastContact < 200*time.Millisecond {
			t.Fatalf("stopped member's LastContact %v, want at least the 300ms since it stopped", m.LastContact)
		}
	}
}

func TestOpenRefusesJoinWithoutSecret(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Bootstrap, cfg.Join = false, []string{"127.0.0.1:1"}
	if n, err := Open(cfg, testLog(t)); err == nil {
		n.Close()
		t.Fatal("Open with Join and no Secret succeeded")
	}
}

func TestSingleNodeWithoutSecretRefusesPeers(t *testing.T) {
	n := mustOpenNode(t) // bootstrapped alone, no secret
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Join(ctx, "node2", "127.0.0.1:1"); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Join on a node without a secret: %v, want ErrNoSecret", err)
	}
	ms := mustMembers(t, n)
	if len(ms) != 1 || !ms[0].Leader || !ms[0].Reachable || ms[0].LastContact != 0 {
		t.Fatalf("members of a single node: %+v", ms)
	}
	seq, err := n.LeaderLastSeq(ctx)
	if err != nil || seq != 0 {
		t.Fatalf("LeaderLastSeq = %d, %v", seq, err)
	}
	mustSeal(t, n, testSegments(0, 2))
	if seq, err := n.LeaderLastSeq(ctx); err != nil || seq != 2 {
		t.Fatalf("LeaderLastSeq = %d, %v; want 2", seq, err)
	}
	if n.ID() != "node1" || n.LeaderID() != "node1" {
		t.Fatalf("ID %q, LeaderID %q", n.ID(), n.LeaderID())
	}
}

func TestLeaderLastSeqFromFollower(t *testing.T) {
	c := mustCluster(t, 3)
	mustSeal(t, c.leader(), testSegments(0, 4))
	f := c.follower()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seq, err := f.LeaderLastSeq(ctx)
	if err != nil || seq != 4 {
		t.Fatalf("LeaderLastSeq on a follower = %d, %v; want 4", seq, err)
	}
	// A seal through the follower is covered at once.
	mustSeal(t, f, testSegments(4, 1))
	for _, n := range c.running() {
		if seq, err := n.LeaderLastSeq(ctx); err != nil || seq != 5 {
			t.Fatalf("%s: LeaderLastSeq = %d, %v; want 5", n.ID(), seq, err)
		}
	}
}
