package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dingTalkRequest posts body to the DingTalk webhook with the given
// timestamp header and its valid sign.
func (n *testNode) dingTalkRequest(body []byte, ts string) (int, []byte) {
	n.t.Helper()
	mac := hmac.New(sha256.New, []byte(testDingTalkSecret))
	mac.Write([]byte(ts + "\n" + testDingTalkSecret))
	req, _ := http.NewRequest(http.MethodPost, n.url+"/v1/sources/dingtalk", bytes.NewReader(body))
	req.Header.Set("timestamp", ts)
	req.Header.Set("sign", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// TestDingTalkReplayWithAnotherBodyIsRefused is Found 7: DingTalk's sign
// covers the timestamp only, so a captured header pair used to carry any
// body for an hour (a forged senderNick "CEO" was archived). The same
// pair with the same body stays a redelivery answered as a duplicate.
func TestDingTalkReplayWithAnotherBodyIsRefused(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	real := fixture(t, "dingtalk/text_group.json")
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	code, b := n.dingTalkRequest(real, ts)
	if code != http.StatusAccepted {
		t.Fatalf("signed delivery: %d %s", code, b)
	}
	if code, b = n.dingTalkRequest(real, ts); code != http.StatusAccepted || !bytes.Contains(b, []byte(`"duplicate":true`)) {
		t.Fatalf("redelivery of the same body: %d %s", code, b)
	}
	forged := bytes.Replace(real, []byte(`"senderNick": "赵文浩"`), []byte(`"senderNick": "CEO"`), 1)
	forged = bytes.Replace(forged, []byte(`msgGDkZWYZlvw7rFtTHcDIFWw==`), []byte(`msgForgedByReplay0000000==`), 1)
	before := n.gw.metrics.messagesAccepted.v.Load()
	code, b = n.dingTalkRequest(forged, ts)
	var e errorAnswer
	if code != http.StatusUnauthorized || json.Unmarshal(b, &e) != nil || !strings.Contains(e.Error.Message, "already used") {
		t.Fatalf("captured headers with a forged body: %d %s, want 401", code, b)
	}
	if got := n.gw.metrics.messagesAccepted.v.Load(); got != before {
		t.Fatalf("the replay archived %d messages", got-before)
	}
	if !strings.Contains(n.metricsText(""), "holdfast_webhook_replays_total 1") {
		t.Fatal("the replay is not counted in holdfast_webhook_replays_total")
	}
	// A fresh signature (a real new delivery) is accepted.
	fresh := strconv.FormatInt(time.Now().UnixMilli()+1, 10)
	if code, b = n.dingTalkRequest(forged, fresh); code != http.StatusAccepted {
		t.Fatalf("new signature: %d %s", code, b)
	}
}

// metricsText reads /metrics with token ("" for none) and requires 200.
func (n *testNode) metricsText(token string) string {
	n.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.url+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		n.t.Fatalf("/metrics: %d %s", resp.StatusCode, b.String())
	}
	return b.String()
}

func TestMetricsToken(t *testing.T) {
	const token = "metrics-scraper-token-0123"
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t), func(c *Config) { c.MetricsToken = token })
	if code, h, _ := n.do(http.MethodGet, "/metrics", "", "", nil); code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("/metrics without the token: %d", code)
	}
	if code, _, _ := n.do(http.MethodGet, "/metrics", RoleAdmin, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("/metrics with an API token instead of http.metrics_token: %d", code)
	}
	if !strings.Contains(n.metricsText(token), "holdfast_messages_accepted_total") {
		t.Fatal("no metrics with the token")
	}
}

