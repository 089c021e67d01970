package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// apiStatus sends a JSON request and returns the status and the body, for
// the answers a test expects to be refused.
func (d *daemon) apiStatus(t testing.TB, method, path, token string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, d.url+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestAuditTrailCannotBeShredded reproduces finding 3 of issue 11 on the
// real binary against MinIO: an admin set a 2-second policy on tenant
// _audit and a sweep deleted the audit segments. Now such a policy is
// refused naming the field, and even when every message policy in force is
// two seconds long, the audit trail is locked in storage for audit.retain
// (10 years by default) and a sweep deletes the expired messages but not
// one audit segment.
func TestAuditTrailCannotBeShredded(t *testing.T) {
	s3 := sharedMinIO(t)
	bucket := "e2e-audit-retention-" + randomSuffix()
	d := newDaemon(t, s3, bucket, "")
	rewriteConfig(t, d.cfgPath, baseRetention, "retention: {default: 2s, floor: 1s, sweep_every: 1h}")
	d.start()
	mc := minioClient(t, s3)

	// The finding: a policy naming the audit tenant.
	shred := map[string]any{"policies": []map[string]string{{"name": "shred", "tenant": "_audit", "retain": "2s"}}}
	code, body := d.apiStatus(t, http.MethodPut, "/v1/policies", adminToken, shred)
	var apiErr struct {
		Error struct {
			Code, Message, Field string
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &apiErr)
	if code != http.StatusBadRequest || apiErr.Error.Field != "policies[0].tenant" {
		t.Fatalf("PUT /v1/policies with a 2s policy on _audit: %d %s; want 400 naming policies[0].tenant", code, body)
	}

	// Every message policy in force is two seconds long.
	all := map[string]any{"policies": []map[string]string{{"name": "everything", "retain": "2s"}}}
	d.api(t, http.MethodPut, "/v1/policies", adminToken, all, nil)
	now := time.Now().UTC()
	id := d.ingestOne(t, chat("acme", "short-1", "alice", []string{"bob"}, "room", "short lived", now))
	msg := d.stored(t, id)[0]
	waitFor(t, 60*time.Second, "the message to be searchable", func() bool { return len(d.search(t, url.Values{"q": {"short"}})) == 1 })

	// The reads and policy changes above are audited, in segments of
	// their own, locked in storage for ten years.
	var audit []string
	waitFor(t, 60*time.Second, "audit segments in the bucket", func() bool {
		audit = segmentsUnder(t, mc, bucket, "_audit")
		return len(audit) >= 2
	})
	d.waitDrained(60 * time.Second)
	audit = segmentsUnder(t, mc, bucket, "_audit")
	floor := now.AddDate(10, 0, -1)
	for _, key := range audit {
		mode, until, err := mc.GetObjectRetention(context.Background(), bucket, key, "")
		if err != nil || mode == nil || until == nil || until.Before(floor) {
			t.Fatalf("audit segment %s: retention %v until %v (%v); want COMPLIANCE until at least %v", key, mode, until, err, floor)
		}
	}

	// Once the message's two seconds are over, a sweep deletes it and no
	// audit segment.
	_, segUntil, err := mc.GetObjectRetention(context.Background(), bucket, msg.Segment, "")
	if err != nil || segUntil == nil {
		t.Fatalf("retention of %s: %v", msg.Segment, err)
	}
	waitFor(t, 30*time.Second, "the message segment's retention to pass", func() bool { return time.Now().After(segUntil.Add(time.Second)) })
	s := d.sweep(t)
	if s.Deleted.Segments == 0 {
		t.Fatalf("sweep deleted nothing: %+v; the expired message segment should go", s)
	}
	if left := segmentsUnder(t, mc, bucket, "acme"); len(left) != 0 {
		t.Fatalf("expired message segments still in the bucket: %v", left)
	}
	after := segmentsUnder(t, mc, bucket, "_audit")
	for _, key := range audit {
		if !slices.Contains(after, key) {
			t.Fatalf("the sweep deleted audit segment %s (report %+v)", key, s)
		}
	}
}
