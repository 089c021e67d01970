package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/holdfast/holdfast/gateway"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/internal/corpus"
)

// querySampler draws query parameters from the data, deterministically.
type querySampler struct {
	// Query strings: English words among the 200 most frequent (of four
	// letters or more) and seen at most ten times; two adjacent words of a
	// message; two or three adjacent Han characters of a message.
	common, rare, phrases, chinese []string
	senders                        []corpus.Message // From and SentAt only
	deepTo                         []time.Time      // the To bound of each deep-cursor walk
	deepWalks, deepRepeat          int
}

// samplePool is how many phrases, Chinese words and senders the sampler
// keeps.
const samplePool = 20_000

func newQuerySampler(cms []corpus.Message, rng *rand.Rand) *querySampler {
	s := &querySampler{}
	freq := map[string]int{}
	for _, i := range rng.Perm(len(cms)) {
		m := cms[i]
		switch m.Platform {
		case "irc", "slack":
			for _, w := range textWords(m.Text) {
				freq[w]++
			}
			if ts := textTokens(m.Text); len(s.phrases) < samplePool && len(ts) >= 2 {
				if i := rng.IntN(len(ts) - 1); isWord(ts[i], 2) && isWord(ts[i+1], 2) {
					s.phrases = append(s.phrases, `"`+ts[i]+" "+ts[i+1]+`"`)
				}
			}
		default: // KdConv and LCCC
			if runs := hanRuns(m.Text); len(s.chinese) < samplePool && len(runs) > 0 {
				run := runs[rng.IntN(len(runs))]
				n := min(len(run), 2+rng.IntN(2))
				i := rng.IntN(len(run) - n + 1)
				s.chinese = append(s.chinese, string(run[i:i+n]))
			}
		}
		if len(s.senders) < samplePool {
			s.senders = append(s.senders, corpus.Message{From: m.From, SentAt: m.SentAt})
		}
	}
	byFreq := make([]string, 0, len(freq))
	for w, c := range freq {
		if c <= 10 {
			s.rare = append(s.rare, w)
		} else if len(w) >= 4 {
			byFreq = append(byFreq, w)
		}
	}
	// Map order is random: sort for a deterministic draw.
	slices.SortFunc(byFreq, func(a, b string) int { return cmp.Or(freq[b]-freq[a], strings.Compare(a, b)) })
	s.common = byFreq[:min(200, len(byFreq))]
	slices.Sort(s.rare)
	return s
}

// sampleDeep chooses the deep-cursor walks from the sorted messages: the
// newest first, then To bounds with enough older messages for the page.
func (s *querySampler) sampleDeep(sorted []corpus.Message, queries int, rng *rand.Rand) {
	need := deepPage*index.DefaultSize + 1
	if len(sorted) <= need {
		return
	}
	s.deepWalks = max(1, queries/40) // a walk costs deepPage searches
	s.deepRepeat = (queries + s.deepWalks - 1) / s.deepWalks
	s.deepTo = []time.Time{{}}
	for len(s.deepTo) < s.deepWalks {
		s.deepTo = append(s.deepTo, sorted[need+rng.IntN(len(sorted)-need)].SentAt)
	}
}

// textTokens splits text as the index's analyser does outside CJK:
// lower-case runs of letters, digits and marks.
func textTokens(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
}

// isWord reports whether token is an English word of at least min letters.
func isWord(token string, min int) bool {
	return len(token) >= min && strings.Trim(token, "abcdefghijklmnopqrstuvwxyz") == ""
}

// textWords returns the English words of three letters or more in text.
func textWords(text string) []string {
	return slices.DeleteFunc(textTokens(text), func(t string) bool { return !isWord(t, 3) })
}

// hanRuns returns the runs of two Han characters or more in text.
func hanRuns(text string) [][]rune {
	var runs [][]rune
	var cur []rune
	for _, r := range text + " " {
		if unicode.Is(unicode.Han, r) {
			cur = append(cur, r)
			continue
		}
		if len(cur) >= 2 {
			runs = append(runs, cur)
		}
		cur = nil
	}
	return runs
}

// kindResult is the latency of one kind of query.
type kindResult struct {
	name     string
	took     []time.Duration
	totals   []uint64
	atLeast  int // totals that are lower bounds (index.TotalRelationGte)
	examples []string
	// slowest are the slowest searches, slowest first.
	slowest []slowSearch
}

// slowSearch is one timed search, described.
type slowSearch struct {
	took time.Duration
	what string
}

// keepSlowest is how many of its slowest searches a kind reports.
const keepSlowest = 3

