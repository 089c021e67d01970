package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// A quarantine is recorded through raft on every node, is listed with
// its node, seq and reason, and a repair clears it and gives the segment a
// new seq at the end of the catalog, for every indexer to read it again.
func TestQuarantineAndRepairThroughRaft(t *testing.T) {
	c := mustCluster(t, 3)
	segs := testSegments(0, 3)
	mustSeal(t, c.leader(), segs)
	c.waitConverged()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A follower's indexer quarantines segment 1; so does the leader's.
	fol := c.follower()
	if err := fol.QuarantineSegment(ctx, segs[1].Key, "index segment: read sha256 x, expected y: corrupt data"); err != nil {
		t.Fatal(err)
	}
	if err := c.leader().QuarantineSegment(ctx, segs[1].Key, "corrupt data"); err != nil {
		t.Fatal(err)
	}
	// An unknown segment is not recorded.
	if err := fol.QuarantineSegment(ctx, "no/such/segment", "corrupt data"); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	for _, n := range c.running() {
		// A quarantine moves no seq: wait for every node to apply both.
		var qs []Quarantine
		waitForWithin(t, 30*time.Second, "both quarantines applied on "+n.ID(), func() bool {
			var err error
			qs, err = n.Quarantined()
			return err == nil && len(qs) == 2
		})
		if len(qs) != 2 || qs[0].Segment != segs[1].Key || qs[0].Seq != 2 || qs[1].Segment != segs[1].Key {
			t.Fatalf("node %s lists %+v", n.ID(), qs)
		}
		nodes := []string{qs[0].Node, qs[1].Node}
		if !strings.Contains(strings.Join(nodes, ","), fol.ID()) || qs[0].At.IsZero() || !strings.Contains(qs[0].Reason+qs[1].Reason, "expected y") {
			t.Fatalf("node %s lists %+v", n.ID(), qs)
		}
	}
	if !fol.IsQuarantined(segs[1].Key) || fol.IsQuarantined(segs[0].Key) {
		t.Fatal("IsQuarantined is wrong")
	}

	// A node that indexes it after all clears its own record only.
	if err := fol.ClearQuarantine(ctx, segs[1].Key); err != nil {
		t.Fatal(err)
	}
	if qs, _ := fol.Quarantined(); len(qs) != 1 || qs[0].Node == fol.ID() || fol.IsQuarantined(segs[1].Key) {
		t.Fatalf("after the follower cleared its own: %+v", qs)
	}

	// A repair, from any node: cleared everywhere, listed again at seq 4.
	if err := fol.RepairSegment(ctx, segs[1].Key, "admin"); err != nil {
		t.Fatal(err)
	}
	if err := fol.RepairSegment(ctx, segs[1].Key, "admin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("repair of a segment no longer quarantined: %v, want ErrNotFound", err)
	}
	all := c.waitConverged()
	if len(all) != 3 || all[2].Seq != 4 || all[2].Segment.Key != segs[1].Key || all[0].Seq != 1 || all[1].Seq != 3 {
		t.Fatalf("catalog after the repair: %+v", all)
	}
	for _, n := range c.running() {
		if qs, _ := n.Quarantined(); len(qs) != 0 {
			t.Fatalf("node %s still lists %+v", n.ID(), qs)
		}
		if count, _ := n.SegmentCount(); count != 3 {
			t.Fatalf("node %s counts %d segments after a repair, want 3", n.ID(), count)
		}
	}
}

// The quarantine records survive a restart and are in snapshots.
func TestQuarantineSurvivesRestartAndSnapshot(t *testing.T) {
	n := mustOpenNode(t)
	mustSeal(t, n, testSegments(0, 2))
	ctx := context.Background()
	if err := n.QuarantineSegment(ctx, testSegment(0).Key, strings.Repeat("x", 5000)); err != nil {
		t.Fatal(err)
	}
	n = restart(t, n)
	qs, err := n.Quarantined()
	if err != nil || len(qs) != 1 || len(qs[0].Reason) != maxReasonLen {
		t.Fatalf("after restart: %+v %v", qs, err)
	}
	src := n.fsm
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	dst := mustOpenFSM(t)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	var found bool
	_ = dst.view(func(tx *bolt.Tx) error {
		found = len(quarantinedBy(tx, testSegment(0).Key)) == 1
		return nil
	})
	if !found {
		t.Fatal("a restored snapshot lost the quarantine record")
	}
}

