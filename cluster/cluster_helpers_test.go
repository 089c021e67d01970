package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"
)

// testSecret is the cluster secret of test clusters.
const testSecret = "test-cluster-secret-0123456789"

// testCluster is an in-process cluster on 127.0.0.1.
type testCluster struct {
	t     *testing.T
	nodes []*Node // nil while stopped
	cfgs  []Config
	logs  []*logHook
	opts  []func(*Config)
}

// mustCluster starts size nodes: node1 bootstrapped alone, the others
// joining through it with Config.Join. It waits until every node is in
// the configuration and knows the leader. opts adjust every node's config.
func mustCluster(t *testing.T, size int, opts ...func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, opts: opts}
	t.Cleanup(c.closeAll)
	for range size {
		c.add(0)
	}
	c.waitLeader(c.nodes[0])
	for _, n := range c.nodes {
		waitForWithin(t, 15*time.Second, fmt.Sprintf("%s joined", n.ID()), n.joined)
	}
	if ms := mustMembers(t, c.leader()); len(ms) != size {
		t.Fatalf("cluster has %d members, want %d", len(ms), size)
	}
	return c
}

// add starts a new node: the first is bootstrapped alone, the next join
// through node via (Config.Join). It returns at once.
func (c *testCluster) add(via int) *Node {
	c.t.Helper()
	i := len(c.nodes)
	cfg := testConfig(c.t.TempDir())
	cfg.NodeID = fmt.Sprintf("node%d", i+1)
	cfg.Secret = testSecret
	cfg.Bootstrap = i == 0
	if i > 0 {
		cfg.Join = []string{c.addr(via)}
	}
	for _, o := range c.opts {
		o(&cfg)
	}
	c.cfgs, c.nodes, c.logs = append(c.cfgs, cfg), append(c.nodes, nil), append(c.logs, nil)
	return c.start(i)
}

// start opens node i from its config; after the first start, on the same
// raft address and directory.
func (c *testCluster) start(i int) *Node {
	c.t.Helper()
	log, hook := captureLog(c.t)
	n, err := Open(c.cfgs[i], log.WithField("node", c.cfgs[i].NodeID))
	if err != nil {
		c.t.Fatalf("Open %s: %v", c.cfgs[i].NodeID, err)
	}
	c.nodes[i], c.logs[i] = n, hook
	c.cfgs[i].RaftListen = string(n.trans.LocalAddr())
	return n
}

// stop closes node i.
func (c *testCluster) stop(i int) {
	c.t.Helper()
	if err := c.nodes[i].Close(); err != nil {
		c.t.Fatalf("Close %s: %v", c.cfgs[i].NodeID, err)
	}
	c.nodes[i] = nil
}

func (c *testCluster) closeAll() {
	for i, n := range c.nodes {
		if n != nil {
			if err := n.Close(); err != nil {
				c.t.Errorf("Close %s: %v", c.cfgs[i].NodeID, err)
			}
		}
	}
}

// addr is node i's raft address.
func (c *testCluster) addr(i int) string { return c.cfgs[i].RaftListen }

// running returns the nodes not stopped.
func (c *testCluster) running() []*Node {
	var out []*Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// leaderIndex waits until exactly one running node leads and every
// running node agrees, and returns its index.
func (c *testCluster) leaderIndex() int {
	c.t.Helper()
	idx := -1
	waitForWithin(c.t, 10*time.Second, "one leader all agree on", func() bool {
		idx = -1
		for i, n := range c.nodes {
			if n != nil && n.IsLeader() {
				if idx >= 0 {
					return false
				}
				idx = i
			}
		}
		if idx < 0 {
			return false
		}
		for _, n := range c.running() {
			if n.LeaderID() != c.cfgs[idx].NodeID {
				return false
			}
		}
		return true
	})
	return idx
}

func (c *testCluster) leader() *Node { return c.nodes[c.leaderIndex()] }

// follower returns a running node that is not the leader.
func (c *testCluster) follower() *Node {
	c.t.Helper()
	l := c.leaderIndex()
	for i, n := range c.nodes {
		if n != nil && i != l {
			return n
		}
	}
	c.t.Fatal("no follower running")
	return nil
}

func (c *testCluster) waitLeader(n *Node) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		c.t.Fatalf("%s WaitLeader: %v", n.ID(), err)
	}
}

// waitConverged waits until every running node holds the same catalog,
// byte for byte, and returns it.
func (c *testCluster) waitConverged() []Entry {
	c.t.Helper()
	nodes := c.running()
	waitForWithin(c.t, 30*time.Second, "catalogs converge", func() bool {
		seq := nodes[0].LastSeq()
		for _, n := range nodes[1:] {
			if n.LastSeq() != seq {
				return false
			}
		}
		return true
	})
	want := catalogDigest(c.t, nodes[0])
	for _, n := range nodes[1:] {
		if got := catalogDigest(c.t, n); got != want {
			c.t.Fatalf("%s holds a catalog that differs from %s's", n.ID(), nodes[0].ID())
		}
	}
	return mustAll(c.t, nodes[0])
}

// catalogDigest hashes the catalog as stored: every seq with its key and
// the segment's bytes, in seq order, and the counters.
func catalogDigest(t testing.TB, n *Node) string {
	t.Helper()
	h := sha256.New()
	err := n.fsm.view(func(tx *bolt.Tx) error {
		segs := tx.Bucket(bucketSegments)
		c := tx.Bucket(bucketSeq).Cursor()
		for k, key := c.First(); k != nil; k, key = c.Next() {
			h.Write(k)
			h.Write(key)
			h.Write(segs.Get(key))
		}
		meta := tx.Bucket(bucketMeta)
		h.Write(meta.Get(metaLastSeq))
		h.Write(meta.Get(metaCount))
		return nil
	})
	if err != nil {
		t.Fatalf("%s: digest catalog: %v", n.ID(), err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func mustMembers(t *testing.T, n *Node) []Member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ms, err := n.Members(ctx)
	if err != nil {
		t.Fatalf("%s Members: %v", n.ID(), err)
	}
	return ms
}

func memberIDs(ms []Member) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

func waitForWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// captureLog is testLog that also keeps the warnings and errors logged.
func captureLog(t testing.TB) (*logrus.Entry, *logHook) {
	log := testLog(t)
	h := &logHook{}
	log.Logger.AddHook(h)
	return log, h
}

// logHook keeps warning and error log lines.
type logHook struct {
	mu      sync.Mutex
	entries []logLine
}

type logLine struct {
	msg    string
	fields logrus.Fields
}

func (h *logHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.ErrorLevel, logrus.WarnLevel}
}

func (h *logHook) Fire(e *logrus.Entry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	fields := make(logrus.Fields, len(e.Data))
	for k, v := range e.Data {
		fields[k] = v
	}
	h.entries = append(h.entries, logLine{e.Message, fields})
	return nil
}

// find returns the first kept line whose message contains msg.
func (h *logHook) find(msg string) (logLine, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		if strings.Contains(e.msg, msg) {
			return e, true
		}
	}
	return logLine{}, false
}
