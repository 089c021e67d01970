package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/fsstore"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fakeMatcher matches a hold's custodians against which custodians each
// segment holds, as the index would.
type fakeMatcher struct {
	mu      sync.Mutex
	members map[string][]string // segment key -> custodians inside
	node    *Node
}

func (m *fakeMatcher) set(key string, custodians ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.members[key] = custodians
}

func (m *fakeMatcher) MatchSegments(_ context.Context, c archive.HoldCriteria, keys []string) (map[string]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for key, who := range m.members {
		if keys != nil && !slices.Contains(keys, key) {
			continue
		}
		for _, c := range c.Custodians {
			if slices.Contains(who, c) {
				out[key] = 10
			}
		}
	}
	return out, nil
}

func (m *fakeMatcher) Indexed() uint64 { return m.node.LastSeq() }

// retentionFixture is a single node with an fs store, a fake clock and the
// retention jobs running.
type retentionFixture struct {
	t       *testing.T
	node    *Node
	store   *fsstore.Store
	clock   *fakeClock
	matcher *fakeMatcher
	n       int
}

func newRetentionFixture(t *testing.T, opts ...func(*Retention)) *retentionFixture {
	clock := newFakeClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	store, err := fsstore.Open(t.TempDir(), fsstore.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir())
	cfg.Now = clock.Now
	n := mustOpenNodeWith(t, cfg)
	m := &fakeMatcher{members: map[string][]string{}, node: n}
	r := Retention{Store: store, Matcher: m, Poll: 20 * time.Millisecond, HoldWait: 30 * time.Second, Log: testLog(t)}
	for _, o := range opts {
		o(&r)
	}
	n.RunRetention(r)
	return &retentionFixture{t: t, node: n, store: store, clock: clock, matcher: m}
}

// put stores and catalogues a segment kept for keep, holding messages of
// the custodians.
func (f *retentionFixture) put(keep time.Duration, custodians ...string) archive.Segment {
	f.t.Helper()
	f.n++
	key := fmt.Sprintf("segments/t/2026/11/21/node1-%d.ndjson.zst", f.n)
	body := []byte(fmt.Sprintf("segment %d", f.n))
	sum := sha256.Sum256(body)
	until := f.clock.Now().Add(keep)
	info, err := f.store.Put(context.Background(), key, bytes.NewReader(body), int64(len(body)), archive.PutOptions{RetainUntil: until})
	if err != nil {
		f.t.Fatal(err)
	}
	seg := archive.Segment{Key: key, VersionID: info.VersionID, Tenant: "t", Node: "node1", SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(body)), Count: 10, RetainUntil: until}
	f.matcher.set(key, custodians...)
	mustSeal(f.t, f.node, []archive.Segment{seg})
	return seg
}

func (f *retentionFixture) legalHold(key string) bool {
	f.t.Helper()
	info, err := f.store.Stat(context.Background(), key)
	if err != nil {
		f.t.Fatalf("stat %s: %v", key, err)
	}
	return info.LegalHold
}

func (f *retentionFixture) exists(key string) bool {
	f.t.Helper()
	vs, err := f.store.Versions(context.Background(), key)
	if err != nil && !errors.Is(err, archive.ErrNotFound) {
		f.t.Fatal(err)
	}
	return len(vs) > 0
}

