package gateway

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/cluster"
)

// twoGateways starts two gateways, n1 and n2, on one store and one
// catalog: two members of a cluster as far as the uploaders can tell.
func twoGateways(t *testing.T, store archive.ObjectStore) (*cluster.Node, [2]*testNode) {
	t.Helper()
	dir := t.TempDir()
	node, err := cluster.Open(cluster.Config{NodeID: "c1", RaftListen: "127.0.0.1:0", Dir: filepath.Join(dir, "raft"), Bootstrap: true,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	var out [2]*testNode
	for i := range out {
		out[i] = startGatewayOn(t, filepath.Join(dir, fmt.Sprintf("n%d", i+1)), fmt.Sprintf("n%d", i+1), store, node, false)
	}
	return node, out
}

// startGatewayOn starts a gateway named id in dir on store and catalog.
func startGatewayOn(t *testing.T, dir, id string, store archive.ObjectStore, catalog Catalog, noClaims bool) *testNode {
	t.Helper()
	var tokens []Token
	for role, secret := range testTokens {
		tokens = append(tokens, Token{Name: role, Role: role, TokenSHA256: HashToken(secret)})
	}
	gw, err := New(Config{
		NodeID: id, DataDir: dir, Listen: "127.0.0.1:0", SpoolMaxBytes: 64 << 20,
		SegmentMaxBytes: 1 << 20, SegmentMaxAge: 200 * time.Millisecond,
		Retention: mustPeriod(t, "7y"), RetentionFloor: time.Hour, Tokens: tokens, NoVersionClaims: noClaims,
	}, Deps{Store: store, Catalog: catalog}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := &testNode{t: t, dir: dir, store: store, gw: gw, url: "http://" + gw.Addr()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.gw.Shutdown(ctx)
	})
	return n
}

func TestVersionAcceptedByTwoNodesIsStoredOnce(t *testing.T) {
	store := mustOpenStore(t)
	_, gws := twoGateways(t, store)
	body := []byte(msg("m-1", "sent twice") + "\n" + msg("m-2", "only here") + "\n")
	first := gws[0].ingest("/v1/messages?ack=stored", "application/x-ndjson", body)
	// The client fails over: the second node has never seen the batch.
	second := gws[1].ingest("/v1/messages?ack=stored", "application/x-ndjson", []byte(msg("m-1", "sent twice")+"\n"))
	if second[0].Duplicate {
		t.Fatal("the second node knew the message already; the test needs it new there")
	}
	if second[0].ID != first[0].ID || second[0].SHA256 != first[0].SHA256 {
		t.Fatalf("second node answered %+v, first %+v: want the stored id and hash", second[0], first[0])
	}
	if n := storedRecords(t, store)[first[0].ID+"/v0"]; n != 1 {
		t.Fatalf("m-1 v0 stored %d times, want once", n)
	}
	got := gws[1].get(first[0].ID)
	if len(got.Versions) != 1 || got.Versions[0].SHA256 != first[0].SHA256 || !strings.Contains(got.Versions[0].Segment, "/n1-") {
		t.Fatalf("the second node shows %+v, want n1's stored version", got.Versions)
	}
	if got.Versions[0].Text != "sent twice" || got.Versions[0].State != "stored" {
		t.Fatalf("the second node reads %+v", got.Versions[0])
	}
	// A resend to the second node is a duplicate of the stored version.
	again := gws[1].ingest("/v1/messages", "application/x-ndjson", []byte(msg("m-1", "sent twice")+"\n"))
	if !again[0].Duplicate || again[0].SHA256 != first[0].SHA256 {
		t.Fatalf("resend answered %+v", again[0])
	}
	// An edit sent to both without a version: one record too.
	edit := []byte(msg("m-1", "edited", `"action":"edit"`) + "\n")
	e1 := gws[0].ingest("/v1/messages?ack=stored", "application/x-ndjson", edit)
	e2 := gws[1].ingest("/v1/messages?ack=stored", "application/x-ndjson", edit)
	if e1[0].Version != 1 || e2[0].Version != 1 || e1[0].SHA256 != e2[0].SHA256 {
		t.Fatalf("edit answered %+v and %+v", e1[0], e2[0])
	}
	if n := storedRecords(t, store)[first[0].ID+"/v1"]; n != 1 {
		t.Fatalf("m-1 v1 stored %d times, want once", n)
	}
	if n := gws[1].gw.metrics.messagesElsewhere.v.Load(); n != 2 {
		t.Fatalf("%d versions left out on the second node, want 2", n)
	}
}

// Without the claim (the benchmark's baseline) both copies are stored:
// what the claim prevents.
func TestNoVersionClaimsStoresBothCopies(t *testing.T) {
	store := mustOpenStore(t)
	node, _ := twoGateways(t, store)
	var gws [2]*testNode
	for i := range gws {
		gws[i] = startGatewayOn(t, t.TempDir(), fmt.Sprintf("x%d", i), store, node, true)
	}
	body := []byte(msg("m-1", "sent twice") + "\n")
	a := gws[0].ingest("/v1/messages?ack=stored", "application/x-ndjson", body)
	gws[1].ingest("/v1/messages?ack=stored", "application/x-ndjson", body)
	if n := storedRecords(t, store)[a[0].ID+"/v0"]; n != 2 {
		t.Fatalf("without claims m-1 v0 is stored %d times; the baseline should store both", n)
	}
}

func TestReceivedAtOfASpooledMessage(t *testing.T) {
	m := archive.Message{Tenant: "acme", Platform: "generic", SourceID: "x",
		From:       archive.Participant{ID: "a", Name: `"received_at":"1999-01-01T00:00:00Z"`},
		ReceivedAt: time.Date(2026, 12, 4, 1, 2, 3, 4, time.UTC), Raw: `{"received_at":"2001-01-01T00:00:00Z"}`}
	m.Seal()
	line, err := messageRecord(&m, "send/v0")
	if err != nil {
		t.Fatal(err)
	}
	_, body, err := decodeSpoolRecord(line)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := receivedAt(body); !ok || !got.Equal(m.ReceivedAt) {
		t.Fatalf("received_at %v %v, want %v", got, ok, m.ReceivedAt)
	}
}

// A version is left out only once the segment that claimed it first is
// stored: while that node cannot store it, the other node holds its copy
// back (neither stored nor dropped), and ?ack=stored waits.
func TestVersionLeftOutOnlyOnceTheWinnerIsStored(t *testing.T) {
	shared := mustOpenStore(t)
	down := &flakyStore{ObjectStore: shared.ObjectStore}
	node, _ := twoGateways(t, shared)
	a := startGatewayOn(t, t.TempDir(), "a1", down, node, false)
	b := startGatewayOn(t, t.TempDir(), "b1", shared, node, false)
	body := []byte(msg("m-9", "claimed, not yet stored") + "\n")
	down.down.Store(true)
	first := a.ingest("/v1/messages", "application/x-ndjson", body)
	waitFor(t, "a1 to claim the version and fail to store it", func() bool { return a.gw.metrics.uploadErrors.v.Load() > 0 })
	type answer struct {
		code int
		body []byte
	}
	answered := make(chan answer, 1)
	go func() {
		code, _, out := b.do(http.MethodPost, "/v1/messages?ack=stored", RoleIngest, "application/x-ndjson", body)
		answered <- answer{code, out}
	}()
	waitFor(t, "b1 to hold its copy back", func() bool { return b.gw.metrics.claimsPending.v.Load() == 1 })
	if n := storedRecords(t, shared)[first[0].ID+"/v0"]; n != 0 {
		t.Fatalf("m-9 stored %d times while its first claimant could not store it", n)
	}
	down.down.Store(false)
	got := <-answered
	if got.code != http.StatusAccepted || !strings.Contains(string(got.body), first[0].SHA256) {
		t.Fatalf("b1 answered %d %s, want 202 with a1's sha256 %s", got.code, got.body, first[0].SHA256)
	}
	if n := storedRecords(t, shared)[first[0].ID+"/v0"]; n != 1 {
		t.Fatalf("m-9 stored %d times, want once", n)
	}
	if n := b.gw.metrics.claimsPending.v.Load(); n != 0 {
		t.Fatalf("b1 still holds %d versions back", n)
	}
}