// TestIngestRefusesControlCharactersAndTooManyRecipients is Found 9: NUL
// was accepted in source_id and 100,000 recipients in one message.
func TestIngestRefusesControlCharactersAndTooManyRecipients(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	to := make([]string, DefaultMaxRecipients+1)
	for i := range to {
		to[i] = fmt.Sprintf(`{"id":"u%d"}`, i)
	}
	sent := `"sent_at":"2026-01-02T03:04:05Z","text":"hi"`
	for field, body := range map[string]string{
		"source_id":       `{"platform":"generic","source_id":"m1\u0000x","conversation":{"id":"c"},"from":{"id":"a"},` + sent + `}`,
		"conversation.id": `{"platform":"generic","source_id":"m2","conversation":{"id":"c\u0007"},"from":{"id":"a"},` + sent + `}`,
		"from.id":         `{"platform":"generic","source_id":"m3","conversation":{"id":"c"},"from":{"id":"a\u001b"},` + sent + `}`,
		"to[1].id":        `{"platform":"generic","source_id":"m4","conversation":{"id":"c"},"from":{"id":"a"},"to":[{"id":"b"},{"id":"c\u0000"}],` + sent + `}`,
		"tenant":          `{"platform":"generic","tenant":"acme\u0000","source_id":"m5","conversation":{"id":"c"},"from":{"id":"a"},` + sent + `}`,
		"to":              `{"platform":"generic","source_id":"m6","conversation":{"id":"c"},"from":{"id":"a"},"to":[` + strings.Join(to, ",") + `],` + sent + `}`,
	} {
		code, _, b := n.do(http.MethodPost, "/v1/messages", RoleIngest, "application/json", []byte(body))
		var e errorAnswer
		if code != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Error.Field != field {
			t.Errorf("%s: %d %s, want 400 naming %s", field, code, b, field)
		}
	}
	n.ingest("/v1/messages", "application/json", []byte(`{"platform":"generic","source_id":"ok","conversation":{"id":"c"},"from":{"id":"a"},"to":[`+strings.Join(to[:DefaultMaxRecipients], ",")+`],`+sent+`}`))
}

// TestTrickledBodyIsCutOff is Found 9: a body trickled a byte at a time
// kept its connection open for as long as the client liked.
func TestTrickledBodyIsCutOff(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t), func(c *Config) { c.ReadTimeout = time.Second })
	conn, err := net.Dial("tcp", n.gw.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", testTokens[RoleIngest], 1<<20)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	// Generous: the server must answer long before the megabyte arrives
	// (which would take 29 hours at this rate).
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a trickled body: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("trickled body: %d, want 408", resp.StatusCode)
	}
}

