package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSlowSearchesAreRefused runs the searches of issue 11 (Found 4) on
// the real daemon with its default search budget: fifty and two hundred
// "*x*" patterns and "*" + 1000 × "a" + "*" ran for 33 s, over 100 s and
// 6 s, holding a core each; each is now answered at once with a 400 that
// names the limit and its value, and is on the audit record.
func TestSlowSearchesAreRefused(t *testing.T) {
	s3 := sharedMinIO(t)
	d := newDaemon(t, s3, "e2e-budget-"+randomSuffix(), "")
	d.start()
	var body bytes.Buffer
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	for i := 0; i < 400; i++ {
		body.Write(message(i, fmt.Sprintf("%s %s trade %d", words[i%8], words[(i/8)%8], i)))
	}
	if code, _, _, err := d.post("/v1/messages", body.Bytes()); err != nil || code != http.StatusAccepted {
		t.Fatalf("ingest: %d %v", code, err)
	}
	patterns := func(n int) string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = "*" + string(rune('a'+i%26)) + strings.Repeat("e", i/26) + "*"
		}
		return strings.Join(ps, " OR ")
	}
	// Indexed, and within the limits the same kind of search runs.
	if code, b := d.searchRaw(url.Values{"q": {patterns(10)}, "consistency": {"strong"}}, supervisorToken); code != http.StatusOK {
		t.Fatalf("10 patterns: %d %s", code, b)
	}
	for _, tc := range []struct {
		what, q, limit string
		max            int
	}{
		{"50 wildcard terms", patterns(50), "search.max_wildcards", 10},
		{"200 wildcard terms", patterns(200), "search.max_wildcards", 10},
		{"* + 1000 a + *", "*" + strings.Repeat("a", 1000) + "*", "search.max_pattern_chars", 64},
		{"a 10 KiB query", strings.Repeat("trade ", 10<<10/6), "search.max_query_bytes", 8192},
	} {
		code, b := d.searchRaw(url.Values{"q": {tc.q}}, supervisorToken)
		var e struct {
			Error struct {
				Code, Message, Field, Limit string
				Max                         int
			}
		}
		if err := json.Unmarshal(b, &e); err != nil || code != http.StatusBadRequest || e.Error.Code != "query_limit" ||
			e.Error.Field != "q" || e.Error.Limit != tc.limit || e.Error.Max != tc.max {
			t.Fatalf("%s: %d %.300s; want 400 query_limit, field q, limit %s, max %d", tc.what, code, b, tc.limit, tc.max)
		}
		if !strings.Contains(e.Error.Message, fmt.Sprint(tc.max)) {
			t.Errorf("%s: message %q does not say the limit's value", tc.what, e.Error.Message)
		}
	}
	// A legal hold's query is checked against the same limits when it is
	// placed, and the 400 names its field.
	hb, _ := json.Marshal(map[string]any{"matter": "m", "reason": "r", "query": patterns(11)})
	req, _ := http.NewRequest(http.MethodPost, d.url+"/v1/holds", bytes.NewReader(hb))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var he struct {
		Error struct{ Code, Field, Limit string }
	}
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(b, &he) != nil || he.Error.Code != "query_limit" ||
		he.Error.Field != "query" || he.Error.Limit != "search.max_wildcards" {
		t.Fatalf("a hold with 11 patterns: %d %s; want 400 query_limit on field query", resp.StatusCode, b)
	}

	// The refusals are on the audit record (the admin token reads it).
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Each audit search is on the record too, with this query in it
		// and status 200.
		code, b := d.auditRaw(url.Values{"q": {`"status 400" -"status 200"`}, "consistency": {"strong"}})
		var r struct {
			Total int `json:"total"`
		}
		if code != http.StatusOK || json.Unmarshal(b, &r) != nil {
			t.Fatalf("audit: %d %s", code, b)
		}
		if r.Total == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d refused searches on the audit record, want 4", r.Total)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if v := d.metric("holdfast_searches_over_limit_total"); v != 5 { // the hold's query too
		t.Errorf("holdfast_searches_over_limit_total %v, want 5", v)
	}
}

// searchRaw runs GET /v1/search with token and returns the status and
// body. The client gives up after 20 s: a refused search answers at once.
func (d *daemon) searchRaw(params url.Values, token string) (int, []byte) {
	return d.getRaw("/v1/search?"+params.Encode(), token)
}

func (d *daemon) auditRaw(params url.Values) (int, []byte) {
	return d.getRaw("/v1/audit?"+params.Encode(), adminToken)
}

func (d *daemon) getRaw(path, token string) (int, []byte) {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
