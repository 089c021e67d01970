package index

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/index/querystring"
)

// manyWords indexes, in day0's month, messages holding n distinct words
// "qa0000" ... and returns the index.
func manyWords(t *testing.T, lim Limits, n int) *Index {
	t.Helper()
	ix, err := Open(Config{Dir: t.TempDir(), Limits: lim}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	var msgs []archive.Message
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "qa%04d ", i)
		if (i+1)%500 == 0 || i == n-1 {
			msgs = append(msgs, msg(fmt.Sprintf("m%d", i), b.String(), day0.Add(time.Duration(i)*time.Second)))
			b.Reset()
		}
	}
	mustIndex(t, ix, mustCodec(t), 1, msgs...)
	return ix
}

// partitionOf opens ix's partition of day0.
func partitionOf(t *testing.T, ix *Index) bleve.Index {
	t.Helper()
	p := ix.partitionsIn(monthKey(day0), monthKey(day0))
	if len(p) != 1 {
		t.Fatalf("%d partitions for day0", len(p))
	}
	idx, err := p[0].open(ix.mapping)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// A pattern's searcher is built in steps that look at the context: once
// the deadline has passed it stops walking the dictionary instead of
// opening the postings of every word it matches. (Bleve's own wildcard
// searcher looks at no context before it is built.)
func TestPatternSearcherStopsAtDeadline(t *testing.T) {
	ix := manyWords(t, Limits{}, 5*patternCheckEvery)
	idx := partitionOf(t, ix)
	adv, err := idx.Advanced()
	if err != nil {
		t.Fatal(err)
	}
	r, err := adv.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	q := &patternQuery{WildcardQuery: query.NewWildcardQuery("qa*")}
	q.SetField(fieldText)
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	s, err := q.Searcher(ctx, r, idx.Mapping(), search.SearcherOptions{Score: bleve.ScoreNone})
	if s != nil {
		s.Close()
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("searcher of %q past its deadline: error %v; want context.DeadlineExceeded", q.Wildcard, err)
	}
	// With time left it matches every word, as bleve's would.
	s, err = q.Searcher(context.Background(), r, idx.Mapping(), search.SearcherOptions{Score: bleve.ScoreNone})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0), IndexReader: r}
	n := 0
	for dm, err := s.Next(sctx); dm != nil || err != nil; dm, err = s.Next(sctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		sctx.DocumentMatchPool.Put(dm)
	}
	if n != 5*patternCheckEvery/500+1 {
		t.Fatalf("searcher of %q found %d documents, want every one, %d", q.Wildcard, n, 5*patternCheckEvery/500+1)
	}
}

// A search whose deadline passes while it runs is stopped with the
// context's error, in time order and in relevance order (bleve's alias
// would answer with the months that finished).
func TestSearchPastDeadlineFails(t *testing.T) {
	ix := manyWords(t, Limits{}, 3*patternCheckEvery)
	for _, sort := range []string{SortTime, SortRelevance} {
		ctx := &tripContext{Context: context.Background(), after: 3}
		ctx.ctx, ctx.cancel = context.WithCancel(context.Background())
		_, err := ix.Search(ctx, Request{Query: "*a1*", SortBy: sort})
		ctx.cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: search cancelled while it ran: error %v; want context.Canceled", sort, err)
		}
	}
}

// A pattern that matches more indexed words than Limits.MaxPatternWords
// is refused, naming the limit, rather than opening every one; in
// relevance order too, where one month over the limit must fail the
// search instead of leaving that month's matches out.
func TestPatternWordsLimit(t *testing.T) {
	ix := manyWords(t, Limits{MaxPatternWords: 1000}, 1500)
	c := mustCodec(t)
	mustIndex(t, ix, c, 2, msg("other-month", "qa0001 elsewhere", day0.AddDate(0, 2, 0)))
	for _, sort := range []string{SortTime, SortRelevance} {
		_, err := ix.Search(context.Background(), Request{Query: "qa*", SortBy: sort})
		var pe *PatternError
		if !errors.As(err, &pe) || !errors.Is(err, ErrBadRequest) || pe.Max != 1000 || pe.Pattern != "qa*" {
			t.Fatalf("%s: qa* over 1,000 words: error %v; want a *PatternError for it", sort, err)
		}
		if !strings.Contains(pe.Error(), LimitPatternWords) || !strings.Contains(pe.Error(), "1000") {
			t.Errorf("message %q names neither the limit nor its value", pe.Error())
		}
		// Within the limit, found as before.
		res := mustSearch(t, ix, Request{Query: "qa0* elsewhere", SortBy: sort})
		if res.Total != 1 || len(res.Hits) != 1 || res.Hits[0].Text != "qa0001 elsewhere" {
			t.Errorf("%s: qa0* elsewhere: %d hits %+v", sort, res.Total, res.Hits)
		}
	}
}

// The daemon's limits reach the query string parser.
func TestSearchQueryLimits(t *testing.T) {
	ix := manyWords(t, Limits{Limits: querystring.Limits{MaxWildcards: 2}}, 10)
	_, err := ix.Search(context.Background(), Request{Query: "qa0001* OR qa0002* OR qa0003*"})
	var le *querystring.LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrBadRequest) || le.Limit != querystring.LimitWildcards {
		t.Fatalf("three patterns with max_wildcards 2: error %v", err)
	}
	if res := mustSearch(t, ix, Request{Query: "qa0001* OR qa0002*"}); res.Total != 1 {
		t.Errorf("two patterns: %d hits, want 1", res.Total)
	}
}

// tripContext is cancelled by its own after-th call to Err or Done: the deadline
// arriving while the search runs, wherever it first looks.
type tripContext struct {
	context.Context
	ctx    context.Context
	cancel context.CancelFunc
	calls  atomic.Int32
	after  int32
}

func (c *tripContext) Done() <-chan struct{} {
	c.trip()
	return c.ctx.Done()
}

func (c *tripContext) Err() error {
	c.trip()
	return c.ctx.Err()
}

func (c *tripContext) trip() {
	if c.calls.Add(1) >= c.after {
		c.cancel()
	}
}

// holdfast's own jobs (the legal-hold matcher) search without the limits:
// a hold placed when its pattern matched few words still covers what it
// names once the archive holds more.
func TestNoLimits(t *testing.T) {
	ix := manyWords(t, Limits{MaxPatternWords: 10, Limits: querystring.Limits{MaxWildcards: 1}}, 50)
	r := Request{Query: "qa00* OR qa001*", AllVersions: true}
	if _, err := ix.Search(context.Background(), r); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("with limits: error %v, want a refusal", err)
	}
	r.NoLimits = true
	if res := mustSearch(t, ix, r); res.Total != 1 {
		t.Fatalf("without limits: %d hits, want 1", res.Total)
	}
}
