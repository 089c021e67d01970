package index

import (
	"slices"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"
)

func TestPlainTerms(t *testing.T) {
	for _, tc := range []struct {
		q            string
		terms, other int // text terms, and what is left of phrases and word searches
	}{
		{"电影", 1, 0},          // one pair
		{"奥斯卡", 0, 1},         // two pairs: still a phrase
		{`"word"`, 1, 0},      // one word in quotes
		{`"two words"`, 0, 1}, // two
		{"plain words", 2, 0},
		{"e-mail", 2, 0}, // one word search, two terms
		{`电影 OR "a b" -音乐 (x 喜欢)`, 4, 1},
		{"from:alice 卡", 1, 0}, // a lone character: the character, or pairs with it
	} {
		q, err := userQuery(Request{Query: tc.q})
		if err != nil {
			t.Fatal(err)
		}
		terms, other := 0, 0
		var walk func(q query.Query)
		walk = func(q query.Query) {
			switch q := q.(type) {
			case *query.MatchPhraseQuery, *query.MatchQuery:
				other++
			case *query.TermQuery:
				if q.FieldVal == fieldText {
					terms++
				}
			case *query.ConjunctionQuery:
				for _, c := range q.Conjuncts {
					walk(c)
				}
			case *query.DisjunctionQuery:
				for _, c := range q.Disjuncts {
					walk(c)
				}
			case *query.BooleanQuery:
				for _, c := range []query.Query{q.Must, q.Should, q.MustNot, q.Filter} {
					if c != nil {
						walk(c)
					}
				}
			}
		}
		walk(plainTerms(q))
		if terms != tc.terms || other != tc.other {
			t.Errorf("%s: %d text terms and %d other searches, want %d and %d", tc.q, terms, other, tc.terms, tc.other)
		}
	}
}

// Terms find what the phrases and word searches they replace find: sorted
// by time (terms) or by relevance (the originals).
func TestOneTermPhrasesFindTheSame(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	mustIndex(t, ix, c, 1,
		msg("1", "你知道恋恋笔记本这部电影吗", day0),
		msg("2", "电影", day0.Add(time.Minute)),
		msg("3", "看电", day0.Add(2*time.Minute)),
		msg("4", "影电 word", day0.Add(3*time.Minute)),
		msg("5", "a word, words", day0.Add(4*time.Minute)),
		msg("6", "电影 word tonight", day0.Add(5*time.Minute)),
	)
	for _, q := range []string{"电影", `"word"`, "电影 OR word", "-电影", "a word", "word 电影", "影电 word"} {
		byTime := texts(mustSearch(t, ix, Request{Query: q}))
		byScore := texts(mustSearch(t, ix, Request{Query: q, SortBy: SortRelevance}))
		if !slices.Equal(byTime, byScore) || len(byTime) == 0 {
			t.Errorf("%s: by time %q, by relevance %q", q, byTime, byScore)
		}
	}
}
