package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/index/querystring"
)

// budgetLimits are the daemon's default search limits.
var budgetLimits = index.Limits{
	Limits:          querystring.Limits{MaxBytes: 8192, MaxClauses: 256, MaxWildcards: 10, MaxPatternChars: 64, MaxPatternWildcards: 4},
	MaxPatternWords: 4096,
}

// mustStartBudgetNode is mustStartNode with the index's search limits set
// and its searcher wrapped by wrap (nil: none).
func mustStartBudgetNode(t *testing.T, wrap func(Searcher) Searcher, opts ...nodeOption) *testNode {
	t.Helper()
	limits := func(c *Config) { c.SearchMaxQueryBytes = budgetLimits.MaxBytes }
	return startNode(t, t.TempDir(), mustOpenStore(t), nodeSetup{limits: budgetLimits, wrap: wrap}, append([]nodeOption{limits}, opts...)...)
}

// wantBudgetError checks an answer is status with code, field q and limit.
func wantBudgetError(t *testing.T, what string, code int, b []byte, status int, apiCode, limit string, max int) APIError {
	t.Helper()
	var e errorAnswer
	if err := json.Unmarshal(b, &e); err != nil || code != status || e.Error.Code != apiCode ||
		e.Error.Field != "q" || e.Error.Limit != limit || e.Error.Max != max {
		t.Fatalf("%s: %d %s; want %d %s field q limit %s max %d", what, code, b, status, apiCode, limit, max)
	}
	return e.Error
}

// The slow searches of issue 11 (Found 4), over HTTP on a real index:
// each is refused at once with a 400 that names the limit and its value,
// and the refusal is on the audit record.
func TestSlowQueriesAreRefused(t *testing.T) {
	n := mustStartBudgetNode(t, nil)
	n.ingest("/v1/messages", "", []byte(msg("a1", "alpha bravo charlie quarterly")))
	n.waitSearchable()
	or := func(k int) string {
		ps := make([]string, k)
		for i := range ps {
			ps[i] = "*" + string(rune('a'+i%26)) + strings.Repeat("e", i/26) + "*"
		}
		return strings.Join(ps, " OR ")
	}
	for _, tc := range []struct {
		what, q string
		limit   string
		max     int
	}{
		{"50 wildcard terms", or(50), "search.max_wildcards", 10},
		{"200 wildcard terms", or(200), "search.max_wildcards", 10},
		{"* + 1000 a + *", "*" + strings.Repeat("a", 1000) + "*", "search.max_pattern_chars", 64},
		{"a pattern of wildcards only", "**", "", 0},
		{"300 words", strings.TrimSpace(strings.Repeat("quarterly ", 300)), "search.max_clauses", 256},
		{"9 KiB of query", strings.Repeat("x", 9<<10), "search.max_query_bytes", 8192},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			var code int
			var b []byte
			if method == http.MethodGet {
				code, _, b = n.do(method, "/v1/search?"+url.Values{"q": {tc.q}}.Encode(), RoleSupervisor, "", nil)
			} else {
				body, _ := json.Marshal(map[string]string{"q": tc.q})
				code, _, b = n.do(method, "/v1/search", RoleSupervisor, "application/json", body)
			}
			if tc.limit == "" {
				if e := wantBudgetError(t, tc.what, code, b, http.StatusBadRequest, CodeInvalidQuery, "", 0); e.Position != 1 {
					t.Errorf("%s: position %d", tc.what, e.Position)
				}
				continue
			}
			e := wantBudgetError(t, tc.what, code, b, http.StatusBadRequest, CodeQueryLimit, tc.limit, tc.max)
			if !strings.Contains(e.Message, strings.TrimPrefix(tc.limit, "search.")) {
				t.Errorf("%s: message %q does not name the limit", tc.what, e.Message)
			}
		}
	}
	// Within the limits the same kind of search runs.
	if hits := n.searchAll(url.Values{"q": {or(10)}}); len(hits) != 1 {
		t.Fatalf("10 patterns: %d hits, want 1", len(hits))
	}
	// Every refusal is on the record, the long query cut to 1 KiB.
	n.waitSearchable()
	code, _, b := n.do(http.MethodGet, "/v1/audit?size=100&q="+url.QueryEscape(`"status 400"`), RoleAuditor, "", nil)
	var r searchResult
	if code != http.StatusOK || json.Unmarshal(b, &r) != nil {
		t.Fatalf("audit: %d %s", code, b)
	}
	if r.Total != 12 {
		t.Errorf("%d refused searches on the record, want 12", r.Total)
	}
	cut := 0
	for _, h := range r.Hits {
		if strings.Contains(h.Text, `"q_bytes":9216`) {
			cut++
			if len(h.Text) > 2<<10 {
				t.Errorf("the audit record of a 9 KiB query holds %d bytes of text", len(h.Text))
			}
		}
	}
	if cut != 2 {
		t.Errorf("%d audit records of the 9 KiB query say its length, want 2", cut)
	}
}

