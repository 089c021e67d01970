package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

func TestSealAndRead(t *testing.T) {
	n := mustOpenNode(t)
	segs := testSegments(0, 3)
	mustSeal(t, n, segs)

	for _, want := range segs {
		got, ok, err := n.Segment(want.Key)
		if err != nil || !ok {
			t.Fatalf("Segment(%s) = _, %v, %v", want.Key, ok, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Segment(%s) =\n%+v\nwant\n%+v", want.Key, got, want)
		}
	}
	if _, ok, err := n.Segment("tenant-a/nope"); ok || err != nil {
		t.Fatalf("Segment(unknown) = _, %v, %v; want not found", ok, err)
	}
	if c, err := n.SegmentCount(); c != 3 || err != nil {
		t.Fatalf("SegmentCount = %d, %v; want 3", c, err)
	}
	if got := n.LastSeq(); got != 3 {
		t.Fatalf("LastSeq = %d, want 3", got)
	}
	checkSeqs(t, mustAll(t, n), segs)
	if n.AppliedIndex() == 0 {
		t.Fatal("AppliedIndex = 0 after a write")
	}
	if s := n.Stats(); s["state"] != "Leader" || s["catalog_last_seq"] != "3" {
		t.Fatalf("Stats: state %q, catalog_last_seq %q", s["state"], s["catalog_last_seq"])
	}
}

func TestSealIdempotent(t *testing.T) {
	n := mustOpenNode(t)
	mustSeal(t, n, testSegments(0, 2))
	// A retry of the same segments, with a new one and a duplicate in the
	// same call: only the new one is recorded, and it gets the next seq.
	again := append(testSegments(0, 3), testSegment(2))
	mustSeal(t, n, again)
	mustSeal(t, n, again)

	if c, _ := n.SegmentCount(); c != 3 {
		t.Fatalf("SegmentCount = %d, want 3", c)
	}
	checkSeqs(t, mustAll(t, n), testSegments(0, 3))
}

func TestSealConflict(t *testing.T) {
	n := mustOpenNode(t)
	mustSeal(t, n, testSegments(0, 1))
	changed := testSegment(0)
	changed.SHA256 = "00" + changed.SHA256[2:]

	ctx := context.Background()
	err := n.SealSegments(ctx, []archive.Segment{testSegment(1), changed})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("re-seal with a different sha256: err = %v, want ErrConflict", err)
	}
	// The command is all or nothing: segment 1 was not recorded either.
	if _, ok, _ := n.Segment(testSegment(1).Key); ok {
		t.Fatal("a segment of the conflicting command was recorded")
	}
	// The same key twice with different hashes in one call.
	err = n.SealSegments(ctx, []archive.Segment{testSegment(5), func() archive.Segment {
		s := testSegment(5)
		s.SHA256 = "ff" + s.SHA256[2:]
		return s
	}()})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("one call with two hashes for a key: err = %v, want ErrConflict", err)
	}
	got, _, _ := n.Segment(testSegment(0).Key)
	if got.SHA256 != testSegment(0).SHA256 {
		t.Fatal("the recorded sha256 changed")
	}
	if c, _ := n.SegmentCount(); c != 1 || n.LastSeq() != 1 {
		t.Fatalf("SegmentCount = %d, LastSeq = %d; want 1, 1", c, n.LastSeq())
	}
	// The node keeps working after a rejected command.
	mustSeal(t, n, testSegments(1, 1))
	checkSeqs(t, mustAll(t, n), testSegments(0, 2))
}

