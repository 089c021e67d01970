package e2e

// Edge hardening (issue 11, Found 7, 8 and 9) against the real binary:
// webhook replays, audited denials and admin actions, the HTTP limits.

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const e2eDingTalkSecret = "SECe2e0dingtalk0robot0secret"

// dingTalkPost posts body to the DingTalk webhook with timestamp ts and
// its valid sign.
func (d *daemon) dingTalkPost(t testing.TB, body []byte, ts string) (int, string) {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(e2eDingTalkSecret))
	mac.Write([]byte(ts + "\n" + e2eDingTalkSecret))
	req, _ := http.NewRequest(http.MethodPost, d.url+"/v1/sources/dingtalk", bytes.NewReader(body))
	req.Header.Set("timestamp", ts)
	req.Header.Set("sign", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Content-Type", "application/json")
	return doRaw(t, req)
}

func doRaw(t testing.TB, req *http.Request) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDingTalkCapturedHeadersReplayedWithForgedBody is Found 7: the sign
// covers the timestamp only, and a captured (timestamp, sign) pair
// carried a forged senderNick="CEO" into the archive.
func TestDingTalkCapturedHeadersReplayedWithForgedBody(t *testing.T) {
	s3 := sharedMinIO(t)
	d := newDaemon(t, s3, "e2e-replay-"+randomSuffix(), "sources: {dingtalk: {tenant: ding, app_secret: "+e2eDingTalkSecret+"}}\n")
	d.start()
	real, err := os.ReadFile(filepath.Join(repoRoot(t), "journal", "testdata", "dingtalk", "text_group.json"))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if code, b := d.dingTalkPost(t, real, ts); code != http.StatusAccepted {
		t.Fatalf("signed callback: %d %s", code, b)
	}
	if code, b := d.dingTalkPost(t, real, ts); code != http.StatusAccepted || !strings.Contains(b, `"duplicate":true`) {
		t.Fatalf("DingTalk redelivering the same callback: %d %s", code, b)
	}
	forged := bytes.Replace(real, []byte(`"senderNick": "赵文浩"`), []byte(`"senderNick": "CEO"`), 1)
	forged = bytes.Replace(forged, []byte(`msgGDkZWYZlvw7rFtTHcDIFWw==`), []byte(`msgForgedByReplay0000000==`), 1)
	forged = bytes.Replace(forged, []byte("这支基金保本保收益，今天下单"), []byte("wire the funds today, CEO"), 1)
	if code, b := d.dingTalkPost(t, forged, ts); code != http.StatusUnauthorized {
		t.Fatalf("captured headers with a forged body: %d %s, want 401", code, b)
	}
	// The forged callback was not archived: delivered with a signature
	// of its own it is new, not a duplicate.
	fresh := strconv.FormatInt(time.Now().UnixMilli()+1, 10)
	if code, b := d.dingTalkPost(t, forged, fresh); code != http.StatusAccepted || strings.Contains(b, `"duplicate":true`) {
		t.Fatalf("the forged body under a signature of its own: %d %s, want a new record", code, b)
	}
	if v := d.metric("holdfast_webhook_replays_total"); v != 1 {
		t.Fatalf("holdfast_webhook_replays_total = %v, want 1", v)
	}
}

// auditTexts is the text of every audit record the node has indexed.
func (d *daemon) auditTexts(t testing.TB) []string {
	var audit struct {
		Hits []struct {
			Text string `json:"text"`
		} `json:"hits"`
	}
	d.api(t, http.MethodGet, "/v1/audit?size=1000", adminToken, nil, &audit)
	out := make([]string, len(audit.Hits))
	for i, h := range audit.Hits {
		out[i] = h.Text
	}
	return out
}

var deniedRecord = regexp.MustCompile(`^(\S+) \((\S+)\) denied (.+?)(?: \{[^}]*\})? from (\S+), status (\d+), (\d+) times$`)

