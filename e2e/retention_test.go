package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/cluster"
)

// retentionYAML replaces the harness's retention settings: a low floor and
// second-scale default, the audit trail kept for years (audit.retain: no
// policy may name the audit tenant), and the 3- and 5-year policies of two
// users.
const retentionYAML = `retention:
  default: 4s
  floor: 1s
  sweep_every: 1h
  policies:
    - {name: three-years, user: u3, retain: 3y}
    - {name: five-years, user: u5, retain: 5y}
audit: {retain: 7y}`

const baseRetention = "retention: {default: 7y, floor: 1h}"

// api sends a JSON request with token and decodes a 2xx answer into out.
func (d *daemon) api(t testing.TB, method, path, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

type versionView struct {
	Version     int       `json:"version"`
	RetainUntil time.Time `json:"retain_until"`
	Policy      string    `json:"policy"`
	Segment     string    `json:"segment"`
	State       string    `json:"state"`
	Holds       []string  `json:"holds"`
	SentAt      time.Time `json:"sent_at"`
}

// stored waits until message id is in storage and returns its versions.
func (d *daemon) stored(t testing.TB, id string) []versionView {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ans struct {
			Versions []versionView `json:"versions"`
		}
		d.api(t, http.MethodGet, "/v1/messages/"+id, supervisorToken, nil, &ans)
		if len(ans.Versions) > 0 && ans.Versions[0].State == "stored" {
			return ans.Versions
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not stored after 60s: %+v", id, ans.Versions)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sweep runs a sweep through d and waits for its report.
func (d *daemon) sweep(t testing.TB) cluster.Sweep {
	t.Helper()
	var s cluster.Sweep
	d.api(t, http.MethodPost, "/v1/sweeps", adminToken, map[string]bool{"dry_run": false}, &s)
	return d.waitSweep(t, s.ID, 2*time.Minute)
}

func (d *daemon) waitSweep(t testing.TB, id string, limit time.Duration) cluster.Sweep {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var s cluster.Sweep
		d.api(t, http.MethodGet, "/v1/sweeps/"+id, adminToken, nil, &s)
		if s.State != "running" {
			if s.Error != "" || s.Failed.Segments > 0 {
				t.Fatalf("sweep %s: %+v", id, s)
			}
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sweep %s still running after %v: %+v", id, limit, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (d *daemon) placeHold(t testing.TB, body map[string]any) archive.Hold {
	t.Helper()
	var h archive.Hold
	d.api(t, http.MethodPost, "/v1/holds", adminToken, body, &h)
	return h
}

func (d *daemon) waitHold(t testing.TB, id string, cond func(archive.Hold) bool) archive.Hold {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var h archive.Hold
		d.api(t, http.MethodGet, "/v1/holds/"+id, adminToken, nil, &h)
		if cond(h) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("hold %s: %+v", id, h)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// legalHold reads a segment's legal hold through the S3 API itself.
func legalHold(t testing.TB, c *minio.Client, bucket, key string) bool {
	t.Helper()
	st, err := c.GetObjectLegalHold(context.Background(), bucket, key, minio.GetObjectLegalHoldOptions{})
	if err != nil {
		t.Fatalf("legal hold of %s: %v", key, err)
	}
	return st != nil && *st == minio.LegalHoldEnabled
}

// segmentsUnder lists the segment keys (every version) under a tenant.
func segmentsUnder(t testing.TB, c *minio.Client, bucket, tenant string) []string {
	t.Helper()
	var keys []string
	for obj := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: "segments/" + tenant + "/", Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys
}

func chat(tenant, id, from string, to []string, conv, text string, sent time.Time) []byte {
	rcpt := make([]string, len(to))
	for i, r := range to {
		rcpt[i] = fmt.Sprintf(`{"id":%q}`, r)
	}
	kind := "group"
	if len(to) == 1 {
		kind = "direct"
	}
	return []byte(fmt.Sprintf(`{"platform":"generic","tenant":%q,"source_id":%q,"conversation":{"id":%q,"kind":%q},"from":{"id":%q},"to":[%s],"sent_at":%q,"text":%q}`+"\n",
		tenant, id, conv, kind, from, strings.Join(rcpt, ","), sent.UTC().Format(time.RFC3339), text))
}

func (d *daemon) ingestOne(t testing.TB, body []byte) string {
	t.Helper()
	code, _, acc, err := d.post("/v1/messages", body)
	if err != nil || code != http.StatusAccepted || len(acc) == 0 {
		t.Fatalf("ingest: %d %v", code, err)
	}
	return acc[0].ID
}

// TestRetentionPoliciesHoldsAndSweeps runs the retention rules end to end
// on one node against MinIO: policies stamped at ingest (longest wins,
// Zoom's direct_chat: shortest), sweeps that delete what expired and
// nothing else, with reports matching the bucket, and legal holds that
// survive sweeps until released.
func TestRetentionPoliciesHoldsAndSweeps(t *testing.T) {
	s3 := sharedMinIO(t)
	bucket := "e2e-retention-" + randomSuffix()
	d := newDaemon(t, s3, bucket, "")
	rewriteConfig(t, d.cfgPath, baseRetention, retentionYAML)
	d.start()
	mc := minioClient(t, s3)
	now := time.Now().UTC().Truncate(time.Second)

	// Policies: a 1:1 chat between a 3-year and a 5-year user keeps 5
	// years; a group chat keeps the longest of its members.
	direct := d.ingestOne(t, chat("corp", "d1", "u3", []string{"u5"}, "dm-35", "quarterly numbers", now))
	group := d.ingestOne(t, chat("corp", "g1", "u3", []string{"u5", "x9"}, "desk", "group hello", now))
	for id, want := range map[string]string{direct: "five-years", group: "five-years"} {
		v := d.stored(t, id)[0]
		if v.Policy != want || !v.RetainUntil.Equal(v.SentAt.AddDate(5, 0, 0)) {
			t.Fatalf("message %s: policy %s retain_until %v, want %s and 5 years after %v", id, v.Policy, v.RetainUntil, want, v.SentAt)
		}
		mode, until, err := mc.GetObjectRetention(context.Background(), bucket, v.Segment, "")
		if err != nil {
			t.Fatal(err)
		}
		if mode == nil || *mode != minio.Compliance || until == nil || until.Before(v.RetainUntil) {
			t.Fatalf("segment %s retention %v %v, want COMPLIANCE until at least %v", v.Segment, mode, until, v.RetainUntil)
		}
	}
	// Zoom's rule, set through the API: a 1:1 chat keeps the shorter.
	var pol struct {
		Policies   []map[string]string `json:"policies"`
		DirectChat string              `json:"direct_chat"`
		Revision   int                 `json:"revision"`
	}
	d.api(t, http.MethodGet, "/v1/policies", adminToken, nil, &pol)
	set := map[string]any{"policies": pol.Policies, "direct_chat": "shortest"}
	d.api(t, http.MethodPut, "/v1/policies", adminToken, set, &pol)
	if pol.DirectChat != "shortest" || pol.Revision < 1 {
		t.Fatalf("policies after PUT: %+v", pol)
	}
	short := d.ingestOne(t, chat("corp", "d2", "u3", []string{"u5"}, "dm-35", "after the change", now))
	if v := d.stored(t, short)[0]; v.Policy != "three-years" || !v.RetainUntil.Equal(v.SentAt.AddDate(3, 0, 0)) {
		t.Fatalf("direct chat under shortest: %+v", v)
	}
	if v := d.stored(t, direct)[0]; v.Policy != "five-years" {
		t.Fatalf("a policy change shortened a record archived before it: %+v", v)
	}
	groupShort := d.ingestOne(t, chat("corp", "g2", "u3", []string{"u5", "x9"}, "desk", "group again", now))
	if v := d.stored(t, groupShort)[0]; v.Policy != "five-years" {
		t.Fatalf("group chat under direct_chat shortest: %+v, want the longest", v)
	}

	// Extending retention is explicit: u3's messages are kept until a
	// later date, by Object Lock itself.
	directSeg := d.stored(t, direct)[0].Segment
	later := now.AddDate(9, 0, 0)
	var ext struct {
		Extended int `json:"segments_extended"`
	}
	d.api(t, http.MethodPost, "/v1/retention/extend", adminToken, map[string]any{"custodians": []string{"u3"}, "until": later.Format(time.RFC3339)}, &ext)
	if _, until, err := mc.GetObjectRetention(context.Background(), bucket, directSeg, ""); err != nil || ext.Extended == 0 || until == nil || until.Before(later) {
		t.Fatalf("after extending to %v: %d segments extended, %s retained until %v (%v)", later, ext.Extended, directSeg, until, err)
	}

	// Holds and sweeps. alice's messages (tenant acme) are held by
	// custodian; bob's (tenant beta) are not. Both expire in seconds.
	alice1 := d.ingestOne(t, chat("acme", "a1", "alice", []string{"zed"}, "room-a", "alice before the hold", now))
	bob1 := d.ingestOne(t, chat("beta", "b1", "bob", []string{"zed"}, "room-b", "bob message", now))
	aliceSeg := d.stored(t, alice1)[0].Segment
	d.stored(t, bob1)
	hold := d.placeHold(t, map[string]any{"matter": "Acme v. Beta", "reason": "litigation", "custodians": []string{"alice"}})
	hold = d.waitHold(t, hold.ID, func(h archive.Hold) bool { return h.Segments == 1 })
	if hold.Messages != 1 || !legalHold(t, mc, bucket, aliceSeg) {
		t.Fatalf("hold %+v; legal hold on %s: %v", hold, aliceSeg, legalHold(t, mc, bucket, aliceSeg))
	}
	// A matching message archived after the hold is sealed under it.
	alice2 := d.ingestOne(t, chat("acme", "a2", "alice", []string{"zed"}, "room-a2", "alice after the hold", now.Add(time.Second)))
	alice2Seg := d.stored(t, alice2)[0].Segment
	if !legalHold(t, mc, bucket, alice2Seg) {
		t.Fatal("a segment sealed after the hold has no legal hold")
	}
	if h := d.waitHold(t, hold.ID, func(h archive.Hold) bool { return h.Segments == 2 }); h.Messages != 2 {
		t.Fatalf("hold after the new message: %+v", h)
	}
	// A second hold on alice's first conversation.
	hold2 := d.placeHold(t, map[string]any{"matter": "Regulator inquiry", "reason": "inquiry", "conversations": []string{"room-a"}})
	d.waitHold(t, hold2.ID, func(h archive.Hold) bool { return h.Segments == 1 })

	waitFor(t, 60*time.Second, "bob's message to be searchable", func() bool { return len(d.search(t, url.Values{"q": {"bob"}})) == 1 })
	time.Sleep(5 * time.Second) // everything in acme and beta has expired
	betaBefore := segmentsUnder(t, mc, bucket, "beta")
	for i := range 3 {
		s := d.sweep(t)
		if i == 0 && (s.Deleted.Segments != len(betaBefore) || s.SkippedHeld.Segments != 2 || s.Refused.Segments != 0) {
			t.Fatalf("first sweep %+v; beta had %d segments", s, len(betaBefore))
		}
		if i > 0 && (s.Deleted.Segments != 0 || s.SkippedHeld.Segments != 2) {
			t.Fatalf("sweep %d: %+v", i+1, s)
		}
		if len(segmentsUnder(t, mc, bucket, "acme")) != 2 {
			t.Fatal("a held segment was deleted")
		}
	}
	if left := segmentsUnder(t, mc, bucket, "beta"); len(left) != 0 {
		t.Fatalf("expired unheld segments still in the bucket: %v", left)
	}
	waitFor(t, 30*time.Second, "bob's deleted message to leave the index", func() bool { return len(d.search(t, url.Values{"q": {"bob"}})) == 0 })
	if hits := d.search(t, url.Values{"held": {"true"}}); len(hits) != 2 {
		t.Fatalf("held=true found %v, want alice's two messages", hits)
	}
	if hits := d.search(t, url.Values{"q": {"held:true alice"}}); len(hits) != 2 {
		t.Fatalf("held:true in the query found %v, want alice's two messages", hits)
	}
	// The corp messages (years of retention) were never touched.
	if len(segmentsUnder(t, mc, bucket, "corp")) == 0 {
		t.Fatal("a sweep deleted unexpired records")
	}

	// The CLI shows the same holds and sweeps.
	for _, args := range [][]string{{"hold", "list"}, {"hold", "show", hold.ID}, {"sweep", "list"}} {
		out, err := exec.Command(holdfastBin(t), append(args, "-server", d.url, "-token", adminToken)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Acme v. Beta") && args[0] == "hold" || !strings.Contains(string(out), "finished") && args[0] == "sweep" {
			t.Fatalf("holdfast %v: %v\n%s", args, err, out)
		}
	}

	// Releasing the custodian hold keeps the legal hold where the other
	// hold still covers the segment.
	d.api(t, http.MethodPost, "/v1/holds/"+hold.ID+"/release", adminToken, map[string]string{"reason": "settled"}, nil)
	d.waitHold(t, hold.ID, func(h archive.Hold) bool { return h.State == "released" })
	if !legalHold(t, mc, bucket, aliceSeg) || legalHold(t, mc, bucket, alice2Seg) {
		t.Fatalf("after releasing one hold: %s on=%v (want on), %s on=%v (want off)",
			aliceSeg, legalHold(t, mc, bucket, aliceSeg), alice2Seg, legalHold(t, mc, bucket, alice2Seg))
	}
	if s := d.sweep(t); s.Deleted.Segments != 1 || s.SkippedHeld.Segments != 1 {
		t.Fatalf("sweep after the first release: %+v", s)
	}
	d.api(t, http.MethodPost, "/v1/holds/"+hold2.ID+"/release", adminToken, nil, nil)
	d.waitHold(t, hold2.ID, func(h archive.Hold) bool { return h.State == "released" })
	if s := d.sweep(t); s.Deleted.Segments != 1 || s.SkippedHeld.Segments != 0 {
		t.Fatalf("sweep after both releases: %+v", s)
	}
	if left := segmentsUnder(t, mc, bucket, "acme"); len(left) != 0 {
		t.Fatalf("released segments still in the bucket: %v", left)
	}
	waitFor(t, 30*time.Second, "alice's deleted messages to leave the index", func() bool { return len(d.search(t, url.Values{"q": {"alice"}})) == 0 })
	// Every change and every sweep is on the audit trail.
	waitFor(t, 60*time.Second, "every retention action in the audit trail", func() bool {
		var audit struct {
			Hits []struct {
				Text string `json:"text"`
			} `json:"hits"`
		}
		d.api(t, http.MethodGet, "/v1/audit?size=1000", adminToken, nil, &audit)
		var all strings.Builder
		for _, h := range audit.Hits {
			all.WriteString(h.Text + "\n")
		}
		for _, action := range []string{"set_policies", "place_hold", "release_hold", "start_sweep", "sweep_report"} {
			if !strings.Contains(all.String(), action) {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond until it holds or limit passes.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSweepSurvivesLeaderKill: a three-node cluster sweeps 1,000 expired
// segments; the leader is killed with SIGKILL in the middle. The new
// leader finishes the same sweep: every expired segment is gone from the
// bucket, each counted once, the report matches the bucket, and no node's
// index still finds a deleted message.
func TestSweepSurvivesLeaderKill(t *testing.T) {
	const tenants = 1000
	c := startCluster(t, 3, func(d *daemon) {
		rewriteConfig(t, d.cfgPath, baseRetention, `retention:
  default: 2s
  floor: 1s
  sweep_every: 1h
audit: {retain: 7y}`)
		rewriteConfig(t, d.cfgPath, "segment: {max_bytes: 1MiB, max_age: 500ms}", "segment: {max_bytes: 1MiB, max_age: 2s}")
	})
	mc := minioClient(t, c.s3)
	// One message per tenant: segments are grouped by tenant, so this
	// makes 1,000 segments.
	var body bytes.Buffer
	now := time.Now().UTC()
	for i := range tenants {
		body.Write(chat(fmt.Sprintf("t%04d", i), fmt.Sprintf("m%d", i), "sweeper-user", []string{"desk"}, "c", fmt.Sprintf("expiring %d", i), now))
	}
	if code, _, acc, err := c.nodes[0].post("/v1/messages?ack=stored", body.Bytes()); err != nil || code != http.StatusAccepted || len(acc) != tenants {
		t.Fatalf("ingest: %d %v (%d accepted)", code, err, len(acc))
	}
	c.waitConverged()
	segments := func() int {
		n := 0
		for obj := range mc.ListObjects(context.Background(), c.bucket, minio.ListObjectsOptions{Prefix: "segments/t", Recursive: true, WithVersions: true}) {
			if obj.Err != nil {
				t.Fatal(obj.Err)
			}
			n++
		}
		return n
	}
	if n := segments(); n != tenants {
		t.Fatalf("%d segments in the bucket, want %d", n, tenants)
	}
	time.Sleep(3 * time.Second) // every message has expired

	li := c.leader(c.nodes[0])
	leader := c.nodes[li]
	var s cluster.Sweep
	leader.api(t, http.MethodPost, "/v1/sweeps", adminToken, nil, &s)
	// Kill the leader once the sweep has recorded some progress but is
	// far from done.
	waitFor(t, 60*time.Second, "the sweep to record progress", func() bool {
		var cur cluster.Sweep
		leader.api(t, http.MethodGet, "/v1/sweeps/"+s.ID, adminToken, nil, &cur)
		return cur.Examined.Segments > 0
	})
	leader.kill()
	var other *daemon
	for i, d := range c.nodes {
		if i != li {
			other = d
			break
		}
	}
	final := other.waitSweep(t, s.ID, 5*time.Minute)
	if final.Deleted.Segments != tenants || final.Examined.Segments != tenants || final.Deleted.Messages != tenants ||
		final.Refused.Segments != 0 || final.SkippedHeld.Segments != 0 {
		t.Fatalf("final report %+v, want %d segments deleted exactly once", final, tenants)
	}
	if len(final.Nodes) < 2 {
		t.Fatalf("the sweep was not finished by a new leader: nodes %v (the kill came too late)", final.Nodes)
	}
	if n := segments(); n != 0 {
		t.Fatalf("%d expired segments (versions) still in the bucket", n)
	}
	leader.start()
	for _, d := range c.nodes {
		waitFor(t, 2*time.Minute, "deleted messages to leave every index", func() bool {
			return len(d.search(t, url.Values{"q": {"expiring"}})) == 0
		})
	}
}
