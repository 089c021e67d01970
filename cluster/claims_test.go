package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// testClock is a settable clock for Config.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func claimsOf(ids ...int) []archive.VersionClaim {
	out := make([]archive.VersionClaim, len(ids))
	for i, id := range ids {
		out[i] = archive.VersionClaim{ID: fmt.Sprintf("msg-%d", id), Event: "send/v0"}
	}
	return out
}

func mustClaim(t *testing.T, n *Node, seg string, claims []archive.VersionClaim) []archive.ClaimOutcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := n.ClaimVersions(ctx, []archive.SegmentClaims{{Segment: seg, Versions: claims}})
	if err != nil {
		t.Fatalf("ClaimVersions %s: %v", seg, err)
	}
	if len(out) != 1 || len(out[0]) != len(claims) {
		t.Fatalf("%d outcomes for %d claims", len(out), len(claims))
	}
	return out[0]
}

// outcomes summarises outcomes as "won", "pending" or the winner's key.
func outcomes(out []archive.ClaimOutcome) []string {
	s := make([]string, len(out))
	for i, o := range out {
		switch {
		case o.Won:
			s[i] = "won"
		case o.Pending:
			s[i] = "pending"
		default:
			s[i] = o.Winner.Key
		}
	}
	return s
}

func TestClaimVersionsKeepsTheFirstClaim(t *testing.T) {
	n := mustOpenNode(t)
	a, b := testSegment(1), testSegment(2)
	if got := outcomes(mustClaim(t, n, a.Key, claimsOf(1, 2))); !slices.Equal(got, []string{"won", "won"}) {
		t.Fatalf("first claim: %v", got)
	}
	// b claims 2 while a is not yet stored: it must wait, not drop it.
	if got := outcomes(mustClaim(t, n, b.Key, claimsOf(2, 3))); !slices.Equal(got, []string{"pending", "won"}) {
		t.Fatalf("claim against an unstored segment: %v", got)
	}
	mustSeal(t, n, []archive.Segment{a})
	got := mustClaim(t, n, b.Key, claimsOf(2, 3))
	if s := outcomes(got); !slices.Equal(s, []string{a.Key, "won"}) {
		t.Fatalf("claim against a stored segment: %v", s)
	}
	if got[0].Winner.ManifestOffset != a.ManifestOffset || got[0].Version != 0 {
		t.Fatalf("winner %+v", got[0])
	}
	// Claiming again is idempotent for the segment that won.
	if s := outcomes(mustClaim(t, n, a.Key, claimsOf(1, 2))); !slices.Equal(s, []string{"won", "won"}) {
		t.Fatalf("repeated claim: %v", s)
	}
	// An edit of the same message is another version: no conflict.
	edit := []archive.VersionClaim{{ID: "msg-2", Event: "edit/v1", Version: 1}}
	if s := outcomes(mustClaim(t, n, b.Key, edit)); !slices.Equal(s, []string{"won"}) {
		t.Fatalf("edit: %v", s)
	}
	// The claim table survives a restart.
	n = restart(t, n)
	if s := outcomes(mustClaim(t, n, b.Key, claimsOf(2))); !slices.Equal(s, []string{a.Key}) {
		t.Fatalf("after restart: %v", s)
	}
}

func TestClaimTakenOverFromASegmentThatNeverArrives(t *testing.T) {
	clock := &testClock{t: testEpoch}
	cfg := testConfig(t.TempDir())
	cfg.Now = clock.now
	n := mustOpenNodeWith(t, cfg)
	a, b := testSegment(1), testSegment(2)
	mustClaim(t, n, a.Key, claimsOf(1))
	clock.add(DefaultClaimTakeover - time.Second)
	if s := outcomes(mustClaim(t, n, b.Key, claimsOf(1))); s[0] != "pending" {
		t.Fatalf("before the takeover delay: %v", s)
	}
	clock.add(2 * time.Second)
	if s := outcomes(mustClaim(t, n, b.Key, claimsOf(1))); s[0] != "won" {
		t.Fatalf("after the takeover delay: %v", s)
	}
	// a comes back after all: it lost the version, and should it be
	// stored anyway the catalog says it repeats versions.
	if s := outcomes(mustClaim(t, n, a.Key, claimsOf(1))); s[0] != "pending" {
		t.Fatalf("robbed segment claims again: %v", s)
	}
	if dups, _ := n.DuplicatedSegments(); len(dups) != 0 {
		t.Fatalf("duplicated before a is catalogued: %v", dups)
	}
	mustSeal(t, n, []archive.Segment{a, b})
	if dups, err := n.DuplicatedSegments(); err != nil || !slices.Equal(dups, []string{a.Key}) {
		t.Fatalf("duplicated segments %v %v, want [%s]", dups, err, a.Key)
	}
}

