package index

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/index/querystring"
)

// Sort orders of a Request.
const (
	SortTime      = "time"
	SortRelevance = "relevance"
)

// Facet names in Result.Facets, and how many terms each returns.
const (
	FacetPlatform     = "platform"
	FacetSender       = "sender"
	FacetConversation = "conversation"
	FacetDay          = "day"

	// FacetSize is the number of terms returned for platform, sender and
	// conversation: the most frequent first.
	FacetSize = 10
	// DayFacetSize is the number of days returned, oldest first: the most
	// frequent ones when the matches span more.
	DayFacetSize = 400
)

// Values of Result.TotalRelation (Elasticsearch's and bleve's).
const (
	// TotalRelationEq: Total is the number of matches.
	TotalRelationEq = "eq"
	// TotalRelationGte: Total is a lower bound of the number of matches.
	TotalRelationGte = "gte"
)

// How much a time-sorted search counts for Result.Total beyond what its
// page read: at most TotalCountLimit matches in all (Elasticsearch's
// track_total_hits default), and, in an archive of more than 100,000
// documents, until TotalCountTime after the search started. Past either,
// Total is a lower bound. The page costs the same with or without a
// count, but the exact count of a common word, or of a phrase of common
// words (every document with both words is checked for the phrase), in a
// large archive costs far more than the page.
const (
	TotalCountLimit = 10_000
	TotalCountTime  = 25 * time.Millisecond
)

// Request is one search. Filters are ANDed with each other and with Query;
// the values of one filter are alternatives.
type Request struct {
	// Query is in the querystring language; "" matches everything.
	Query string
	// Tenants, when not empty, limits the search to these tenants. The
	// caller sets it from the user's role: a query cannot widen it.
	Tenants []string
	// ExcludeTenants are tenants whose documents never match (e.g. the
	// audit trail's, which has its own route).
	ExcludeTenants []string
	// Platforms, Conversations (ids), Actions and Types filter on those
	// fields; Participants matches the sender or any recipient; Senders
	// the sender only.
	Platforms, Conversations, Participants, Actions, Types []string
	Senders                                                []string
	// Segments, when not nil, limits hits to messages stored in these
	// segment keys (e.g. the segments legal holds cover); an empty,
	// non-nil list matches nothing.
	Segments []string
	// From and To bound sent_at to [From, To); zero means open.
	From, To time.Time
	// AllVersions returns every version; by default only the latest
	// version of each message matches.
	AllVersions bool
	// SortBy is SortTime (default: newest first) or SortRelevance.
	SortBy string
	// Size is the number of hits per page: DefaultSize when 0, at most
	// MaxSize.
	Size int
	// Cursor continues from the page that returned it.
	Cursor string
	// Facets asks for counts by platform, sender, conversation and day.
	// Facet counts are exact, and so is Total then.
	Facets bool
	// ExactTotal asks a time-sorted search to count every match for Total
	// however long it takes, instead of stopping at TotalCountLimit or
	// TotalCountTime (see Result.TotalRelation).
	ExactTotal bool
	// Highlight asks for fragments of the text with the matches marked.
	Highlight bool
	// Location is the time zone of dates in Query written without one;
	// nil is UTC.
	Location *time.Location
	// NoLimits runs the search without Config.Limits: for holdfast's own
	// jobs (the legal-hold matcher must match what its hold names, however
	// the archive grew or the limits changed since it was placed), never
	// for a user's search.
	NoLimits bool
}

// Result is one page of hits.
type Result struct {
	// Total is the number of matching documents, or a lower bound of it
	// when TotalRelation is TotalRelationGte. It is counted on the first
	// page and repeated by later pages of the same search (cursor), so a
	// deep page does not count the whole archive again.
	Total uint64 `json:"total"`
	// TotalRelation says what Total is: TotalRelationEq, the number of
	// matches; or TotalRelationGte, at least that many. A time-sorted
	// search stops counting at TotalCountLimit matches or TotalCountTime
	// into the search, unless the request asks for ExactTotal or Facets;
	// a relevance search always counts them all. Hits and cursors are
	// exact either way: only the count is cut short.
	TotalRelation string `json:"total_relation"`
	Hits          []Hit  `json:"hits"`
	// Cursor fetches the next page; "" when there is none.
	Cursor string `json:"cursor,omitempty"`
	// Truncated is true on the last page of a relevance search that
	// matched more than MaxRelevanceHits: the rest are reachable by time
	// sort (or a narrower query), never silently dropped.
	Truncated bool `json:"truncated,omitempty"`
	// Facets, when requested, by facet name.
	Facets map[string][]FacetCount `json:"facets,omitempty"`
	Took   time.Duration           `json:"took"`
	// Partitions is the number of monthly partitions the search read.
	Partitions int `json:"partitions"`
}

