package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Search runs r. Time-sorted searches read the partitions newest first, in
// windows of sent_at, and stop reading hits as soon as the page is full
// (see timesort.go); what they did not read is only counted (count.go).
// Relevance searches rank every partition in range at once (ranking.go).
func (ix *Index) Search(ctx context.Context, r Request) (Result, error) {
	start := time.Now()
	if err := ix.enter(); err != nil {
		return Result{}, err
	}
	defer ix.leave()
	lim := ix.cfg.Limits
	if r.NoLimits {
		lim = Limits{}
	}
	pl, err := newLimitedPlan(r, lim)
	if err != nil {
		return Result{}, err
	}
	parts := ix.partitionsIn(pl.fromMonth, pl.toMonth)
	var res Result
	if pl.relevance {
		res, err = ix.searchRelevance(ctx, pl, parts)
	} else {
		res, err = ix.searchTime(ctx, pl, parts, start)
	}
	if err != nil {
		return Result{}, err
	}
	res.Took = time.Since(start)
	return res, nil
}

// request builds the search of q in one partition (or alias) for size
// hits.
func (pl *plan) request(q query.Query, size int) *bleve.SearchRequest {
	req := bleve.NewSearchRequestOptions(q, size, 0, false)
	req.Fields = storedFields
	if pl.relevance {
		req.SortByCustom(search.SortOrder{&search.SortScore{Desc: true}, &search.SortDocID{}})
	} else {
		req.SortByCustom(search.SortOrder{
			&search.SortField{Field: fieldSentAt, Type: search.SortFieldAsDate, Desc: true},
			&search.SortDocID{Desc: true},
		})
		req.Score = bleve.ScoreNone
	}
	req.SearchAfter = pl.after
	if pl.highlight && pl.user != nil { // without the user's query, nothing to mark
		req.Highlight = bleve.NewHighlight()
		req.Highlight.AddField(fieldText)
	}
	if pl.facets {
		req.Facets = facetRequests()
	}
	return req
}

func facetRequests() bleve.FacetsRequest {
	return bleve.FacetsRequest{
		FacetPlatform:     bleve.NewFacetRequest(fieldPlatform, FacetSize),
		FacetSender:       bleve.NewFacetRequest(fieldFrom, FacetSize),
		FacetConversation: bleve.NewFacetRequest(fieldConv, FacetSize),
		FacetDay:          bleve.NewFacetRequest(fieldDay, DayFacetSize),
	}
}

// searchRelevance answers a relevance search from a ranking snapshot (see
// ranking.go): the first page ranks every partition in range at once by
// score and id only and keeps the ranking; each page then loads the stored
// fields and highlights of its own hits, from their partitions.
func (ix *Index) searchRelevance(ctx context.Context, pl *plan, parts []*partition) (Result, error) {
	byName := make(map[string]bleve.Index, len(parts))
	idxs := make([]bleve.Index, 0, len(parts))
	for _, p := range parts {
		idx, err := p.open(ix.mapping)
		if errors.Is(err, errDropped) {
			continue
		}
		if err != nil {
			return Result{}, err
		}
		idxs = append(idxs, idx)
		byName[idx.Name()] = idx
	}
	var (
		rk     *ranking
		id     string
		offset int
	)
	if pl.after != nil {
		var ok bool
		if id, offset = pl.after[0], pl.afterMonth; id != "" {
			rk, ok = ix.rankings.get(id)
		}
		if !ok {
			return Result{}, fmt.Errorf("relevance cursor expired (kept %v): run the search again: %w", RankingTTL, ErrBadRequest)
		}
	} else {
		if len(idxs) == 0 {
			return ix.finish(Result{TotalRelation: TotalRelationEq}, pl, nil, nil)
		}
		req := pl.request(pl.q, MaxRelevanceHits)
		req.Fields, req.Highlight, req.SearchAfter = nil, nil, nil
		sr, err := searchAll(ctx, idxs, req)
		ix.searched.Add(uint64(len(idxs)))
		if err != nil {
			return Result{}, fmt.Errorf("search: %w", err)
		}
		rk = &ranking{total: sr.Total, facets: sr.Facets, hits: make([]ranked, len(sr.Hits))}
		for i, dm := range sr.Hits {
			rk.hits[i] = ranked{id: dm.ID, part: dm.Index, score: dm.Score}
		}
		if len(rk.hits) > pl.size {
			id = ix.rankings.put(rk)
		}
	}
	page := make(search.DocumentMatchCollection, 0, pl.size)
	for _, h := range rk.hits[min(offset, len(rk.hits)):min(offset+pl.size, len(rk.hits))] {
		page = append(page, &search.DocumentMatch{ID: h.id, Index: h.part, Score: h.score})
	}
	if err := ix.loadHits(ctx, pl, byName, page); err != nil {
		return Result{}, err
	}
	res, err := ix.finish(Result{Total: rk.total, TotalRelation: TotalRelationEq, Partitions: len(idxs)}, pl, page, rk.facets)
	if err != nil {
		return Result{}, err
	}
	if next := offset + pl.size; next < len(rk.hits) {
		res.Cursor = encodeRankingCursor(id, next)
	} else if rk.total > uint64(len(rk.hits)) {
		res.Truncated = true
	}
	return res, nil
}

