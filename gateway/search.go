package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/index/querystring"
)

// Searcher is what the gateway needs from the index. *index.Index
// satisfies it.
type Searcher interface {
	Search(ctx context.Context, r index.Request) (index.Result, error)
	// Versions lists every indexed version of a message, with where it is
	// stored; index.ErrNotFound when none is.
	Versions(id string) ([]index.Hit, error)
}

// searchParams is a search as a client sends it: query parameters of a GET
// or the JSON body of a POST (same names).
type searchParams struct {
	Q            string   `json:"q"`
	Platform     []string `json:"platform"`
	Conversation []string `json:"conversation"`
	Participant  []string `json:"participant"`
	Sender       []string `json:"sender"`
	Action       []string `json:"action"`
	Type         []string `json:"type"`
	From         string   `json:"from"`
	To           string   `json:"to"`
	Versions     string   `json:"versions"`
	Sort         string   `json:"sort"`
	Size         int      `json:"size"`
	Cursor       string   `json:"cursor"`
	Facets       bool     `json:"facets"`
	Highlight    *bool    `json:"highlight"`
	// Held, when true, keeps only messages a legal hold covers.
	Held bool `json:"held"`
}

// searchAnswer is the JSON answer of a search.
type searchAnswer struct {
	Total uint64 `json:"total"`
	// TotalRelation is "eq" when Total is exact, "gte" when it is a
	// lower bound (a time-sorted search stops counting at 10,000).
	TotalRelation string    `json:"total_relation"`
	Hits          []hitView `json:"hits"`
	Cursor        string    `json:"cursor,omitempty"`
	// Truncated: a relevance search matched more than it ranks; page by
	// time to see every hit.
	Truncated bool                          `json:"truncated,omitempty"`
	Facets    map[string][]index.FacetCount `json:"facets,omitempty"`
	TookMS    float64                       `json:"took_ms"`
}

func (g *Gateway) handleSearch(w http.ResponseWriter, r *http.Request) {
	g.search(w, r, AuditSearch, func(req *index.Request) *APIError {
		// Every tenant but the audit trail's, which has its own route
		// and role.
		req.ExcludeTenants = []string{AuditTenant}
		return nil
	})
}

func (g *Gateway) handleAudit(w http.ResponseWriter, r *http.Request) {
	g.search(w, r, AuditSearchAudit, func(req *index.Request) *APIError {
		req.Tenants = []string{AuditTenant}
		return nil
	})
}

// search runs a search, audits it, and answers; scope sets and checks the
// tenants the caller may see.
func (g *Gateway) search(w http.ResponseWriter, r *http.Request, action string, scope func(*index.Request) *APIError) {
	p, e := readSearchParams(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if e := g.queryTooLong(r, action, p); e != nil {
		writeError(w, e)
		return
	}
	// A caller's searches in flight are capped before it waits for
	// anything: waiting holds the slot too.
	c := callerOf(r)
	release, ok := g.slots.acquire(c.Name)
	if !ok {
		g.tooManySearches(w, c.Name)
		return
	}
	defer release()
	if e := g.waitConsistent(r); e != nil {
		writeError(w, e)
		return
	}
	p.liftHeld()
	req, e := p.request()
	if e == nil {
		e = scope(&req)
	}
	if e == nil && p.Held {
		e = g.heldFilter(&req)
	}
	ev := newAuditEvent(r, action)
	ev.Query, ev.Escaped = p.auditView()
	if e != nil {
		ev.Status = e.Status
		if err := g.audit(r.Context(), ev); err != nil {
			g.log.WithError(err).Error("audit refused search")
		}
		writeError(w, e)
		return
	}
	ctx, cancel := g.searchContext(r.Context())
	res, err := g.searcher.Search(ctx, req)
	cancel()
	if err != nil {
		// Audited on the request's context, which the deadline did not end.
		e := g.budgetError(r.Context(), err)
		if e == nil {
			e = searchError(err)
		}
		ev.Status = e.Status
		if aerr := g.audit(r.Context(), ev); aerr != nil {
			g.log.WithError(aerr).Error("audit failed search")
		}
		switch {
		case e.Code == CodeSearchTimeout:
			g.log.WithField("actor", c.Name).WithField("timeout", g.cfg.SearchTimeout.String()).Warn("search stopped at its deadline")
		case e.Status >= 500:
			g.log.WithError(err).Error("search")
		}
		writeError(w, e)
		return
	}
	ev.Status, ev.Hits = http.StatusOK, &res.Total
	if res.TotalRelation == index.TotalRelationGte {
		ev.HitsAtLeast = true
	}
	// No audit record, no answer: a search that cannot be put on the
	// record is refused.
	if err := g.audit(r.Context(), ev); err != nil {
		writeAuditFailure(w, err)
		return
	}
	writeJSON(w, http.StatusOK, searchAnswer{Total: res.Total, TotalRelation: res.TotalRelation, Hits: g.hitViews(res.Hits), Cursor: res.Cursor, Truncated: res.Truncated,
		Facets: res.Facets, TookMS: float64(res.Took.Microseconds()) / 1000})
}

func writeAuditFailure(w http.ResponseWriter, err error) {
	var e *APIError
	if errors.As(err, &e) && e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(DefaultRetryAfter))
	}
	writeError(w, &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
		Message: "the audit trail cannot record this access right now, so it is refused; retry later"})
}