// FacetCount is one term of a facet and its number of matches.
type FacetCount struct {
	Term  string `json:"term"`
	Count int    `json:"count"`
}

// Hit is one indexed message version: what a result list shows, and where
// the full record is (Segment and Location: one ranged GET on any node).
type Hit struct {
	ID           string                `json:"id"`
	Version      int                   `json:"version"`
	Action       string                `json:"action"`
	Platform     string                `json:"platform"`
	Tenant       string                `json:"tenant"`
	Type         string                `json:"type"`
	Conversation archive.Conversation  `json:"conversation"`
	From         archive.Participant   `json:"from"`
	To           []archive.Participant `json:"to,omitempty"`
	SentAt       time.Time             `json:"sent_at"`
	Text         string                `json:"text,omitempty"`
	Attachments  []string              `json:"attachments,omitempty"` // names
	RetainUntil  time.Time             `json:"retain_until"`
	Policy       string                `json:"policy,omitempty"`
	Segment      string                `json:"segment"`
	SHA256       string                `json:"sha256"`
	// Latest is true for the highest version of the message.
	Latest bool `json:"latest"`
	// Score is the relevance score (SortRelevance only).
	Score float64 `json:"score,omitempty"`
	// Highlights are fragments of the text with the matches in <mark>.
	Highlights map[string][]string `json:"highlights,omitempty"`
	// Location is where the record is inside Segment.
	Location archive.ManifestEntry `json:"location"`
}

// plan is a validated Request.
type plan struct {
	// The query is kept in parts so that a time window can be put in
	// place of the request's range (see timesort.go): the user's query (nil
	// for every document), the filters but the time range, the excluded
	// tenants (nil for none), and the request's bounds of sent_at.
	user     query.Query
	filters  []query.Query
	exclude  query.Query
	from, to time.Time
	q        query.Query // the whole query, over [from, to)

	size               int
	relevance          bool
	after              []string  // time sort: the cursor's sort values; relevance: the ranking id
	afterMonth         int       // time sort: the month of the cursor's sent_at; relevance: the page's offset
	afterAt            time.Time // time sort: the cursor's sent_at
	total              uint64    // time sort: the first page's total, carried by the cursor
	totalGte           bool      // and whether it is a lower bound
	exactTotal         bool
	fromMonth, toMonth int
	facets, highlight  bool
}

// newPlan validates r and translates it into a bleve query, without limits.
func newPlan(r Request) (*plan, error) { return newLimitedPlan(r, Limits{}) }

// newLimitedPlan validates r, within lim, and translates it into a bleve
// query.
func newLimitedPlan(r Request, lim Limits) (*plan, error) {
	pl := &plan{size: r.Size, facets: r.Facets, highlight: r.Highlight, exactTotal: r.ExactTotal,
		from: r.From, to: r.To, fromMonth: math.MinInt, toMonth: math.MaxInt}
	switch {
	case pl.size == 0:
		pl.size = DefaultSize
	case pl.size < 0 || pl.size > MaxSize:
		return nil, fmt.Errorf("size %d: want 1 to %d: %w", r.Size, MaxSize, ErrBadRequest)
	}
	switch r.SortBy {
	case "", SortTime:
	case SortRelevance:
		pl.relevance = true
	default:
		return nil, fmt.Errorf("sort %q: want %q or %q: %w", r.SortBy, SortTime, SortRelevance, ErrBadRequest)
	}
	if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
		return nil, fmt.Errorf("empty time range %s to %s: %w", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), ErrBadRequest)
	}
	if !r.From.IsZero() {
		pl.fromMonth = monthKey(r.From)
	}
	if !r.To.IsZero() {
		pl.toMonth = monthKey(r.To.Add(-time.Nanosecond))
	}
	if r.Cursor != "" {
		c, err := decodeCursor(r.Cursor, pl.relevance)
		if err != nil {
			return nil, err
		}
		pl.after, pl.afterMonth, pl.afterAt, pl.total, pl.totalGte = c.after, c.month, c.at, c.total, c.totalGte
	}

	var err error
	if pl.user, err = limitedUserQuery(r, lim.Limits); err != nil {
		return nil, err
	}
	if pl.user != nil {
		pl.user = boundPatterns(pl.user, lim.MaxPatternWords)
	}
	if pl.user != nil && !pl.relevance {
		pl.user = plainTerms(pl.user)
	}
	pl.filters = filters(r)
	if len(r.ExcludeTenants) > 0 {
		pl.exclude = anyOf(fieldTenant, r.ExcludeTenants)
	}
	pl.q = pl.query(r.From, r.To)
	return pl, nil
}

