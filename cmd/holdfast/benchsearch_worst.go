package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/index/querystring"
)

// `holdfast bench search -reuse -worst` times the costliest searches one
// can still write within the default search budget (search.* in
// config.Default()), on the index an earlier run kept: what a hostile or
// careless supervisor can make one search cost (issue 11, Found 4).

// worstQuery is one hostile search.
type worstQuery struct {
	name string
	req  index.Request
}

// worstQueries builds the searches from the data's most frequent words
// and Chinese words, each as close to a limit as it gets.
func worstQueries(s *querySampler, lim config.Search) []worstQuery {
	infix := make([]string, 0, lim.MaxWildcards)
	for _, c := range "aeionrstlu" {
		infix = append(infix, "*"+string(c)+"*")
	}
	infix = infix[:min(len(infix), lim.MaxWildcards)]
	rest := lim.MaxClauses - len(infix)
	common := s.common[:min(rest, len(s.common))]
	phrases := make([]string, 0, rest)
	for i := 0; len(phrases) < rest && i+1 < len(s.common); i++ {
		phrases = append(phrases, `"`+s.common[i]+" "+s.common[i+1]+`"`)
	}
	var singles []string
	seen := map[rune]bool{}
	for _, w := range s.chinese {
		for _, r := range w {
			if !seen[r] && len(singles) < lim.MaxWildcards {
				seen[r] = true
				singles = append(singles, string(r))
			}
		}
	}
	chinese := s.chinese[:min(rest, len(s.chinese))]
	or := func(parts ...[]string) string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return strings.Join(all, " OR ")
	}
	excl := make([]string, len(infix))
	for i, p := range infix {
		excl[i] = "-" + p
	}
	qs := []worstQuery{
		{"10 infix patterns OR'ed", index.Request{Query: or(infix)}},
		{"10 infix patterns AND'ed", index.Request{Query: strings.Join(infix, " ")}},
		{"everything but 10 infix patterns", index.Request{Query: strings.Join(excl, " ")}},
		{"10 patterns of 4 wildcards", index.Request{Query: or([]string{"*a?e*i?", "*o?n*r?", "*s?t*l?", "*u?a*e?", "*i?o*n?", "*r?s*t?", "*l?u*a?", "*e?i*o?", "*n?r*s?", "*t?l*u?"}[:len(infix)])}},
		{fmt.Sprintf("10 patterns + %d common words OR'ed", len(common)), index.Request{Query: or(infix, common)}},
		{fmt.Sprintf("10 patterns + %d phrases of common words OR'ed", len(phrases)), index.Request{Query: or(infix, phrases)}},
		{fmt.Sprintf("10 single CJK characters + %d Chinese words OR'ed", len(chinese)), index.Request{Query: or(singles, chinese)}},
	}
	var out []worstQuery
	for _, q := range qs {
		for _, sort := range []string{index.SortTime, index.SortRelevance} {
			for _, facets := range []bool{false, true} {
				r := q.req
				r.SortBy, r.Facets, r.Highlight = sort, facets, true
				name := q.name + ", " + sort
				if facets {
					name += ", facets"
				}
				out = append(out, worstQuery{name: name, req: r})
			}
		}
	}
	return out
}

// runWorst times each worst query reps times on the index kept in dir,
// opened with the default limits, each under the default search.timeout.
func runWorst(ctx context.Context, dir string, s *querySampler, reps int, log *logrus.Entry) error {
	budget := config.Default().Search
	ix, err := index.Open(index.Config{Dir: filepath.Join(dir, "index"), Limits: searchLimits(budget)}, log)
	if err != nil {
		return err
	}
	defer ix.Close()
	timeout := time.Duration(budget.Timeout)
	fmt.Printf("\nworst searches within the default budget (timeout %v, max_clauses %d, max_wildcards %d, max_pattern_wildcards %d, max_pattern_words %d), %d partitions, each run %d times:\n",
		timeout, budget.MaxClauses, budget.MaxWildcards, budget.MaxPatternWildcards, budget.MaxPatternWords, len(ix.Partitions()), reps)
	var worst, worstCPU time.Duration
	var worstName string
	for _, q := range worstQueries(s, budget) {
		var took, cpu []time.Duration
		others, outcome := 0.0, ""
		for i := 0; i < reps; i++ {
			qctx, cancel := context.WithTimeout(ctx, timeout)
			m := startMeter()
			res, err := ix.Search(qctx, q.req)
			u := m.stop()
			cancel()
			took, cpu = append(took, u.wall), append(cpu, u.cpu)
			others += u.others / float64(reps)
			outcome = describeOutcome(res, err)
		}
		slices.Sort(took)
		slices.Sort(cpu)
		fmt.Printf("  %-70s wall median %7.0f ms max %7.0f ms, CPU max %7.0f ms (others %2.0f%%)  %s\n",
			q.name, ms(took[len(took)/2]), ms(took[len(took)-1]), ms(cpu[len(cpu)-1]), 100*others, outcome)
		if took[len(took)-1] > worst {
			worst, worstName = took[len(took)-1], q.name
		}
		worstCPU = max(worstCPU, cpu[len(cpu)-1])
	}
	fmt.Printf("  worst: %.0f ms wall, %s; most CPU in one search: %.0f ms (of %d CPUs; \"others\" is the share other processes took)\n",
		ms(worst), worstName, ms(worstCPU), runtime.NumCPU())
	return nil
}

// describeOutcome says how a search ended: its hits, a limit, or the
// deadline.
func describeOutcome(res index.Result, err error) string {
	var le *querystring.LimitError
	var pe *index.PatternError
	switch {
	case err == nil:
		return fmt.Sprintf("%d hits (%s)", res.Total, res.TotalRelation)
	case errors.As(err, &le):
		return "400 " + le.Limit
	case errors.As(err, &pe):
		return "400 " + index.LimitPatternWords
	case errors.Is(err, context.DeadlineExceeded):
		return "504 search.timeout"
	}
	return "error: " + err.Error()
}
