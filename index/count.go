package index

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// totalCountLimit and totalCountTime are TotalCountLimit and
// TotalCountTime, and countTimedDocs is how many documents the partitions
// counted must hold before TotalCountTime applies: a small archive is
// always counted up to TotalCountLimit, so that its totals do not depend
// on how busy the machine is. Tests lower them.
var (
	totalCountLimit uint64 = TotalCountLimit
	totalCountTime         = TotalCountTime
	countTimedDocs  uint64 = 100_000
)

// count adds to w.total the matches of what the page did not read (w.rest),
// newest first, up to TotalCountLimit matches in all and until
// TotalCountTime after the search started (once past countTimedDocs
// documents), unless the request wants an exact total or facets; it
// reports whether it stopped short, leaving a lower bound.
func (w *walk) count(ctx context.Context) (bool, error) {
	if len(w.rest) == 0 {
		return false, nil
	}
	for _, s := range w.rest {
		if s.whole {
			w.ix.counted.Add(1)
		}
	}
	if w.pl.facets {
		return false, w.countWithFacets(ctx)
	}
	limit, deadline := totalCountLimit, w.start.Add(totalCountTime)
	if w.pl.exactTotal {
		limit, deadline = math.MaxUint64, time.Time{}
	}
	var docs uint64
	for _, s := range w.rest {
		timed := time.Time{}
		if n, err := s.idx.DocCount(); err == nil {
			docs += n
		}
		if docs > countTimedDocs {
			timed = deadline
		}
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("count: %w", err)
		}
		if w.total >= limit || !timed.IsZero() && !time.Now().Before(timed) {
			return true, nil
		}
		n, all, err := countUpTo(ctx, s.idx, s.q, limit-w.total, timed)
		w.total += n
		if err != nil {
			return false, fmt.Errorf("count: %w", err)
		}
		if !all {
			return true, nil
		}
	}
	return false, nil
}

// countWithFacets counts the rest exactly, with its facets. Facets read
// every match's values: a month is then read whole (monthRead.read), so
// the rest is whole partitions, searched as one.
func (w *walk) countWithFacets(ctx context.Context) error {
	idxs := make([]bleve.Index, len(w.rest))
	for i, s := range w.rest {
		idxs[i] = s.idx
	}
	req := bleve.NewSearchRequestOptions(w.pl.q, 0, 0, false)
	req.Score = bleve.ScoreNone
	req.Facets = facetRequests()
	sr, err := searchAll(ctx, idxs, req)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	w.total += sr.Total
	w.facets = mergeFacets(w.facets, sr.Facets)
	return nil
}

// countUpTo counts the documents of idx that match q, up to limit and
// until deadline (zero: none); all reports that it counted every one.
func countUpTo(ctx context.Context, idx bleve.Index, q query.Query, limit uint64, deadline time.Time) (n uint64, all bool, err error) {
	all, err = eachMatch(ctx, idx, q, false, func(*search.DocumentMatch) (bool, bool) {
		n++
		return false, n < limit && (deadline.IsZero() || n%16 != 0 || time.Now().Before(deadline))
	}, nil)
	return n, all && n < limit, err
}