// userQuery parses r.Query; nil when it is blank.
func userQuery(r Request) (query.Query, error) { return limitedUserQuery(r, querystring.Limits{}) }

// limitedUserQuery parses r.Query within lim; nil when it is blank.
func limitedUserQuery(r Request, lim querystring.Limits) (query.Query, error) {
	if strings.TrimSpace(r.Query) == "" {
		return nil, nil
	}
	q, err := querystring.Parse(r.Query, querystring.Options{
		DefaultField: fieldText, Fields: queryFields, Location: r.Location, Limits: lim,
	})
	if errors.Is(err, querystring.ErrSyntax) || errors.Is(err, querystring.ErrLimit) {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if err != nil {
		return nil, fmt.Errorf("parse query: %w", err)
	}
	return q, nil
}

// filters returns r's filters and the latest-version rule; not the time
// range (see plan.query) nor the excluded tenants (plan.exclude).
func filters(r Request) []query.Query {
	fs := make([]query.Query, 0, 10)
	for _, f := range []struct {
		field string
		vals  []string
	}{
		{fieldTenant, r.Tenants}, {fieldPlatform, r.Platforms}, {fieldConv, r.Conversations},
		{fieldPart, r.Participants}, {fieldAction, r.Actions}, {fieldType, r.Types}, {fieldFrom, r.Senders},
	} {
		if len(f.vals) > 0 {
			fs = append(fs, anyOf(f.field, f.vals))
		}
	}
	if r.Segments != nil {
		if len(r.Segments) == 0 {
			fs = append(fs, query.NewMatchNoneQuery())
		} else {
			fs = append(fs, anyOf(fieldSegment, r.Segments))
		}
	}
	if !r.AllVersions {
		q := query.NewBoolFieldQuery(true)
		q.SetField(fieldLatest)
		fs = append(fs, q)
	}
	return fs
}

// query returns the plan's query with sent_at in [from, to) (zero: open)
// in place of the request's range.
func (pl *plan) query(from, to time.Time) query.Query {
	fs := pl.filters
	if !from.IsZero() || !to.IsZero() {
		incl, excl := true, false
		q := query.NewDateRangeInclusiveQuery(from, to, &incl, &excl)
		q.SetField(fieldSentAt)
		fs = append(slices.Clip(fs), q)
	}
	return combine(pl.user, fs, pl.exclude, pl.relevance)
}

// combine joins the user's query, the filters and the exclusion (nil for
// none). For relevance the filters do not score.
//
// The exclusion is a "must not" around everything else: bleve then runs
// the rest as it would without it (a conjunction of term filters and a
// term or a date range, unscored, is an intersection of bitmaps) and
// checks the exclusion only on the documents that match the rest. As a
// conjunct ("every document but these") it would step through every
// document that the other conjuncts match, one by one.
func combine(user query.Query, filters []query.Query, exclude query.Query, relevance bool) query.Query {
	var q query.Query
	switch {
	case relevance && user != nil && (len(filters) > 0 || exclude != nil):
		b := query.NewBooleanQuery([]query.Query{user}, nil, nil)
		if len(filters) > 0 {
			b.Filter = query.NewConjunctionQuery(filters)
		}
		b.MustNot = exclude
		return b
	case user != nil && len(filters) > 0:
		// One flat conjunction: bleve intersects it as bitmaps when its
		// parts are all terms (see plainTerms), a nested one it cannot.
		var qs []query.Query
		if c, ok := user.(*query.ConjunctionQuery); ok {
			qs = append(qs, c.Conjuncts...)
		} else {
			qs = append(qs, user)
		}
		q = query.NewConjunctionQuery(append(qs, filters...))
	case user != nil:
		q = user
	case len(filters) == 1:
		q = filters[0]
	case len(filters) > 1:
		q = query.NewConjunctionQuery(filters)
	default:
		q = query.NewMatchAllQuery()
	}
	if exclude == nil {
		return q
	}
	return &query.BooleanQuery{Must: q, MustNot: exclude}
}

// anyOf matches documents whose keyword field is one of vals.
func anyOf(field string, vals []string) query.Query {
	qs := make([]query.Query, len(vals))
	for i, v := range vals {
		t := query.NewTermQuery(v)
		t.SetField(field)
		qs[i] = t
	}
	if len(qs) == 1 {
		return qs[0]
	}
	return query.NewDisjunctionQuery(qs)
}