// loadHits fills the stored fields and highlights of page's hits from their
// own partitions. A hit that no longer matches (a newer version came in
// between) keeps no fields, and finish leaves it out.
func (ix *Index) loadHits(ctx context.Context, pl *plan, byName map[string]bleve.Index, page search.DocumentMatchCollection) error {
	ids := map[string][]string{} // partition name -> doc ids
	for _, dm := range page {
		ids[dm.Index] = append(ids[dm.Index], dm.ID)
	}
	loaded := make(map[string]*search.DocumentMatch, len(page))
	for name, docs := range ids {
		idx := byName[name]
		if idx == nil {
			continue // the partition was dropped since the ranking
		}
		req := pl.request(pl.q, len(docs))
		req.Query = query.NewConjunctionQuery([]query.Query{query.NewDocIDQuery(docs), pl.q})
		req.SearchAfter, req.Facets = nil, nil
		lr, err := idx.SearchInContext(ctx, req)
		if err != nil {
			return fmt.Errorf("load hits: %w", err)
		}
		for _, dm := range lr.Hits {
			loaded[dm.ID] = dm
		}
	}
	for _, dm := range page {
		if l := loaded[dm.ID]; l != nil {
			dm.Fields, dm.Fragments = l.Fields, l.Fragments
		}
	}
	return nil
}

// finish turns bleve's hits and facets into the page.
func (ix *Index) finish(res Result, pl *plan, hits search.DocumentMatchCollection, facets search.FacetResults) (Result, error) {
	more := len(hits) > pl.size
	if more {
		hits = hits[:pl.size]
	}
	res.Hits = make([]Hit, 0, len(hits))
	for _, dm := range hits {
		if dm.Fields == nil {
			continue
		}
		h, err := hitFromFields(dm.ID, dm.Fields)
		if err != nil {
			return Result{}, err
		}
		if pl.relevance {
			h.Score = dm.Score
		}
		if len(dm.Fragments) > 0 {
			h.Highlights = dm.Fragments
		}
		res.Hits = append(res.Hits, h)
	}
	if more {
		last := hits[len(hits)-1]
		res.Cursor = encodeCursor(res.Hits[len(res.Hits)-1].SentAt, last.ID, res.Total, res.TotalRelation == TotalRelationGte)
	}
	if pl.facets {
		res.Facets = facetCounts(facets)
	}
	return res, nil
}

// mergeFacets adds b's counts to a.
func mergeFacets(a, b search.FacetResults) search.FacetResults {
	if a == nil {
		return b
	}
	a.Merge(b)
	return a
}

// facetCounts trims each facet to its size: most frequent first, except
// days, oldest first.
func facetCounts(fr search.FacetResults) map[string][]FacetCount {
	out := make(map[string][]FacetCount, 4)
	for _, name := range []string{FacetPlatform, FacetSender, FacetConversation, FacetDay} {
		counts := []FacetCount{}
		if f := fr[name]; f != nil {
			size := FacetSize
			if name == FacetDay {
				size = DayFacetSize
			}
			f.Fixup(size)
			for _, t := range f.Terms.Terms() {
				counts = append(counts, FacetCount{Term: t.Term, Count: t.Count})
			}
		}
		if name == FacetDay {
			slices.SortFunc(counts, func(a, b FacetCount) int { return strings.Compare(a.Term, b.Term) })
		}
		out[name] = counts
	}
	return out
}

// Versions returns every indexed version of message id, oldest first;
// ErrNotFound when there is none.
func (ix *Index) Versions(id string) ([]Hit, error) {
	if err := ix.enter(); err != nil {
		return nil, err
	}
	defer ix.leave()
	side := map[string]versions{}
	if err := loadVersions(ix.meta, []string{id}, side); err != nil {
		return nil, fmt.Errorf("versions of %s: %w", id, err)
	}
	byMonth := map[int][]string{}
	for _, e := range side[id] {
		byMonth[e.month] = append(byMonth[e.month], docID(id, e.v))
	}
	var hits []Hit
	for month, ids := range byMonth {
		hs, err := ix.load(month, ids)
		if err != nil {
			return nil, fmt.Errorf("versions of %s: %w", id, err)
		}
		hits = append(hits, hs...)
	}
	if len(hits) == 0 {
		return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	slices.SortFunc(hits, func(a, b Hit) int { return a.Version - b.Version })
	return hits, nil
}