// A sweep never deletes a quarantined segment (its records cannot be
// checked against holds), nor an audit segment before the audit retention
// whatever retain-until the catalog records; it reports both as
// protected. An audit segment past its audit retention goes.
func TestSweepKeepsQuarantinedAndAuditSegments(t *testing.T) {
	auditDays := 30
	f := newRetentionFixture(t, func(r *Retention) {
		r.AuditUntil = func(t time.Time) (time.Time, error) { return t.AddDate(0, 0, auditDays), nil }
	})
	plain := f.put(10*time.Second, "bob")
	bad := f.put(10*time.Second, "bob")
	audit := f.putTenant(archive.ReservedTenant, 10*time.Second)
	if err := f.node.QuarantineSegment(context.Background(), bad.Key, "corrupt data"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)

	s := f.sweep(false)
	if s.Deleted.Segments != 1 || s.Protected.Segments != 2 || s.Failed.Segments != 0 || len(s.Errors) != 2 {
		t.Fatalf("sweep %+v: want the plain segment deleted, the quarantined and audit ones protected", s)
	}
	if f.exists(plain.Key) || !f.exists(bad.Key) || !f.exists(audit.Key) {
		t.Fatalf("after the sweep: plain %v, quarantined %v, audit %v", f.exists(plain.Key), f.exists(bad.Key), f.exists(audit.Key))
	}
	if !strings.Contains(strings.Join(s.Errors, "\n"), "audit.retain") || !strings.Contains(strings.Join(s.Errors, "\n"), "quarantined") {
		t.Fatalf("reasons %q", s.Errors)
	}
	// The audit segment is locked, in storage and in the catalog, until
	// its audit retention: no later sweep considers it before then.
	keep := audit.MaxSentAt.AddDate(0, 0, auditDays)
	if seg, _, _ := f.node.Segment(audit.Key); !seg.RetainUntil.Equal(keep) {
		t.Fatalf("catalog retain_until of the audit segment %v, want %v", seg.RetainUntil, keep)
	}
	if info, err := f.store.Stat(context.Background(), audit.Key); err != nil || info.RetainUntil.Before(keep) {
		t.Fatalf("storage lock of the audit segment %v (%v), want %v", info.RetainUntil, err, keep)
	}
	if d := f.sweep(true); d.Protected.Segments != 1 || d.WouldDelete.Segments != 0 || d.Examined.Segments != 1 {
		t.Fatalf("dry run %+v: want only the quarantined segment, protected", d)
	}

	// Past the audit retention the audit segment goes; the quarantined
	// one stays until it is repaired.
	f.clock.Advance(time.Duration(auditDays+1) * 24 * time.Hour)
	if s := f.sweep(false); s.Deleted.Segments != 1 || s.Protected.Segments != 1 {
		t.Fatalf("sweep after the audit retention %+v", s)
	}
	if f.exists(audit.Key) || !f.exists(bad.Key) {
		t.Fatalf("audit segment still there %v, quarantined gone %v", f.exists(audit.Key), !f.exists(bad.Key))
	}
}

// putTenant stores and catalogues a segment of tenant kept for keep, its
// records made now.
func (f *retentionFixture) putTenant(tenant string, keep time.Duration) archive.Segment {
	f.t.Helper()
	f.n++
	key := fmt.Sprintf("segments/%s/2026/11/21/node1-%d.ndjson.zst", tenant, f.n)
	body := []byte(fmt.Sprintf("segment %d", f.n))
	sum := sha256.Sum256(body)
	now := f.clock.Now()
	info, err := f.store.Put(context.Background(), key, bytes.NewReader(body), int64(len(body)), archive.PutOptions{RetainUntil: now.Add(keep)})
	if err != nil {
		f.t.Fatal(err)
	}
	seg := archive.Segment{Key: key, VersionID: info.VersionID, Tenant: tenant, Node: "node1", SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(body)), Count: 10, RetainUntil: now.Add(keep), MinSentAt: now, MaxSentAt: now, SealedAt: now}
	mustSeal(f.t, f.node, []archive.Segment{seg})
	return seg
}

// Without an audit retention to check against, the sweeper keeps every
// audit segment.
func TestSweepWithoutAuditRetentionKeepsAuditSegments(t *testing.T) {
	f := newRetentionFixture(t)
	audit := f.putTenant(archive.ReservedTenant, 10*time.Second)
	f.clock.Advance(100 * 365 * 24 * time.Hour)
	if s := f.sweep(false); s.Deleted.Segments != 0 || s.Protected.Segments != 1 || !f.exists(audit.Key) {
		t.Fatalf("sweep %+v; audit segment there: %v", s, f.exists(audit.Key))
	}
}