func TestClaimsAreKeptForTheWindowOnly(t *testing.T) {
	clock := &testClock{t: testEpoch}
	cfg := testConfig(t.TempDir())
	cfg.Now = clock.now
	n := mustOpenNodeWith(t, cfg)
	for day := 0; day < 10; day++ {
		seg := testSegment(day)
		mustClaim(t, n, seg.Key, claimsOf(day))
		mustSeal(t, n, []archive.Segment{seg})
		clock.add(24 * time.Hour)
	}
	var days int
	if err := n.fsm.view(func(tx *bolt.Tx) error {
		days = len(claimDays(tx.Bucket(bucketClaims)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := int(DefaultClaimWindow/(24*time.Hour)) + 1; days != want {
		t.Fatalf("%d days of claims kept, want %d", days, want)
	}
	// Within the window a second copy loses; past it the claim is gone.
	other := testSegment(100)
	got := outcomes(mustClaim(t, n, other.Key, claimsOf(9, 0)))
	if got[0] != testSegment(9).Key || got[1] != "won" {
		t.Fatalf("claims after ten days: %v", got)
	}
	// A version accepted before the claims kept may have a twin the
	// catalog no longer knows: its segment is marked once catalogued; a
	// recent one is not.
	ctx := context.Background()
	late, fresh := testSegment(101), testSegment(102)
	if _, err := n.ClaimVersions(ctx, []archive.SegmentClaims{
		{Segment: late.Key, Versions: claimsOf(200), Oldest: testEpoch},
		{Segment: fresh.Key, Versions: claimsOf(201), Oldest: clock.now().Add(-time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	mustSeal(t, n, []archive.Segment{other, late, fresh})
	if dups, err := n.DuplicatedSegments(); err != nil || !slices.Equal(dups, []string{late.Key}) {
		t.Fatalf("duplicated segments %v %v, want [%s]", dups, err, late.Key)
	}
}

// Every member decides alike: claims made on a follower and on the leader
// of one version get the same winner wherever they are read.
func TestClaimVersionsAcrossTheCluster(t *testing.T) {
	c := mustCluster(t, 3)
	leader, follower := c.leader(), c.follower()
	a, b := testSegment(1), testSegment(2)
	claims := claimsOf(1, 2, 3)
	var wg sync.WaitGroup
	res := make([][]archive.ClaimOutcome, 2)
	for i, n := range []*Node{follower, leader} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = mustClaim(t, n, []string{a.Key, b.Key}[i], claims)
		}()
	}
	wg.Wait()
	for j := range claims {
		if res[0][j].Won == res[1][j].Won {
			t.Fatalf("claim %d: won by both or neither: %v %v", j, outcomes(res[0]), outcomes(res[1]))
		}
	}
	waitForWithin(t, 30*time.Second, "every member to hold the same claims", func() bool {
		want := claimsDigest(t, c.nodes[0])
		for _, n := range c.nodes[1:] {
			if claimsDigest(t, n) != want {
				return false
			}
		}
		return true
	})
}

// claimsDigest hashes every claim bucket of n's catalog.
func claimsDigest(t testing.TB, n *Node) string {
	t.Helper()
	h := sha256.New()
	err := n.fsm.view(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketClaimSegments, bucketClaimHandles} {
			b := tx.Bucket(name)
			if b == nil {
				return nil
			}
			_ = b.ForEach(func(k, v []byte) error { h.Write(k); h.Write(v); return nil })
		}
		for _, day := range claimDays(tx.Bucket(bucketClaims)) {
			_ = day.b.ForEach(func(shard, _ []byte) error {
				return day.b.Bucket(shard).ForEach(func(k, v []byte) error { h.Write(k); h.Write(v); return nil })
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// A member that joins from a snapshot holds the claims made before it and
// decides the next claims alike.
func TestClaimsTravelInSnapshots(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *Config) { cfg.TrailingLogs = 2 })
	leader := c.nodes[0]
	a := testSegment(1)
	mustClaim(t, leader, a.Key, claimsOf(1, 2, 3))
	mustSeal(t, leader, []archive.Segment{a})
	for i := 0; i < 4; i++ { // push the claims out of the log
		mustSeal(t, leader, []archive.Segment{testSegment(10 + i)})
	}
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	n := c.add(0)
	waitForWithin(t, 30*time.Second, n.ID()+" to catch up from a snapshot", func() bool {
		idx, _ := strconv.Atoi(n.Stats()["last_snapshot_index"])
		return n.LastSeq() == leader.LastSeq() && idx > 0
	})
	if claimsDigest(t, n) != claimsDigest(t, leader) {
		t.Fatal("the joined member's claims differ from the leader's")
	}
	if got := outcomes(mustClaim(t, n, testSegment(2).Key, claimsOf(2, 4))); !slices.Equal(got, []string{a.Key, "won"}) {
		t.Fatalf("claims on the joined member: %v", got)
	}
}
