package index

import (
	"context"
	"fmt"
	"strings"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"
)

// A pattern ("*a*", "from:*@x.com") costs what bleve does before it finds
// a single document: it walks the field's dictionary through an automaton
// and opens the postings of every word that matches, and none of that
// looks at the search's context, so a deadline stops it only once it is
// done. patternQuery is bleve's WildcardQuery doing the same work in steps
// that check the context, and refusing a pattern that matches more words
// than a search may open.

// patternCheckEvery is how many dictionary words, and postings opened,
// pass between two looks at the context.
const patternCheckEvery = 1024

// PatternError reports a pattern that matches more indexed words than
// Limits.MaxPatternWords; errors.Is(err, ErrBadRequest) holds.
type PatternError struct {
	Pattern string // as searched (lower-cased on a text field)
	Field   string
	Max     int
}

// LimitPatternWords is the name of Limits.MaxPatternWords in a
// PatternError's message, the key of the daemon's search configuration.
const LimitPatternWords = "max_pattern_words"

func (e *PatternError) Error() string {
	return fmt.Sprintf("the pattern %q matches more than %d indexed words of %s (%s): make it more specific",
		e.Pattern, e.Max, e.Field, LimitPatternWords)
}

// Is makes errors.Is(err, ErrBadRequest) true.
func (e *PatternError) Is(target error) bool { return target == ErrBadRequest }

// patternQuery is a WildcardQuery whose searcher is built in steps that
// check the context, from at most maxWords words (0: any number).
type patternQuery struct {
	*query.WildcardQuery
	maxWords int
}

// wildcardRegexp is bleve's translation of a wildcard into a regexp.
var wildcardRegexp = strings.NewReplacer(
	"+", `\+`, "(", `\(`, ")", `\)`, "^", `\^`, "$", `\$`, ".", `\.`,
	"{", `\{`, "}", `\}`, "[", `\[`, "]", `\]`, `|`, `\|`, `\`, `\\`,
	"*", ".*", "?", ".")

// Searcher walks the dictionary and opens the postings of the matching
// words, checking ctx every patternCheckEvery of either.
func (q *patternQuery) Searcher(ctx context.Context, i bindex.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	ir, ok := i.(bindex.IndexReaderRegexp)
	if !ok {
		return q.WildcardQuery.Searcher(ctx, i, m, options)
	}
	field := q.FieldVal
	if field == "" {
		field = m.DefaultSearchField()
	}
	if !options.IncludeTermVectors {
		// A pattern adds nothing to a hit's relevance score, as Lucene's
		// constant-score patterns: bleve then ORs the postings of its
		// words as bitmaps instead of scoring each one (ten patterns of
		// 10,000 words each: 6 s instead of 22 s on 100,000 messages).
		// Highlights need the matches' positions, so keep their scoring.
		options.Score = "none"
	}
	words, err := q.words(ctx, ir, field)
	if err != nil {
		return nil, err
	}
	parts := make([]search.Searcher, 0, len(words)/patternCheckEvery+1)
	closeAll := func() {
		for _, s := range parts {
			_ = s.Close()
		}
	}
	for len(words) > 0 || len(parts) == 0 {
		if err := ctx.Err(); err != nil {
			closeAll()
			return nil, err
		}
		batch := words[:min(len(words), patternCheckEvery)]
		words = words[len(batch):]
		s, err := searcher.NewMultiTermSearcher(ctx, i, batch, field, q.BoostVal.Value(), options, true)
		if err != nil {
			closeAll()
			return nil, err
		}
		parts = append(parts, s)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	s, err := searcher.NewDisjunctionSearcher(ctx, i, parts, 0, options)
	if err != nil {
		closeAll()
		return nil, err
	}
	return s, nil
}

// words lists the words of field that match the pattern.
func (q *patternQuery) words(ctx context.Context, ir bindex.IndexReaderRegexp, field string) (words []string, err error) {
	dict, err := ir.FieldDictRegexp(field, wildcardRegexp.Replace(q.Wildcard))
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := dict.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	for n := 1; ; n++ {
		if n%patternCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		e, err := dict.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			return words, nil
		}
		if q.maxWords > 0 && len(words) >= q.maxWords {
			pe := &PatternError{Pattern: q.Wildcard, Field: field, Max: q.maxWords}
			abortOnLimit(ctx, pe)
			return nil, pe
		}
		words = append(words, e.Term)
	}
}

// boundPatterns puts a patternQuery in place of every WildcardQuery in q,
// each allowed maxWords words.
func boundPatterns(q query.Query, maxWords int) query.Query {
	switch q := q.(type) {
	case *query.WildcardQuery:
		return &patternQuery{WildcardQuery: q, maxWords: maxWords}
	case *query.ConjunctionQuery:
		for i, c := range q.Conjuncts {
			q.Conjuncts[i] = boundPatterns(c, maxWords)
		}
	case *query.DisjunctionQuery:
		for i, d := range q.Disjuncts {
			q.Disjuncts[i] = boundPatterns(d, maxWords)
		}
	case *query.BooleanQuery:
		for _, c := range []*query.Query{&q.Must, &q.Should, &q.MustNot, &q.Filter} {
			if *c != nil {
				*c = boundPatterns(*c, maxWords)
			}
		}
	}
	return q
}