// add records one timed search of r.
func (k *kindResult) add(took time.Duration, r index.Request, sr index.Result) {
	k.took, k.totals = append(k.took, took), append(k.totals, sr.Total)
	if sr.TotalRelation == index.TotalRelationGte {
		k.atLeast++
	}
	if len(k.slowest) < keepSlowest || took > k.slowest[len(k.slowest)-1].took {
		what := fmt.Sprintf("%s (%d %s)", describe(r), sr.Total, sr.TotalRelation)
		k.slowest = append(k.slowest, slowSearch{took, what})
		slices.SortFunc(k.slowest, func(a, b slowSearch) int { return cmp.Compare(b.took, a.took) })
		k.slowest = k.slowest[:min(len(k.slowest), keepSlowest)]
	}
}

// apiRequest is a search as the API runs it by default: every tenant but
// the audit trail, newest first, 50 hits, with highlights.
func apiRequest() index.Request {
	return index.Request{ExcludeTenants: []string{gateway.AuditTenant}, Highlight: true}
}

// run warms up, then times queries of each kind.
func (s *querySampler) run(ctx context.Context, ix *index.Index, queries int, rng *rand.Rand) ([]kindResult, error) {
	text := func(pool []string) func() index.Request {
		return func() index.Request { r := apiRequest(); r.Query = pool[rng.IntN(len(pool))]; return r }
	}
	kinds := []struct {
		name string
		n    int // how many parameters there are to draw from
		gen  func() index.Request
	}{
		{"term, common word", len(s.common), text(s.common)},
		{"term, rare word", len(s.rare), text(s.rare)},
		{"phrase (2 words)", len(s.phrases), text(s.phrases)},
		{"Chinese word", len(s.chinese), text(s.chinese)},
		{"participant + month", len(s.senders), func() index.Request {
			m := s.senders[rng.IntN(len(s.senders))]
			r := apiRequest()
			r.Participants = []string{m.From.ID}
			r.From, r.To = m.SentAt.AddDate(0, 0, -15), m.SentAt.AddDate(0, 0, 15)
			return r
		}},
	}
	warm := min(20, queries) // untimed, first
	var out []kindResult
	for _, k := range kinds {
		if k.n == 0 {
			continue
		}
		res := kindResult{name: k.name}
		for i := range warm + queries {
			r := k.gen()
			t0 := time.Now()
			sr, err := ix.Search(ctx, r)
			took := time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("%s %+v: %w", k.name, r, err)
			}
			if i >= warm {
				res.add(took, r, sr)
			}
			if len(res.examples) < 3 {
				res.examples = append(res.examples, describe(r))
			}
		}
		out = append(out, res)
	}
	deep, err := s.runDeep(ctx, ix)
	if err != nil {
		return nil, err
	}
	if deep != nil {
		out = append(out, *deep)
	}
	return out, nil
}

// runDeep follows the cursor of a match-all search to page deepPage from
// each sampled To bound, then times that page's request deepRepeat times.
func (s *querySampler) runDeep(ctx context.Context, ix *index.Index) (*kindResult, error) {
	if len(s.deepTo) == 0 {
		return nil, nil
	}
	res := &kindResult{name: fmt.Sprintf("deep cursor, page %d", deepPage)}
	for _, to := range s.deepTo {
		r := apiRequest()
		r.To = to
		for page := 1; page < deepPage; page++ {
			sr, err := ix.Search(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("deep cursor page %d: %w", page, err)
			}
			if sr.Cursor == "" {
				return nil, fmt.Errorf("deep cursor before %v: no page %d", to, page+1)
			}
			r.Cursor = sr.Cursor
		}
		for range s.deepRepeat {
			t0 := time.Now()
			sr, err := ix.Search(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("deep cursor page %d: %w", deepPage, err)
			}
			res.add(time.Since(t0), r, sr)
		}
		walk := res.took[len(res.took)-s.deepRepeat:]
		res.examples = append(res.examples, fmt.Sprintf("match-all, %s: p50 %.0f ms",
			describe(index.Request{To: to}), ms(quantile(walk, 0.5))))
	}
	return res, nil
}

// describe shows a sampled request in the report.
func describe(r index.Request) string {
	var parts []string
	if r.Query != "" {
		parts = append(parts, r.Query)
	}
	if len(r.Participants) > 0 {
		parts = append(parts, "participant "+r.Participants[0])
	}
	if !r.From.IsZero() {
		parts = append(parts, "from "+r.From.Format(time.DateOnly))
	}
	switch {
	case !r.To.IsZero():
		parts = append(parts, "before "+r.To.Format(time.DateOnly))
	case r.Query == "" && len(r.Participants) == 0:
		parts = append(parts, "newest first")
	}
	return strings.Join(parts, " ")
}

// quantile is the nearest-rank q-quantile of ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