// searchError maps an index error to an answer; a malformed query names
// where it is malformed.
func searchError(err error) *APIError {
	var qe *querystring.Error
	switch {
	case errors.As(err, &qe):
		return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidQuery, Field: "q", Position: qe.Pos + 1, Message: qe.Error()}
	case errors.Is(err, index.ErrBadRequest):
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the search was cancelled"}
	}
	return &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "the search failed"}
}

func readSearchParams(r *http.Request) (searchParams, *APIError) {
	var p searchParams
	if r.Method == http.MethodPost {
		return p, decodeBody(r, "search body", &p)
	}
	q := r.URL.Query()
	known := map[string]bool{"consistency": true, "q": true, "platform": true, "conversation": true, "participant": true, "sender": true,
		"action": true, "type": true, "from": true, "to": true, "versions": true, "sort": true, "size": true,
		"cursor": true, "facets": true, "highlight": true, "held": true}
	for k := range q {
		if !known[k] {
			return p, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: k, Message: fmt.Sprintf("unknown search parameter %q", k)}
		}
	}
	p.Q, p.From, p.To, p.Versions, p.Sort, p.Cursor = q.Get("q"), q.Get("from"), q.Get("to"), q.Get("versions"), q.Get("sort"), q.Get("cursor")
	p.Platform, p.Conversation, p.Participant = list(q, "platform"), list(q, "conversation"), list(q, "participant")
	p.Sender, p.Action, p.Type = list(q, "sender"), list(q, "action"), list(q, "type")
	if s := q.Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return p, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "size", Message: "size must be a number from 1 to 1000"}
		}
		p.Size = n
	}
	for _, b := range []struct {
		name string
		set  func(bool)
	}{{"facets", func(v bool) { p.Facets = v }}, {"highlight", func(v bool) { p.Highlight = &v }}, {"held", func(v bool) { p.Held = v }}} {
		if s := q.Get(b.name); s != "" {
			v, err := strconv.ParseBool(s)
			if err != nil {
				return p, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: b.name, Message: b.name + " must be true or false"}
			}
			b.set(v)
		}
	}
	return p, nil
}

// heldTerm is the query-language form of the held filter.
var heldTerm = regexp.MustCompile(`(^|\s)held:true(\s|$)`)

// liftHeld turns "held:true" in the query into the held filter, which the
// gateway applies (holds live in the catalog, not in the index).
func (p *searchParams) liftHeld() {
	if heldTerm.MatchString(p.Q) {
		p.Held = true
		p.Q = strings.TrimSpace(heldTerm.ReplaceAllString(p.Q, " "))
	}
}

// list reads a repeatable, comma-separable parameter.
func list(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func (p searchParams) request() (index.Request, *APIError) {
	req := index.Request{
		Query: p.Q, Platforms: p.Platform, Conversations: p.Conversation, Participants: p.Participant,
		Senders: p.Sender, Actions: p.Action, Types: p.Type, Size: p.Size, Cursor: p.Cursor,
		Facets: p.Facets, Highlight: p.Highlight == nil || *p.Highlight,
	}
	switch p.Versions {
	case "", "latest":
	case "all":
		req.AllVersions = true
	default:
		return req, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "versions", Message: "versions must be latest or all"}
	}
	switch p.Sort {
	case "", "time":
		req.SortBy = "time"
	case "relevance":
		req.SortBy = "relevance"
	default:
		return req, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "sort", Message: "sort must be time or relevance"}
	}
	if p.Size < 0 || p.Size > 1000 {
		return req, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "size", Message: "size must be from 1 to 1000"}
	}
	var err error
	if req.From, err = parseBound(p.From, false); err != nil {
		return req, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "from", Message: err.Error()}
	}
	if req.To, err = parseBound(p.To, true); err != nil {
		return req, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "to", Message: err.Error()}
	}
	if !req.From.IsZero() && !req.To.IsZero() && !req.From.Before(req.To) {
		return req, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "to", Message: "to must be after from"}
	}
	return req, nil
}

// parseBound reads a date-range bound: an RFC 3339 time, or a day
// (YYYY-MM-DD) meaning its start — or, for the end bound, the start of the
// next day, so that to=2026-01-31 includes the 31st.
func parseBound(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a day (2026-01-31) nor an RFC 3339 time", s)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// auditView is what the audit record keeps of a search: every parameter
// that was set, those that are not valid UTF-8 Go-quoted and named in
// escaped (see AuditEvent.Escaped).
func (p searchParams) auditView() (_ map[string]any, escaped []string) {
	out := map[string]any{}
	p, escaped = p.quoteInvalid()
	b, _ := json.Marshal(p)
	_ = json.Unmarshal(b, &out)
	for k, v := range out {
		switch x := v.(type) {
		case string:
			if x == "" {
				delete(out, k)
			}
		case []any:
			if len(x) == 0 {
				delete(out, k)
			}
		case nil:
			delete(out, k)
		case float64:
			if x == 0 {
				delete(out, k)
			}
		case bool:
			if !x {
				delete(out, k)
			}
		}
	}
	return out, escaped
}