// blockingSearcher holds searches of query "hold" until release is
// closed, and answers a search of "slowpoke" only when its context ends.
type blockingSearcher struct {
	Searcher
	started  chan struct{}
	release  chan struct{}
	deadline chan time.Duration
}

func (s *blockingSearcher) Search(ctx context.Context, r index.Request) (index.Result, error) {
	switch r.Query {
	case "hold":
		s.started <- struct{}{}
		<-s.release
	case "slowpoke":
		d, ok := ctx.Deadline()
		if !ok {
			return index.Result{}, errors.New("the search has no deadline")
		}
		s.deadline <- time.Until(d)
		<-ctx.Done()
		return index.Result{}, ctx.Err()
	}
	return s.Searcher.Search(ctx, r)
}

func newBlockingSearcher() (*blockingSearcher, func(Searcher) Searcher) {
	b := &blockingSearcher{started: make(chan struct{}, 4), release: make(chan struct{}), deadline: make(chan time.Duration, 4)}
	return b, func(s Searcher) Searcher { b.Searcher = s; return b }
}

// A search runs under search.timeout, passed to the index as its
// context: past it, the search is stopped and answered 504, on the record
// like any other.
func TestSearchTimeout(t *testing.T) {
	b, wrap := newBlockingSearcher()
	const timeout = 300 * time.Millisecond
	n := mustStartBudgetNode(t, wrap, func(c *Config) { c.SearchTimeout = timeout })
	code, _, body := n.do(http.MethodGet, "/v1/search?q=slowpoke", RoleSupervisor, "", nil)
	e := wantBudgetError(t, "a search that never ends", code, body, http.StatusGatewayTimeout, CodeSearchTimeout, "search.timeout", 0)
	if !strings.Contains(e.Message, timeout.String()) {
		t.Errorf("message %q does not say the timeout", e.Message)
	}
	if d := <-b.deadline; d <= 0 || d > timeout {
		t.Errorf("the index got a deadline %v away, want within %v", d, timeout)
	}
	n.waitSearchable()
	code, _, body = n.do(http.MethodGet, "/v1/audit?q="+url.QueryEscape(`"status 504"`), RoleAuditor, "", nil)
	if code != http.StatusOK || !strings.Contains(string(body), "slowpoke") {
		t.Fatalf("the stopped search is not on the record: %d %s", code, body)
	}
	if got := metricValue(t, n, "holdfast_searches_timed_out_total"); got != 1 {
		t.Errorf("holdfast_searches_timed_out_total %v, want 1", got)
	}
}