// TestConnectionCap: connections beyond http.max_conns wait until one
// closes.
func TestConnectionCap(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t), func(c *Config) { c.MaxConns = 2 })
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", n.gw.Addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		defer c.Close()
	}
	// Make sure both held connections were accepted: each answers.
	for _, c := range held {
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("held connection: %v", err)
		}
		resp.Body.Close()
	}
	client := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get(n.url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a third connection was served while two were open with max_conns 2")
	}
	held[0].Close()
	waitFor(t, "a slot after one connection closed", func() bool {
		resp, err := client.Get(n.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// deniedCounts reads the audit trail and sums, per route and status, the
// counts of its denial records; records is how many there are.
func (n *testNode) deniedCounts() (counts map[string]int, records int) {
	n.t.Helper()
	code, _, b := n.do(http.MethodGet, "/v1/audit?q=denied&size=1000", RoleAuditor, "", nil)
	if code != http.StatusOK {
		n.t.Fatalf("/v1/audit: %d %s", code, b)
	}
	var ans struct {
		Hits []struct {
			Text         string `json:"text"`
			Conversation struct {
				ID string `json:"id"`
			} `json:"conversation"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		n.t.Fatal(err)
	}
	re := regexp.MustCompile(`denied (.+?)(?: \{[^}]*\})? from \S+, status (\d+), (\d+) times`)
	counts = map[string]int{}
	for _, h := range ans.Hits {
		if h.Conversation.ID != AuditDenied {
			continue
		}
		m := re.FindStringSubmatch(h.Text)
		if m == nil {
			n.t.Fatalf("denial record %q", h.Text)
		}
		c, _ := strconv.Atoi(m[3])
		counts[m[1]+" "+m[2]] += c
		records++
	}
	return counts, records
}

// TestDenialsAreAuditedAggregated is Found 8: refused requests left no
// record. Now each is counted, and a flood of them becomes one record per
// caller, route and window, not one write per request.
func TestDenialsAreAuditedAggregated(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	for range 200 {
		req, _ := http.NewRequest(http.MethodGet, n.url+"/v1/search?q=x", nil)
		req.Header.Set("Authorization", "Bearer not-a-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad token: %d", resp.StatusCode)
		}
	}
	for range 3 {
		if code, _, _ := n.do(http.MethodGet, "/v1/audit", RoleIngest, "", nil); code != http.StatusForbidden {
			t.Fatalf("ingest token on /v1/audit: %d", code)
		}
	}
	if code, _, _ := n.do(http.MethodGet, "/v1/nosuch", RoleAdmin, "", nil); code != http.StatusNotFound {
		t.Fatalf("unknown route: %d", code)
	}
	spooled := n.gw.spool.LastLSN()
	n.gw.flushDenials(context.Background())
	if got := n.gw.spool.LastLSN() - spooled; got > 3 {
		t.Fatalf("204 denials made %d audit records, want one per caller, route and status (3)", got)
	}
	if err := n.gw.WaitStored(context.Background()); err != nil {
		t.Fatal(err)
	}
	var counts map[string]int
	var records int
	waitFor(t, "the denial records in the audit index", func() bool {
		counts, records = n.deniedCounts()
		return records >= 3
	})
	want := map[string]int{"GET /v1/search 401": 200, "GET /v1/audit 403": 3, "GET (no route) 404": 1}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%s: count %d, want %d (all: %v)", k, counts[k], v, counts)
		}
	}
	if records != 3 {
		t.Errorf("%d denial records, want 3", records)
	}
}

// TestDenialKeysAreBounded: denials from more addresses than a window
// may hold are folded into one record per route, so neither memory nor
// audit writes grow with the number of attackers.
func TestDenialKeysAreBounded(t *testing.T) {
	d := newDenials()
	now := time.Now()
	for i := range 5 * maxDenialKeys {
		d.add(denialKey{Remote: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), Route: "POST /v1/holds", Status: http.StatusUnauthorized}, now)
	}
	keys, counts := d.take()
	total := 0
	for _, c := range counts {
		total += c.n
	}
	if len(keys) > maxDenialKeys+1 || total != 5*maxDenialKeys {
		t.Fatalf("%d keys counting %d denials; want at most %d keys counting %d", len(keys), total, maxDenialKeys+1, 5*maxDenialKeys)
	}
	if k, _ := d.take(); len(k) != 0 {
		t.Fatalf("take left %d keys behind", len(k))
	}
}

// fakeCluster is a ClusterAdmin that records what it was asked.
type fakeCluster struct{ joined, removed []string }

func (f *fakeCluster) Members(context.Context) ([]Member, error) {
	return []Member{{ID: "n1", Role: "leader"}}, nil
}
func (f *fakeCluster) Join(_ context.Context, id, _ string) error {
	f.joined = append(f.joined, id)
	return nil
}
func (f *fakeCluster) Remove(_ context.Context, id string) error {
	f.removed = append(f.removed, id)
	return nil
}
func (f *fakeCluster) LeaderLastSeq(context.Context) (uint64, error) { return 0, nil }

// TestClusterAdminIsAudited is Found 8: reading the cluster, joining and
// removing a node left no audit record.
func TestClusterAdminIsAudited(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	fc := &fakeCluster{}
	n.gw.cluster = fc // the handlers are called directly below
	admin := caller{Name: "ops", Role: RoleAdmin}
	serve := func(h http.HandlerFunc, method, path, body string) int {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, admin))
		if strings.HasPrefix(path, "/v1/cluster/nodes/") {
			r.SetPathValue("id", strings.TrimPrefix(path, "/v1/cluster/nodes/"))
		}
		w := httptest.NewRecorder()
		h(w, r)
		return w.Code
	}
	if code := serve(n.gw.handleCluster, http.MethodGet, "/v1/cluster", ""); code != http.StatusOK {
		t.Fatalf("GET /v1/cluster: %d", code)
	}
	if code := serve(n.gw.handleJoin, http.MethodPost, "/v1/cluster/join", `{"id":"n4","raft_addr":"10.0.0.14:7000"}`); code != http.StatusOK || len(fc.joined) != 1 {
		t.Fatalf("join: %d %v", code, fc.joined)
	}
	if code := serve(n.gw.handleRemoveNode, http.MethodDelete, "/v1/cluster/nodes/n3", ""); code != http.StatusOK || len(fc.removed) != 1 {
		t.Fatalf("remove: %d %v", code, fc.removed)
	}
	if err := n.gw.WaitStored(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cluster actions in the audit trail", func() bool {
		code, _, b := n.do(http.MethodGet, "/v1/audit?q=ops&size=100", RoleAuditor, "", nil)
		s := string(b)
		return code == http.StatusOK && strings.Contains(s, "ops (admin) read_cluster") &&
			strings.Contains(s, `ops (admin) join n4 {\"raft_addr\":\"10.0.0.14:7000\"}`) && strings.Contains(s, "ops (admin) remove_node n3")
	})
}

// TestTooLargeBodyClosesTheConnection: the denial audit's status writer
// must not hide the server's own writer from http.MaxBytesReader, which
// closes the connection after a body that is too large.
func TestTooLargeBodyClosesTheConnection(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t), func(c *Config) { c.MaxBodyBytes = 1 << 10 })
	req, _ := http.NewRequest(http.MethodPost, n.url+"/v1/messages", bytes.NewReader(bytes.Repeat([]byte(" "), 4<<10)))
	req.Header.Set("Authorization", "Bearer "+testTokens[RoleIngest])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("too large: %d, close %v; want 413 and the connection closed", resp.StatusCode, resp.Close)
	}
}
