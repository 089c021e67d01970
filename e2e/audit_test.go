package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rawGet sends GET path (sent as is, percent escapes included) with token
// and returns the status and body.
func (d *daemon) rawGet(t testing.TB, path, token string, limit time.Duration) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// auditHit is a record as GET /v1/audit shows it.
type auditHit struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// auditRecords reads the audit trail (admin token) for query q.
func (d *daemon) auditRecords(t testing.TB, q string) []auditHit {
	t.Helper()
	var out struct {
		Hits []auditHit `json:"hits"`
	}
	d.api(t, http.MethodGet, "/v1/audit?size=500&"+url.Values{"q": {q}}.Encode(), adminToken, nil, &out)
	return out.Hits
}

// TestInvalidUTF8ReadDoesNotStopIndexing is Found 1: a supervisor reading
// /v1/messages/%ff%fe (and searching q=%ff%fe) puts those bytes into an
// audit record; before the fix its hash did not survive the round trip
// through the segment, every node's follower retried that segment for
// ever, and a message ingested later was never found. Now the audit record
// carries an escaped form, and a later message is found on every node,
// with consistency=strong answering.
func TestInvalidUTF8ReadDoesNotStopIndexing(t *testing.T) {
	c := startCluster(t, 2)
	n1, n2 := c.nodes[0], c.nodes[1]
	if st, b := n1.rawGet(t, "/v1/messages/%ff%fe", supervisorToken, 30*time.Second); st != http.StatusNotFound {
		t.Fatalf("GET /v1/messages/%%ff%%fe: %d %s, want 404", st, b)
	}
	if st, b := n2.rawGet(t, "/v1/search?q=%ff%fe&platform=%c3", supervisorToken, 30*time.Second); st != http.StatusOK && st != http.StatusBadRequest {
		t.Fatalf("GET /v1/search?q=%%ff%%fe: %d %s", st, b)
	}
	// Let both audit records reach storage and the followers first.
	n1.waitDrained(60 * time.Second)
	n2.waitDrained(60 * time.Second)

	if st, _, _, err := n1.post("/v1/messages", message(7001, "after the bad read ukulele")); err != nil || st != http.StatusAccepted {
		t.Fatalf("ingest: %d %v", st, err)
	}
	for i, d := range c.nodes {
		deadline := time.Now().Add(60 * time.Second)
		for len(d.search(t, url.Values{"q": {"ukulele"}})) != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("node n%d never finds the message ingested after the bad read (index stuck: %v)", i+1, d.metric("holdfast_index_stuck"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		// consistency=strong answers (it hung while the index was stuck).
		st, b := d.rawGet(t, "/v1/search?consistency=strong&q=ukulele", supervisorToken, 30*time.Second)
		if st != http.StatusOK || !bytes.Contains(b, []byte("ukulele")) {
			t.Fatalf("node n%d consistency=strong: %d %s", i+1, st, b)
		}
		if v := d.metric("holdfast_index_stuck"); v > 0 {
			t.Fatalf("node n%d holdfast_index_stuck = %v", i+1, v)
		}
	}
	// The audit trail keeps what was asked, escaped, not replaced.
	var read, search bool
	for _, h := range n1.auditRecords(t, "read_message") {
		read = read || strings.Contains(h.Text, `\xff\xfe`)
	}
	for _, h := range n2.auditRecords(t, "search") {
		search = search || strings.Contains(h.Text, `\\xff\\xfe`)
	}
	if !read || !search {
		t.Fatalf("audit records of the bad read (%v) and search (%v) do not keep the escaped bytes: %+v", read, search, n2.auditRecords(t, "search"))
	}
}

// TestAuditTenantIsReserved is Found 2 and the audit half of Found 9: an
// ingest token cannot write tenant _audit or platform holdfast, nor add an
// edit or delete version to a real audit record; a supervisor reading an
// audit record by id gets exactly what a missing id gets.
func TestAuditTenantIsReserved(t *testing.T) {
	s3 := sharedMinIO(t)
	d := newDaemon(t, s3, "e2e-audit-"+randomSuffix(), "")
	d.start()
	// A real audit record: the record of this search.
	if hits := d.search(t, url.Values{"q": {"anything"}}); len(hits) != 0 {
		t.Fatalf("empty archive finds %v", hits)
	}
	d.waitDrained(60 * time.Second)
	var real auditHit
	deadline := time.Now().Add(60 * time.Second)
	for real.ID == "" {
		if hits := d.auditRecords(t, "search"); len(hits) > 0 {
			real = hits[0]
		} else if time.Now().After(deadline) {
			t.Fatal("the search was never on the audit trail")
		}
		time.Sleep(200 * time.Millisecond)
	}
	var stored struct {
		Versions []struct {
			SourceID string `json:"source_id"`
		} `json:"versions"`
	}
	d.api(t, http.MethodGet, "/v1/messages/"+real.ID, adminToken, nil, &stored)
	if len(stored.Versions) != 1 {
		t.Fatalf("audit record %s has %d versions", real.ID, len(stored.Versions))
	}
	realSource := stored.Versions[0].SourceID
	forged := func(tenant, platform, sourceID, action string, version int) []byte {
		v := ""
		if version > 0 {
			v = fmt.Sprintf(`,"version":%d`, version)
		}
		return []byte(fmt.Sprintf(`{"platform":%q,"tenant":%q,"source_id":%q,"action":%q%s,"type":"audit","conversation":{"id":"search"},"from":{"id":"supervisor"},"sent_at":"2026-11-20T10:00:00Z","text":"forged"}`+"\n",
			platform, tenant, sourceID, action, v))
	}
	for _, tc := range []struct {
		name, field string
		body        []byte
	}{
		{"forged audit record", "tenant", forged("_audit", "holdfast", "forged-1", "send", 0)},
		{"audit tenant, other platform", "tenant", forged("_audit", "generic", "forged-2", "send", 0)},
		{"holdfast platform, other tenant", "platform", forged("acme", "holdfast", "forged-3", "send", 0)},
		{"upper-case platform", "platform", forged("acme", "HOLDFAST", "forged-4", "send", 0)},
		{"edit of a real audit record", "tenant", forged("_audit", "holdfast", realSource, "edit", 1)},
		{"delete of a real audit record", "tenant", forged("_audit", "holdfast", realSource, "delete", 2)},
	} {
		req, _ := http.NewRequest(http.MethodPost, d.url+"/v1/messages", bytes.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+ingestToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error struct{ Code, Field string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		if resp.StatusCode != http.StatusBadRequest || e.Error.Field != tc.field {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, resp.StatusCode, b, tc.field)
		}
	}
	d.waitDrained(60 * time.Second)
	if hits := d.auditRecords(t, "forged"); len(hits) != 0 {
		t.Fatalf("forged records on the audit trail: %+v", hits)
	}
	// Found 9: an audit record read by id as a supervisor is a missing id.
	missing := strings.Repeat("0", len(real.ID))
	st1, b1 := d.rawGet(t, "/v1/messages/"+real.ID, supervisorToken, 30*time.Second)
	st2, b2 := d.rawGet(t, "/v1/messages/"+missing, supervisorToken, 30*time.Second)
	if st1 != http.StatusNotFound || st1 != st2 || string(bytes.ReplaceAll(b1, []byte(real.ID), []byte(missing))) != string(b2) {
		t.Fatalf("supervisor reading audit record %s: %d %s; a missing id: %d %s", real.ID, st1, b1, st2, b2)
	}
	// No version was added to it.
	d.api(t, http.MethodGet, "/v1/messages/"+real.ID, adminToken, nil, &stored)
	if len(stored.Versions) != 1 {
		t.Fatalf("audit record %s has %d versions after the forged edit and delete", real.ID, len(stored.Versions))
	}
	// And the chain in the bucket (S3 this time) verifies: nothing
	// forged got into it.
	d.waitDrained(60 * time.Second)
	if out, ok := d.auditVerify(t); !ok || !strings.Contains(out, "node e2e chain") || !strings.Contains(out, "ok: every chain") {
		t.Fatalf("holdfast audit verify on S3:\n%s", out)
	}
}
