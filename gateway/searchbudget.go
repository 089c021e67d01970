package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/index/querystring"
)

// What one search may cost (issue 11, Found 4: fifty "*a*" patterns ran
// for half a minute and two of them held both cores). The query limits
// live in the index, which refuses an over-limit query before it runs;
// the gateway adds a deadline, passed to bleve as the search's context,
// and a cap on each caller's searches in flight.

// Defaults of the search budget.
const (
	// DefaultSearchTimeout is how long a search may run before it is
	// stopped and answered 504.
	DefaultSearchTimeout = 10 * time.Second
	// DefaultSearchesPerCaller is how many searches one caller may have
	// running at once; more are answered 429.
	DefaultSearchesPerCaller = 4
	// searchRetryAfter is what a 429 tells the caller to wait, in seconds.
	searchRetryAfter = 1
)

// Machine codes of the search budget's answers.
const (
	// CodeQueryLimit: the query is over one of the search limits (400).
	CodeQueryLimit = "query_limit"
	// CodeSearchTimeout: the search ran past search.timeout (504).
	CodeSearchTimeout = "search_timeout"
	// CodeTooManySearches: the caller has as many searches running as
	// search.max_concurrent_per_caller allows (429).
	CodeTooManySearches = "too_many_searches"
)

// searchSlots admits at most max searches at once per caller.
type searchSlots struct {
	max     int // 0: no limit
	mu      sync.Mutex
	running map[string]int
}

// acquire takes one of caller's slots; ok is false when all are taken.
// release gives it back and may be called once.
func (s *searchSlots) acquire(caller string) (release func(), ok bool) {
	if s.max <= 0 {
		return func() {}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[caller] >= s.max {
		return nil, false
	}
	if s.running == nil {
		s.running = map[string]int{}
	}
	s.running[caller]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.running[caller]--; s.running[caller] <= 0 {
				delete(s.running, caller)
			}
		})
	}, true
}

// tooManySearches is the 429 of a caller over its concurrent searches.
func (g *Gateway) tooManySearches(w http.ResponseWriter, name string) {
	g.metrics.searchesThrottled.add(1)
	w.Header().Set("Retry-After", strconv.Itoa(searchRetryAfter))
	writeError(w, &APIError{Status: http.StatusTooManyRequests, Code: CodeTooManySearches,
		Limit: "search.max_concurrent_per_caller", Max: g.slots.max,
		Message: fmt.Sprintf("%q already has %d searches running, the most search.max_concurrent_per_caller allows; retry when one is done",
			name, g.slots.max)})
}

// searchContext bounds a search by search.timeout; cancelled too when the
// client goes away.
func (g *Gateway) searchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if g.cfg.SearchTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, g.cfg.SearchTimeout)
}

// budgetError maps a search stopped by its budget to an answer; nil when
// err is not about the budget. parent is the request's own context: its
// end means the client left, not that the deadline passed.
func (g *Gateway) budgetError(parent context.Context, err error) *APIError {
	var le *querystring.LimitError
	var pe *index.PatternError
	switch {
	case errors.As(err, &le):
		g.metrics.searchesOverLimit.add(1)
		return &APIError{Status: http.StatusBadRequest, Code: CodeQueryLimit, Field: "q", Position: le.Pos + 1,
			Limit: "search." + le.Limit, Max: le.Max, Message: le.Error()}
	case errors.As(err, &pe):
		g.metrics.searchesOverLimit.add(1)
		return &APIError{Status: http.StatusBadRequest, Code: CodeQueryLimit, Field: "q",
			Limit: "search." + index.LimitPatternWords, Max: pe.Max, Message: pe.Error()}
	case errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil:
		g.metrics.searchesTimedOut.add(1)
		return &APIError{Status: http.StatusGatewayTimeout, Code: CodeSearchTimeout, Field: "q",
			Limit: "search.timeout", Message: fmt.Sprintf("the search ran longer than search.timeout (%v) and was stopped: "+
				"narrow it with a date range or filters, or use fewer patterns", g.cfg.SearchTimeout)}
	}
	return nil
}

// auditedQueryBytes is how much of a query refused for its length its
// audit record keeps: enough to recognise it, not a megabyte of it.
const auditedQueryBytes = 1024

// queryTooLong refuses, and audits, a query longer than
// search.max_query_bytes before it takes a slot or reaches the index.
func (g *Gateway) queryTooLong(r *http.Request, action string, p searchParams) *APIError {
	m := g.cfg.SearchMaxQueryBytes
	if m <= 0 || len(p.Q) <= m {
		return nil
	}
	g.metrics.searchesOverLimit.add(1)
	e := &APIError{Status: http.StatusBadRequest, Code: CodeQueryLimit, Field: "q",
		Limit: "search." + querystring.LimitQueryBytes, Max: m,
		Message: fmt.Sprintf("the query is %d bytes long; the limit (search.%s) is %d: search for fewer or shorter terms",
			len(p.Q), querystring.LimitQueryBytes, m)}
	ev := newAuditEvent(r, action)
	ev.Query, ev.Escaped = p.auditView()
	q, _ := ev.Query["q"].(string) // Go-quoted by auditView when not UTF-8
	ev.Query["q"] = cutUTF8(q, auditedQueryBytes) + "…"
	ev.Query["q_bytes"] = len(p.Q)
	ev.Status = e.Status
	if err := g.audit(r.Context(), ev); err != nil {
		g.log.WithError(err).Error("audit refused search")
	}
	return e
}

// cutUTF8 is at most n bytes of s, cut at a character boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