// One caller's searches in flight are capped at
// search.max_concurrent_per_caller: one more gets 429 with Retry-After,
// while another caller is still served, and the slot is free again once
// the search ends.
func TestSearchesPerCaller(t *testing.T) {
	b, wrap := newBlockingSearcher()
	n := mustStartBudgetNode(t, wrap, func(c *Config) { c.SearchesPerCaller = 1 })
	n.ingest("/v1/messages", "", []byte(msg("a1", "quarterly numbers")))
	n.waitSearchable()
	var wg sync.WaitGroup
	var held int
	wg.Add(1)
	go func() {
		defer wg.Done()
		held, _, _ = n.do(http.MethodGet, "/v1/search?q=hold", RoleSupervisor, "", nil)
	}()
	<-b.started
	code, h, body := n.do(http.MethodGet, "/v1/search?q=quarterly", RoleSupervisor, "", nil)
	var e errorAnswer
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || json.Unmarshal(body, &e) != nil ||
		e.Error.Code != CodeTooManySearches || e.Error.Limit != "search.max_concurrent_per_caller" || e.Error.Max != 1 {
		t.Fatalf("a second search of the same caller: %d Retry-After %q %s; want 429", code, h.Get("Retry-After"), body)
	}
	// The 429 is counted for the aggregated denial audit, not written
	// once per request.
	keys, counts := n.gw.denials.take()
	if len(keys) != 1 || keys[0].Status != http.StatusTooManyRequests || keys[0].Route != "GET /v1/search" || counts[0].n != 1 {
		t.Fatalf("denials counted for the 429: %+v %+v; want one GET /v1/search 429", keys, counts)
	}
	// Another caller is served meanwhile.
	code, _, body = n.do(http.MethodGet, "/v1/search?q=quarterly", RoleAdmin, "", nil)
	var r searchResult
	if code != http.StatusOK || json.Unmarshal(body, &r) != nil || r.Total != 1 {
		t.Fatalf("another caller's search: %d %s", code, body)
	}
	close(b.release)
	wg.Wait()
	if held != http.StatusOK {
		t.Fatalf("the held search: %d", held)
	}
	if hits := n.searchAll(url.Values{"q": {"quarterly"}}); len(hits) != 1 {
		t.Fatalf("after the held search ended: %d hits", len(hits))
	}
	if got := metricValue(t, n, "holdfast_searches_throttled_total"); got != 1 {
		t.Errorf("holdfast_searches_throttled_total %v, want 1", got)
	}
}

// searchSlots hands out max slots per caller, each given back once.
func TestSearchSlots(t *testing.T) {
	s := &searchSlots{max: 2}
	r1, ok1 := s.acquire("a")
	r2, ok2 := s.acquire("a")
	_, ok3 := s.acquire("a")
	rb, okb := s.acquire("b")
	if !ok1 || !ok2 || ok3 || !okb {
		t.Fatalf("acquire: %v %v %v %v; want true true false true", ok1, ok2, ok3, okb)
	}
	r1()
	r1() // a second release gives nothing back
	if _, ok := s.acquire("a"); !ok {
		t.Fatal("a slot released is not free")
	}
	if _, ok := s.acquire("a"); ok {
		t.Fatal("a double release freed two slots")
	}
	r2()
	rb()
	if len(s.running) != 1 {
		t.Fatalf("running %v", s.running)
	}
	if release, ok := (&searchSlots{}).acquire("x"); !ok || release == nil {
		t.Fatal("no limit refused a search")
	}
}

// metricValue reads one unlabelled value from n's /metrics.
func metricValue(t *testing.T, n *testNode, name string) float64 {
	t.Helper()
	code, _, b := n.do(http.MethodGet, "/metrics", "", "", nil)
	if code != http.StatusOK {
		t.Fatalf("metrics: %d", code)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// The deadline reaches the real index: a search whose deadline has passed
// by the time the index looks is stopped there and answered 504, in both
// sort orders, while the index itself answers the same search.
func TestSearchTimeoutReachesTheIndex(t *testing.T) {
	n := mustStartBudgetNode(t, nil, func(c *Config) { c.SearchTimeout = time.Nanosecond })
	n.ingest("/v1/messages", "", []byte(msg("a1", "quarterly numbers")))
	n.waitSearchable()
	for _, sort := range []string{"time", "relevance"} {
		code, _, b := n.do(http.MethodGet, "/v1/search?q=quarter*&sort="+sort, RoleSupervisor, "", nil)
		wantBudgetError(t, sort, code, b, http.StatusGatewayTimeout, CodeSearchTimeout, "search.timeout", 0)
	}
	if res, err := n.ix.Search(context.Background(), index.Request{Query: "quarter*"}); err != nil || res.Total != 1 {
		t.Fatalf("the index without a deadline: %d hits, %v", res.Total, err)
	}
}
