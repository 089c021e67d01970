package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
)

// testLog returns a logger that writes into t.Log until the test ends.
func testLog(t testing.TB) *logrus.Entry {
	t.Helper()
	w := &tbWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs after every Close
	l := logrus.New()
	l.SetOutput(w)
	l.SetLevel(logrus.InfoLevel)
	if _, ok := t.(*testing.B); ok {
		l.SetLevel(logrus.WarnLevel)
	}
	return logrus.NewEntry(l)
}

type tbWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tbWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// testConfig is a single node on loopback with short timeouts.
func testConfig(dir string) Config {
	return Config{
		NodeID:             "node1",
		RaftListen:         "127.0.0.1:0",
		Dir:                dir,
		Bootstrap:          true,
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 200 * time.Millisecond,
		// Tests seal batches of thousands of segments under -race, and CI
		// machines can be loaded: the timeout bounds a hang, it does not
		// measure speed.
		ApplyTimeout: time.Minute,
	}
}

// mustOpenNode opens a bootstrapped single node in a temporary directory
// and waits until it leads.
func mustOpenNode(t testing.TB) *Node {
	t.Helper()
	return mustOpenNodeWith(t, testConfig(t.TempDir()))
}

func mustOpenNodeWith(t testing.TB, cfg Config) *Node {
	t.Helper()
	n, err := Open(cfg, testLog(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatalf("WaitLeader: %v", err)
	}
	if !n.IsLeader() {
		t.Fatalf("single node is not the leader (leader %q)", n.LeaderAddr())
	}
	return n
}

// restart closes n and reopens its directory on the same raft address.
func restart(t testing.TB, n *Node) *Node {
	t.Helper()
	cfg := n.cfg
	cfg.RaftListen = string(n.trans.LocalAddr())
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return mustOpenNodeWith(t, cfg)
}

var testEpoch = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// testSegment returns a distinct, realistic segment for i.
func testSegment(i int) archive.Segment {
	key := fmt.Sprintf("tenant-a/%s/seg-%08d.ndjson.zst", testEpoch.AddDate(0, 0, i%30).Format("2006/01/02"), i)
	sum := sha256.Sum256([]byte(key))
	sealed := testEpoch.Add(time.Duration(i) * time.Second)
	return archive.Segment{
		Key:            key,
		VersionID:      fmt.Sprintf("v%d", i),
		Tenant:         "tenant-a",
		Node:           "node1",
		SHA256:         hex.EncodeToString(sum[:]),
		Size:           16<<20 + int64(i),
		Count:          1000 + i%100,
		RetainUntil:    testEpoch.AddDate(7, 0, i%30),
		MinSentAt:      sealed.Add(-30 * time.Second),
		MaxSentAt:      sealed,
		ManifestOffset: 16 << 20,
		ManifestLength: 4096,
		SealedAt:       sealed,
	}
}

func testSegments(from, n int) []archive.Segment {
	segs := make([]archive.Segment, n)
	for i := range segs {
		segs[i] = testSegment(from + i)
	}
	return segs
}

// While no leader is known (an election under load: on 2 cores a
// heartbeat can miss its timeout) it retries, as the uploader does: a seal
// is idempotent by segment key, so a retry after an unknown outcome records
// nothing twice.
func mustSeal(t testing.TB, n *Node, segs []archive.Segment) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err := n.SealSegments(ctx, segs)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNoLeader) || ctx.Err() != nil {
			t.Fatalf("SealSegments: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("SealSegments: %v (no leader for 30s)", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// mustAll returns the whole catalog in seq order.
func mustAll(t testing.TB, n *Node) []Entry {
	t.Helper()
	var all []Entry
	for {
		page, err := n.SegmentsAfter(lastSeqOf(all), 1000)
		if err != nil {
			t.Fatalf("SegmentsAfter: %v", err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
	}
}

func lastSeqOf(es []Entry) uint64 {
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].Seq
}

// checkSeqs asserts that entries carry seqs 1..len in order, for keys in
// the given order.
func checkSeqs(t testing.TB, got []Entry, want []archive.Segment) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("catalog has %d entries, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d, want %d", i, e.Seq, i+1)
		}
		if e.Segment.Key != want[i].Key {
			t.Fatalf("seq %d is %s, want %s", e.Seq, e.Segment.Key, want[i].Key)
		}
	}
}
