package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/cluster"
)

// adminCluster is the ClusterAdmin and Quarantine of one catalog node, as
// cmd/holdfast adapts it.
type adminCluster struct{ node *cluster.Node }

func (c adminCluster) Members(context.Context) ([]Member, error) {
	return []Member{{ID: c.node.ID(), Role: "leader", Reachable: true}}, nil
}
func (c adminCluster) Join(context.Context, string, string) error { return errors.New("not here") }
func (c adminCluster) Remove(context.Context, string) error       { return errors.New("not here") }
func (c adminCluster) LeaderLastSeq(context.Context) (uint64, error) {
	return c.node.LastSeq(), nil
}

func (c adminCluster) Quarantined() ([]QuarantinedSegment, error) {
	qs, err := c.node.Quarantined()
	out := make([]QuarantinedSegment, len(qs))
	for i, q := range qs {
		out[i] = QuarantinedSegment{Segment: q.Segment, Seq: q.Seq, Node: q.Node, Reason: q.Reason, At: q.At}
	}
	return out, err
}

func (c adminCluster) DuplicatedSegments() ([]string, error) { return c.node.DuplicatedSegments() }

func (c adminCluster) RepairSegment(ctx context.Context, key, by string) error {
	err := c.node.RepairSegment(ctx, key, by)
	if errors.Is(err, cluster.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNotQuarantined, err)
	}
	return err
}

// mustStartAdminNode is mustStartNode with the cluster admin routes and the
// replicated retention state.
func mustStartAdminNode(t *testing.T, opts ...func(*cluster.Config)) *testNode {
	t.Helper()
	setup := nodeSetup{admin: true, cluster: func(c *cluster.Config) {
		for _, o := range opts {
			o(c)
		}
	}}
	return startNode(t, t.TempDir(), mustOpenStore(t), setup)
}