// TestDenialsAndClusterAdminAreAudited is Found 8: 401, 403 and 404 on
// holds and sweeps left no record, and reading the cluster, joining and
// removing a node were not audited at all. A flood of 300 bad tokens is
// one record (two if it straddles a minute) with its count.
func TestDenialsAndClusterAdminAreAudited(t *testing.T) {
	s3 := sharedMinIO(t)
	d := newDaemon(t, s3, "e2e-denials-"+randomSuffix(), "")
	d.start()
	call := func(method, path, token string, body string) int {
		req, _ := http.NewRequest(method, d.url+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		code, _ := doRaw(t, req)
		return code
	}
	for range 300 {
		if code := call(http.MethodPost, "/v1/holds", "stolen-or-guessed", `{"matter":"m"}`); code != http.StatusUnauthorized {
			t.Fatalf("bad token: %d", code)
		}
	}
	for range 5 {
		if code := call(http.MethodPost, "/v1/sweeps", supervisorToken, ""); code != http.StatusForbidden {
			t.Fatalf("supervisor starting a sweep: %d", code)
		}
	}
	if code := call(http.MethodGet, "/v1/holds/no-such-hold", adminToken, ""); code != http.StatusNotFound {
		t.Fatalf("unknown hold: %d", code)
	}
	if code := call(http.MethodGet, "/v1/sweeps/no-such-sweep", adminToken, ""); code != http.StatusNotFound {
		t.Fatalf("unknown sweep: %d", code)
	}
	if code := call(http.MethodGet, "/v1/cluster", adminToken, ""); code != http.StatusOK {
		t.Fatalf("GET /v1/cluster: %d", code)
	}
	if code := call(http.MethodDelete, "/v1/cluster/nodes/no-such-node", adminToken, ""); code/100 == 2 {
		t.Fatalf("removing an unknown node: %d", code)
	}
	// The denials of this minute are written at its end or at shutdown.
	d.terminate()
	d.start()

	type agg struct{ records, count int }
	var denied map[string]agg
	var texts []string
	waitFor(t, 60*time.Second, "the denials and cluster reads in the audit trail", func() bool {
		texts = d.auditTexts(t)
		denied = map[string]agg{}
		for _, s := range texts {
			if m := deniedRecord.FindStringSubmatch(s); m != nil {
				n, _ := strconv.Atoi(m[6])
				a := denied[m[3]+" "+m[5]]
				denied[m[3]+" "+m[5]] = agg{a.records + 1, a.count + n}
			}
		}
		return denied["POST /v1/holds 401"].count == 300 && denied["POST /v1/sweeps 403"].count == 5 &&
			denied["GET /v1/holds/{id} 404"].count == 1 && denied["GET /v1/sweeps/{id} 404"].count == 1 &&
			containsAll(texts, "read_cluster", "remove_node no-such-node")
	})
	if r := denied["POST /v1/holds 401"].records; r > 2 {
		t.Fatalf("300 bad tokens made %d audit records, want one per minute", r)
	}
	for _, s := range texts {
		if m := deniedRecord.FindStringSubmatch(s); m != nil && m[3] == "POST /v1/holds" && (m[1] != "anonymous" || m[4] != "127.0.0.1") {
			t.Fatalf("unauthenticated denial recorded as %q: want the address as who", s)
		}
	}
}

func containsAll(texts []string, subs ...string) bool {
	all := strings.Join(texts, "\n")
	for _, s := range subs {
		if !strings.Contains(all, s) {
			return false
		}
	}
	return true
}

// TestHTTPEdgeLimits is Found 9: a trickled body stayed open, 100,000
// recipients and a NUL in source_id were accepted, /metrics was open to
// anyone.
func TestHTTPEdgeLimits(t *testing.T) {
	s3 := sharedMinIO(t)
	d := newDaemon(t, s3, "e2e-edge-"+randomSuffix(), "")
	listen := strings.TrimPrefix(d.url, "http://")
	rewriteConfig(t, d.cfgPath, fmt.Sprintf("http: {listen: %q}", listen),
		fmt.Sprintf("http: {listen: %q, read_timeout: 2s, read_header_timeout: 2s, metrics_token: e2e-metrics-token-0123}", listen))
	d.start()

	// A 1 MB body trickled a byte at a time is cut off.
	conn, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n", ingestToken, 1<<20)
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("{")); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	close(stop)
	if err != nil {
		t.Fatalf("no answer to a body trickled at 5 bytes/s: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("trickled body: %d, want 408", resp.StatusCode)
	}

	// /metrics behind http.metrics_token.
	req, _ := http.NewRequest(http.MethodGet, d.url+"/metrics", nil)
	if code, _ := doRaw(t, req); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %d", code)
	}
	req, _ = http.NewRequest(http.MethodGet, d.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer e2e-metrics-token-0123")
	if code, b := doRaw(t, req); code != http.StatusOK || !strings.Contains(b, "holdfast_messages_accepted_total") {
		t.Fatalf("/metrics with the token: %d", code)
	}
}

// TestIngestRefusesControlCharactersAndRecipientFloods is Found 9 with
// the default config: 100,000 recipients in one message and a NUL in
// source_id were accepted over HTTP.
func TestIngestRefusesControlCharactersAndRecipientFloods(t *testing.T) {
	s3 := sharedMinIO(t)
	d := newDaemon(t, s3, "e2e-ids-"+randomSuffix(), "")
	d.start()
	// Recipients cap and control characters in ids: 400 naming the field.
	to := make([]string, 100_000)
	for i := range to {
		to[i] = fmt.Sprintf(`{"id":"u%d@example.com"}`, i)
	}
	base := `"conversation":{"id":"c1"},"from":{"id":"a@example.com"},"sent_at":"2026-01-02T03:04:05Z","text":"hello"`
	for field, body := range map[string]string{
		"to":        `{"platform":"email","source_id":"many-rcpt",` + base + `,"to":[` + strings.Join(to, ",") + `]}`,
		"source_id": `{"platform":"email","source_id":"nul\u0000id",` + base + `}`,
		"from.id":   `{"platform":"email","source_id":"ctl",` + strings.Replace(base, `a@example.com`, `a@example.com\u001b[31m`, 1) + `}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, d.url+"/v1/messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ingestToken)
		req.Header.Set("Content-Type", "application/json")
		code, b := doRaw(t, req)
		var e struct {
			Error struct {
				Field string `json:"field"`
			} `json:"error"`
		}
		if code != http.StatusBadRequest || json.Unmarshal([]byte(b), &e) != nil || e.Error.Field != field {
			t.Errorf("%s: %d %s, want 400 naming %s", field, code, b, field)
		}
	}

}