// sweep runs a sweep to its end and returns its report.
func (f *retentionFixture) sweep(dryRun bool) Sweep {
	f.t.Helper()
	s, err := f.node.StartSweep(context.Background(), dryRun, TriggerAPI, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	var done Sweep
	waitForWithin(f.t, 30*time.Second, "sweep "+s.ID+" to finish", func() bool {
		done, err = f.node.Sweep(s.ID)
		return err == nil && done.State != SweepRunning
	})
	return done
}

func (f *retentionFixture) hold(custodian string) archive.Hold {
	f.t.Helper()
	h, err := f.node.PlaceHold(context.Background(), archive.Hold{Matter: "matter " + custodian, Reason: "litigation",
		Criteria: archive.HoldCriteria{Custodians: []string{custodian}}, CreatedBy: "legal"})
	if err != nil {
		f.t.Fatal(err)
	}
	f.waitCovered(h.ID)
	h, _ = f.node.Hold(h.ID)
	return h
}

func (f *retentionFixture) waitCovered(id string) {
	waitForWithin(f.t, 30*time.Second, "hold "+id+" to cover the catalog", func() bool {
		h, err := f.node.Hold(id)
		return err == nil && h.CoveredSeq >= f.node.LastSeq()
	})
}

func (f *retentionFixture) release(id string) {
	f.t.Helper()
	if _, err := f.node.ReleaseHold(context.Background(), id, "legal", "matter closed"); err != nil {
		f.t.Fatal(err)
	}
	waitForWithin(f.t, 30*time.Second, "hold "+id+" released", func() bool {
		h, err := f.node.Hold(id)
		return err == nil && h.State == archive.HoldReleased
	})
}

func TestSweepDeletesExpiredUnheldAndReportsIt(t *testing.T) {
	f := newRetentionFixture(t)
	short1 := f.put(10*time.Second, "bob")
	short2 := f.put(20*time.Second, "bob")
	long := f.put(time.Hour, "bob")
	f.clock.Advance(30 * time.Second)

	dry := f.sweep(true)
	if dry.WouldDelete.Segments != 2 || dry.Deleted.Segments != 0 || !f.exists(short1.Key) {
		t.Fatalf("dry run: %+v; object still there: %v", dry, f.exists(short1.Key))
	}
	s := f.sweep(false)
	if s.State != SweepFinished || s.Examined.Segments != 2 || s.Deleted.Segments != 2 || s.Deleted.Messages != 20 ||
		s.Deleted.Bytes != short1.Size+short2.Size || s.Refused.Segments != 0 || s.SkippedHeld.Segments != 0 {
		t.Fatalf("report %+v", s)
	}
	if f.exists(short1.Key) || f.exists(short2.Key) || !f.exists(long.Key) {
		t.Fatalf("after sweep: short1 %v short2 %v long %v", f.exists(short1.Key), f.exists(short2.Key), f.exists(long.Key))
	}
	// The catalog shows the tombstones after everything else, for the
	// index to drop their documents.
	all := mustAll(t, f.node)
	tail := all[len(all)-2:]
	for _, e := range tail {
		if !e.Segment.Expired || e.Segment.Sweep != s.ID {
			t.Fatalf("catalog tail %+v is not the tombstone of the sweep", e)
		}
	}
	if again := f.sweep(false); again.Examined.Segments != 0 {
		t.Fatalf("a second sweep examined %d segments", again.Examined.Segments)
	}
}

func TestHoldKeepsCustodianThroughSweepsUntilReleased(t *testing.T) {
	f := newRetentionFixture(t)
	aliceOld := f.put(10*time.Second, "alice", "bob")
	bobOld := f.put(10*time.Second, "bob")
	h := f.hold("alice")
	if h.Segments != 1 || h.Messages != 10 || !f.legalHold(aliceOld.Key) || f.legalHold(bobOld.Key) {
		t.Fatalf("hold %+v; legal hold alice %v bob %v", h, f.legalHold(aliceOld.Key), f.legalHold(bobOld.Key))
	}
	// A segment sealed after the hold with a matching message is held too.
	aliceNew := f.put(10*time.Second, "alice")
	f.waitCovered(h.ID)
	if !f.legalHold(aliceNew.Key) {
		t.Fatal("a segment sealed after the hold is not under legal hold")
	}
	f.clock.Advance(time.Minute)
	for range 3 {
		s := f.sweep(false)
		if !f.exists(aliceOld.Key) || !f.exists(aliceNew.Key) {
			t.Fatalf("a held segment was deleted: %+v", s)
		}
		if s.SkippedHeld.Segments != 2 || s.Refused.Segments != 0 {
			t.Fatalf("report %+v", s)
		}
	}
	if f.exists(bobOld.Key) {
		t.Fatal("the unheld expired segment survived the sweeps")
	}
	f.release(h.ID)
	if f.legalHold(aliceOld.Key) || f.legalHold(aliceNew.Key) {
		t.Fatal("legal hold still on after release")
	}
	if got, _ := f.node.Hold(h.ID); got.Segments != 2 || got.Messages != 20 {
		t.Fatalf("released hold counts %+v, want what it covered", got)
	}
	s := f.sweep(false)
	if s.Deleted.Segments != 2 || f.exists(aliceOld.Key) || f.exists(aliceNew.Key) {
		t.Fatalf("after release: %+v", s)
	}
}

func TestReleasingOneOfTwoHoldsKeepsLegalHold(t *testing.T) {
	f := newRetentionFixture(t)
	seg := f.put(10*time.Second, "alice", "carol")
	ha := f.hold("alice")
	hc := f.hold("carol")
	f.release(ha.ID)
	if !f.legalHold(seg.Key) {
		t.Fatal("releasing one hold lifted the legal hold another still needs")
	}
	f.clock.Advance(time.Minute)
	if s := f.sweep(false); s.SkippedHeld.Segments != 1 || !f.exists(seg.Key) {
		t.Fatalf("report %+v", s)
	}
	f.release(hc.ID)
	if f.legalHold(seg.Key) {
		t.Fatal("legal hold on after both holds were released")
	}
}

func TestSweepReportsStorageRefusalNotDeletion(t *testing.T) {
	f := newRetentionFixture(t)
	seg := f.put(10*time.Second, "bob")
	// Storage keeps it longer than the catalog knows.
	if err := f.store.ExtendRetention(context.Background(), seg.Key, seg.VersionID, f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	s := f.sweep(false)
	if s.Refused.Segments != 1 || s.Deleted.Segments != 0 || len(s.Errors) != 1 || !f.exists(seg.Key) {
		t.Fatalf("report %+v", s)
	}
}

func TestSweepProgressCountsEachSegmentOnce(t *testing.T) {
	f := newRetentionFixture(t)
	f.clock.Advance(time.Hour) // nothing expired: the sweep finishes at once
	s, err := f.node.StartSweep(context.Background(), false, TriggerAPI, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.node.StartSweep(context.Background(), false, TriggerAPI, "test"); !errors.Is(err, ErrRejected) && err != nil {
		t.Fatalf("second concurrent sweep: %v", err)
	}
	waitForWithin(t, 10*time.Second, "sweep to finish", func() bool {
		got, _ := f.node.Sweep(s.ID)
		return got.State == SweepFinished
	})
	// Progress for a finished sweep is refused; a replayed result of a
	// running one is counted once (see sweepProgress).
	err = f.node.apply(context.Background(), Command{Op: OpSweepProgress, commandBody: commandBody{SweepID: s.ID,
		Results: []SweepResult{{Key: "k", Outcome: OutcomeDeleted, Messages: 1}}}})
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("progress on a finished sweep: %v", err)
	}
}

func TestPoliciesReplicated(t *testing.T) {
	f := newRetentionFixture(t)
	if _, ok, err := f.node.Policies(); ok || err != nil {
		t.Fatalf("policies before any: ok=%v err=%v", ok, err)
	}
	set := archive.PolicySet{Policies: []archive.Policy{{Name: "traders", Department: "trading", Retain: "5y"}}, DirectChat: archive.DirectShortest}
	if err := f.node.SetPolicies(context.Background(), set, "api", "admin"); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := f.node.Policies()
	if err != nil || !ok || rec.Revision != 1 || rec.By != "admin" || rec.Set.Policies[0].Retain != "5y" || rec.Set.DirectChat != archive.DirectShortest {
		t.Fatalf("policies %+v ok=%v err=%v", rec, ok, err)
	}
	n := restart(t, f.node)
	if rec2, _, _ := n.Policies(); rec2.Revision != 1 || len(rec2.Set.Policies) != 1 {
		t.Fatalf("after restart %+v", rec2)
	}
}

// TestScheduledSweep: with SweepEvery set the leader sweeps on its own, and
// the report reaches Report (the audit trail) once.
func TestScheduledSweep(t *testing.T) {
	var mu sync.Mutex
	reported := map[string]int{}
	f := newRetentionFixture(t, func(r *Retention) {
		r.SweepEvery = time.Minute
		r.Report = func(_ context.Context, s Sweep) error {
			mu.Lock()
			defer mu.Unlock()
			reported[s.ID]++
			return nil
		}
	})
	f.clock.Advance(2 * time.Minute)
	waitForWithin(t, 30*time.Second, "a scheduled sweep to finish and be reported", func() bool {
		sweeps, _ := f.node.Sweeps(10)
		mu.Lock()
		defer mu.Unlock()
		return len(sweeps) > 0 && sweeps[len(sweeps)-1].Trigger == TriggerSchedule && sweeps[len(sweeps)-1].Audited && reported[sweeps[len(sweeps)-1].ID] == 1
	})
}