func apiErrorOf(t *testing.T, body []byte) APIError {
	t.Helper()
	var e struct {
		Error APIError `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an API error: %s", body)
	}
	return e.Error
}

// PUT /v1/policies refuses a policy naming the audit tenant (issue 11,
// finding 3) with 400 naming the field, and changes nothing.
func TestPutPoliciesRefusesTheAuditTenant(t *testing.T) {
	n := mustStartAdminNode(t)
	body := []byte(`{"policies":[{"name":"ok","tenant":"acme","retain":"3y"},{"name":"shred","tenant":"_audit","retain":"2s"}]}`)
	code, _, b := n.do(http.MethodPut, "/v1/policies", RoleAdmin, "application/json", body)
	if e := apiErrorOf(t, b); code != http.StatusBadRequest || e.Field != "policies[1].tenant" || !strings.Contains(e.Message, "audit.retain") {
		t.Fatalf("PUT /v1/policies with _audit: %d %s", code, b)
	}
	if _, ok, err := n.node.Policies(); ok || err != nil {
		t.Fatalf("a refused policy set was replicated (%v)", err)
	}
	// An audit record made now is kept for audit.retain (10 years by
	// default) even when every message policy in force is shorter.
	code, _, b = n.do(http.MethodPut, "/v1/policies", RoleAdmin, "application/json", []byte(`{"policies":[{"name":"all","retain":"3y"}]}`))
	if code != http.StatusOK {
		t.Fatalf("PUT /v1/policies: %d %s", code, b)
	}
	now := time.Now().UTC()
	until, err := n.gw.AuditRetainUntil(now)
	if err != nil || until.Before(now.AddDate(10, 0, -1)) {
		t.Fatalf("AuditRetainUntil = %v, %v; want 10 years on", until, err)
	}
}

// GET /v1/cluster lists quarantined segments; POST /v1/cluster/repair
// validates its body, answers 404 for a segment not quarantined, and
// requeues one that is.
func TestClusterShowsAndRepairsQuarantine(t *testing.T) {
	n := mustStartAdminNode(t)
	seg := archive.Segment{Key: "segments/acme/broken.ndjson.zst", Tenant: "acme", SHA256: strings.Repeat("ab", 32), Count: 1}
	ctx := context.Background()
	if err := n.node.SealSegments(ctx, []archive.Segment{seg}); err != nil {
		t.Fatal(err)
	}
	// Not in storage: the indexer quarantines it, and goes on.
	waitFor(t, "the missing segment to be quarantined and passed", func() bool {
		st := n.follower.Stats()
		return st.Quarantined == 1 && st.Checkpoint == 1
	})
	var view struct {
		Quarantined []QuarantinedSegment `json:"quarantined"`
	}
	code, _, b := n.do(http.MethodGet, "/v1/cluster", RoleAdmin, "", nil)
	if err := json.Unmarshal(b, &view); err != nil || code != http.StatusOK || len(view.Quarantined) != 1 ||
		view.Quarantined[0].Segment != seg.Key || view.Quarantined[0].Node != "n1" || !strings.Contains(view.Quarantined[0].Reason, "not found") {
		t.Fatalf("GET /v1/cluster: %d %s", code, b)
	}
	if st := n.follower.Stats(); st.LastError != "" || st.Checkpoint != 1 || st.Quarantined != 1 {
		t.Fatalf("follower %+v", st)
	}

	for _, tc := range []struct {
		body  string
		code  int
		field string
	}{
		{`{}`, http.StatusBadRequest, "segment"},
		{`{"segment":"x","all":true}`, http.StatusBadRequest, "segment"},
		{`{"segment":"segments/acme/fine.ndjson.zst"}`, http.StatusNotFound, "segment"},
	} {
		code, _, b := n.do(http.MethodPost, "/v1/cluster/repair", RoleAdmin, "application/json", []byte(tc.body))
		if e := apiErrorOf(t, b); code != tc.code || e.Field != tc.field {
			t.Errorf("repair %s: %d %s; want %d naming %s", tc.body, code, b, tc.code, tc.field)
		}
	}
	if code, _, _ := n.do(http.MethodPost, "/v1/cluster/repair", RoleSupervisor, "application/json", []byte(`{"all":true}`)); code != http.StatusForbidden {
		t.Fatalf("repair as supervisor: %d", code)
	}
	code, _, b = n.do(http.MethodPost, "/v1/cluster/repair", RoleAdmin, "application/json", []byte(`{"all":true}`))
	if code != http.StatusAccepted || !strings.Contains(string(b), seg.Key) {
		t.Fatalf("repair all: %d %s", code, b)
	}
	// Still missing: read again at its new seq, quarantined again.
	waitFor(t, "the repaired segment to be read again", func() bool { return n.follower.Stats().Quarantined == 2 })
	if n.node.LastSeq() < 2 || !n.node.IsQuarantined(seg.Key) {
		t.Fatalf("after the repair: last seq %d, quarantined %v", n.node.LastSeq(), n.node.IsQuarantined(seg.Key))
	}
}

// GET /v1/cluster lists a segment the catalog marked as possibly repeating
// a version stored elsewhere (here: its claim was taken over because it
// arrived late, and it was stored after all): the index shows one record
// per version, so this is how an operator sees the other (issue 11, "no
// record may exist in storage that search cannot show").
func TestClusterShowsDuplicatedSegments(t *testing.T) {
	const takeover = 20 * time.Millisecond
	n := mustStartAdminNode(t, func(c *cluster.Config) { c.ClaimTakeover = takeover })
	var view struct {
		Duplicated []string `json:"duplicated"`
	}
	code, _, b := n.do(http.MethodGet, "/v1/cluster", RoleAdmin, "", nil)
	if err := json.Unmarshal(b, &view); err != nil || code != http.StatusOK || view.Duplicated == nil || len(view.Duplicated) != 0 {
		t.Fatalf("GET /v1/cluster before: %d %s; want an empty duplicated list", code, b)
	}
	ctx := context.Background()
	segment := func(name string) archive.Segment {
		return archive.Segment{Key: "segments/acme/" + name + ".ndjson.zst", Tenant: "acme", SHA256: strings.Repeat("cd", 32), Count: 1}
	}
	late, other := segment("late"), segment("other")
	claim := func(seg archive.Segment) archive.ClaimOutcome {
		t.Helper()
		out, err := n.node.ClaimVersions(ctx, []archive.SegmentClaims{{Segment: seg.Key,
			Versions: []archive.VersionClaim{{ID: "msg-1", Event: "send/v0"}}}})
		if err != nil || len(out) != 1 || len(out[0]) != 1 {
			t.Fatalf("claim for %s: %v %v", seg.Key, out, err)
		}
		return out[0][0]
	}
	if o := claim(late); !o.Won {
		t.Fatalf("first claim: %+v", o)
	}
	time.Sleep(2 * takeover) // late's segment does not arrive in time
	if o := claim(other); !o.Won {
		t.Fatalf("claim after the takeover delay: %+v", o)
	}
	if err := n.node.SealSegments(ctx, []archive.Segment{other, late}); err != nil {
		t.Fatal(err)
	}
	code, _, b = n.do(http.MethodGet, "/v1/cluster", RoleAdmin, "", nil)
	if err := json.Unmarshal(b, &view); err != nil || code != http.StatusOK || len(view.Duplicated) != 1 || view.Duplicated[0] != late.Key {
		t.Fatalf("GET /v1/cluster after: %d %s; want duplicated [%s]", code, b, late.Key)
	}
}