func TestSealInvalid(t *testing.T) {
	n := mustOpenNode(t)
	for name, s := range map[string]archive.Segment{
		"no key":    {SHA256: "ab"},
		"no sha256": {Key: "k"},
	} {
		if err := n.SealSegments(context.Background(), []archive.Segment{s}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if err := n.SealSegments(context.Background(), nil); err != nil {
		t.Fatalf("sealing nothing: %v", err)
	}
}

func TestSegmentsAfterPaging(t *testing.T) {
	n := mustOpenNode(t)
	all := testSegments(0, 25)
	mustSeal(t, n, all[:7])
	mustSeal(t, n, all[7:20])
	mustSeal(t, n, all[20:])

	var got []Entry
	var sizes []int
	for {
		page, err := n.SegmentsAfter(lastSeqOf(got), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		sizes = append(sizes, len(page))
		got = append(got, page...)
	}
	if !reflect.DeepEqual(sizes, []int{10, 10, 5}) {
		t.Fatalf("page sizes %v, want [10 10 5]", sizes)
	}
	checkSeqs(t, got, all)
	for i, e := range got {
		if !reflect.DeepEqual(e.Segment, all[i]) {
			t.Fatalf("seq %d: segment differs from what was sealed", e.Seq)
		}
	}
	mid, _ := n.SegmentsAfter(17, 3)
	if len(mid) != 3 || mid[0].Seq != 18 || mid[2].Seq != 20 {
		t.Fatalf("SegmentsAfter(17, 3) = seqs %v", seqs(mid))
	}
	if rest, _ := n.SegmentsAfter(n.LastSeq(), 10); len(rest) != 0 {
		t.Fatalf("SegmentsAfter(LastSeq) returned %d entries", len(rest))
	}
	if def, _ := n.SegmentsAfter(0, 0); len(def) != 25 {
		t.Fatalf("SegmentsAfter(0, 0) returned %d entries, want all 25", len(def))
	}
}

func seqs(es []Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func TestChangedFires(t *testing.T) {
	n := mustOpenNode(t)
	ch := n.Changed()
	select {
	case <-ch:
		t.Fatal("Changed fired before any change")
	default:
	}

	// A follower that waits, wakes and reads.
	got := make(chan []Entry, 1)
	go func() {
		<-ch
		es, _ := n.SegmentsAfter(0, 10)
		got <- es
	}()
	mustSeal(t, n, testSegments(0, 2))
	select {
	case es := <-got:
		if len(es) != 2 {
			t.Fatalf("woken follower read %d entries, want 2", len(es))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Changed did not fire after a seal")
	}

	next := n.Changed()
	if next == ch {
		t.Fatal("Changed returned the fired channel again")
	}
	mustSeal(t, n, testSegments(0, 2)) // no-op re-seal: nothing changed
	select {
	case <-next:
		t.Fatal("Changed fired for a no-op re-seal")
	default:
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-next:
	default:
		t.Fatal("Close did not wake Changed waiters")
	}
}

func TestRestartKeepsCatalog(t *testing.T) {
	n := mustOpenNode(t)
	first := testSegments(0, 10)
	mustSeal(t, n, first[:4])
	mustSeal(t, n, first[4:])
	before := mustAll(t, n)

	n = restart(t, n)
	if c, err := n.SegmentCount(); c != 10 || err != nil {
		t.Fatalf("after restart SegmentCount = %d, %v; want 10", c, err)
	}
	if n.LastSeq() != 10 {
		t.Fatalf("after restart LastSeq = %d, want 10", n.LastSeq())
	}
	if after := mustAll(t, n); !reflect.DeepEqual(after, before) {
		t.Fatal("catalog differs after restart")
	}
	// Seq continues; re-sealing old segments does not duplicate them.
	mustSeal(t, n, testSegments(5, 10))
	checkSeqs(t, mustAll(t, n), testSegments(0, 15))
}

func TestSnapshotAndRestart(t *testing.T) {
	n := mustOpenNode(t)
	mustSeal(t, n, testSegments(0, 10))
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	mustSeal(t, n, testSegments(10, 5)) // after the snapshot: only in the log
	want := mustAll(t, n)
	dir := n.cfg.Dir

	// The catalog is current: restart keeps it as it is.
	n = restart(t, n)
	if snap, _ := strconv.Atoi(n.Stats()["last_snapshot_index"]); snap == 0 {
		t.Fatal("no snapshot recorded")
	}
	if got := mustAll(t, n); !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart: %d entries, want %d", len(got), len(want))
	}

	// The catalog is lost: raft restores the snapshot and replays the rest.
	cfg := n.cfg
	cfg.RaftListen = string(n.trans.LocalAddr())
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, fsmFile)); err != nil {
		t.Fatal(err)
	}
	n = mustOpenNodeWith(t, cfg)
	waitFor(t, func() bool { return n.LastSeq() == 15 })
	if got := mustAll(t, n); !reflect.DeepEqual(got, want) {
		t.Fatalf("rebuilt from snapshot and log: %d entries, want %d", len(got), len(want))
	}
	mustSeal(t, n, testSegments(15, 1))
	if n.LastSeq() != 16 {
		t.Fatalf("LastSeq = %d after rebuild and one more seal, want 16", n.LastSeq())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCatalogFromOtherRaftStateRefused(t *testing.T) {
	n := mustOpenNode(t)
	mustSeal(t, n, testSegments(0, 3))
	dir := n.cfg.Dir
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// Raft state gone, catalog kept: applying a new log onto it would skip
	// entries by index, so Open must refuse.
	if err := os.Remove(filepath.Join(dir, raftFile)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(testConfig(dir), testLog(t))
	if err == nil || !strings.Contains(err.Error(), "does not belong to this raft log") {
		t.Fatalf("Open of a catalog ahead of its raft log: %v", err)
	}
}

func TestNotLeaderWithoutBootstrap(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Bootstrap = false
	if n, err := Open(cfg, testLog(t)); err == nil {
		n.Close()
		t.Fatal("Open of a node that neither bootstraps nor has a secret succeeded")
	}
	cfg.Secret = testSecret // it waits for a leader to add it
	n, err := Open(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := n.WaitLeader(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitLeader with no cluster: %v, want a deadline error", err)
	}
	if n.IsLeader() || n.LeaderAddr() != "" {
		t.Fatal("an unbootstrapped node claims a leader")
	}
	start := time.Now()
	if err := n.SealSegments(context.Background(), testSegments(0, 1)); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("SealSegments with no leader: %v, want ErrNoLeader", err)
	}
	if took := time.Since(start); took > 2*n.noLeaderWait()+time.Second {
		t.Fatalf("SealSegments with no leader took %v", took)
	}
}

func TestApplyTimeout(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.ApplyTimeout = time.Nanosecond
	n := mustOpenNodeWith(t, cfg)
	if err := n.SealSegments(context.Background(), testSegments(0, 1)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("SealSegments with a 1ns ApplyTimeout: %v, want ErrTimeout", err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	n := mustOpenNode(t)
	mustSeal(t, n, testSegments(0, 1))
	for range 2 {
		if err := n.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if err := n.SealSegments(context.Background(), testSegments(1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("SealSegments after Close: %v, want ErrClosed", err)
	}
	if _, _, err := n.Segment(testSegment(0).Key); !errors.Is(err, ErrClosed) {
		t.Fatalf("Segment after Close: %v, want ErrClosed", err)
	}
	if err := n.WaitLeader(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitLeader after Close: %v, want ErrClosed", err)
	}
}

func TestOpenValidates(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no id":     {RaftListen: "127.0.0.1:0", Dir: t.TempDir()},
		"no listen": {NodeID: "n", Dir: t.TempDir()},
		"no dir":    {NodeID: "n", RaftListen: "127.0.0.1:0"},
		"0.0.0.0":   {NodeID: "n", RaftListen: "0.0.0.0:0", Dir: t.TempDir()},
	} {
		if n, err := Open(cfg, testLog(t)); err == nil {
			n.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

func TestRestartOnNewPort(t *testing.T) {
	n := mustOpenNode(t)
	mustSeal(t, n, testSegments(0, 3))
	cfg := n.cfg // RaftListen 127.0.0.1:0: the port changes on restart
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = mustOpenNodeWith(t, cfg)
	mustSeal(t, n, testSegments(3, 1))
	checkSeqs(t, mustAll(t, n), testSegments(0, 4))
}
