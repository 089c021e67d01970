package index

import (
	"sync"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
)

// queryMapping is the mapping every partition has, for analysing query
// text ahead of a search.
var queryMapping = sync.OnceValue(func() mapping.IndexMapping { return newMapping() })

// plainTerms rewrites q for a search that does not score: every word
// search (all of its words required) becomes the conjunction of its terms,
// and every phrase whose text is a single term becomes that term; it
// returns q. They match the same documents, but bleve can intersect term
// searches with the filters as bitmaps, where a word search and a phrase
// step through the matches one by one, and a phrase reads the positions of
// every match: on a large archive, a two-character Chinese word (a single
// indexed pair, which the query language always searches as a phrase)
// costs several times what its term does. Scores may differ, so only
// time-sorted searches use it.
func plainTerms(q query.Query) query.Query {
	switch q := q.(type) {
	case *query.MatchQuery:
		if q.Fuzziness != 0 || q.Analyzer != "" {
			return q
		}
		tokens := analyse(q.FieldVal, q.Match)
		switch {
		case len(tokens) == 1:
			return termQuery(q.FieldVal, tokens[0])
		case len(tokens) > 1 && q.Operator == query.MatchQueryOperatorAnd:
			terms := make([]query.Query, len(tokens))
			for i, t := range tokens {
				terms[i] = termQuery(q.FieldVal, t)
			}
			return query.NewConjunctionQuery(terms)
		}
	case *query.MatchPhraseQuery:
		if q.Fuzziness != 0 || q.Analyzer != "" {
			return q
		}
		if tokens := analyse(q.FieldVal, q.MatchPhrase); len(tokens) == 1 {
			return termQuery(q.FieldVal, tokens[0])
		}
	case *query.ConjunctionQuery:
		for i, c := range q.Conjuncts {
			q.Conjuncts[i] = plainTerms(c)
		}
	case *query.DisjunctionQuery:
		for i, d := range q.Disjuncts {
			q.Disjuncts[i] = plainTerms(d)
		}
	case *query.BooleanQuery:
		for _, c := range []*query.Query{&q.Must, &q.Should, &q.MustNot, &q.Filter} {
			if *c != nil {
				*c = plainTerms(*c)
			}
		}
	}
	return q
}

// analyse returns the terms that field's analyser makes of text, nil when
// there is no such analyser.
func analyse(field, text string) analysis.TokenStream {
	m := queryMapping()
	if field == "" {
		field = m.DefaultSearchField()
	}
	a := m.AnalyzerNamed(m.AnalyzerNameForPath(field))
	if a == nil {
		return nil
	}
	return a.Analyze([]byte(text))
}

func termQuery(field string, t *analysis.Token) query.Query {
	q := query.NewTermQuery(string(t.Term))
	if field == "" {
		field = queryMapping().DefaultSearchField()
	}
	q.SetField(field)
	return q
}
