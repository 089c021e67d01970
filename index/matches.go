package index

import (
	"context"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/highlight"
	"github.com/blevesearch/bleve/v2/search/query"
)

// fewMatches reads the documents of idx that match q when there are fewer
// than few: pick chooses among them, which it is given with their ids and
// sent_at (the stored src field), and the ones it picks are returned with
// the stored fields and highlights req asks for. With few or more matches,
// it returns false. All of it comes from one snapshot: the matches, as the
// count reads them, then the documents of these matches only. (A second
// search for them by id would step through the matches of q up to the last
// of them again, which for a phrase is the expensive part.)
func fewMatches(ctx context.Context, idx bleve.Index, q query.Query, few int, req *bleve.SearchRequest,
	pick func([]*search.DocumentMatch) ([]*search.DocumentMatch, error)) ([]*search.DocumentMatch, bool, error) {
	var matches, picked []*search.DocumentMatch
	all, err := eachMatch(ctx, idx, q, req.Highlight != nil, func(dm *search.DocumentMatch) (bool, bool) {
		if len(matches) == few-1 {
			return false, false
		}
		matches = append(matches, dm)
		return true, true
	}, func(load loader) error {
		src := &bleve.SearchRequest{Fields: []string{fieldSrc}}
		for _, dm := range matches {
			if err := load(dm, src); err != nil {
				return err
			}
		}
		var err error
		if picked, err = pick(matches); err != nil {
			return err
		}
		for _, dm := range picked {
			dm.Fields = nil
			if err := load(dm, req); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !all {
		return nil, false, err
	}
	return picked, true, nil
}

// loader loads a match's doc id, and the stored fields and highlights a
// request asks for, from the snapshot it was found in.
type loader func(*search.DocumentMatch, *bleve.SearchRequest) error

// eachMatch calls fn with the matches of q in one snapshot of idx, until fn
// returns false (more); all reports that it saw every one. It steps
// through them unscored, with no sort, stored field or doc id (what bleve's
// own count does), and with term positions only when tv is set (for
// highlights). fn keeps a match it wants to load (keep): when every match
// was seen, done, if not nil, is then called with a loader for them.
func eachMatch(ctx context.Context, idx bleve.Index, q query.Query, tv bool,
	fn func(*search.DocumentMatch) (keep, more bool), done func(loader) error) (all bool, err error) {
	adv, err := idx.Advanced()
	if err != nil {
		return false, err
	}
	r, err := adv.Reader()
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := r.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	s, err := q.Searcher(ctx, r, idx.Mapping(), search.SearcherOptions{Score: bleve.ScoreNone, IncludeTermVectors: tv})
	if err != nil {
		return false, err
	}
	defer s.Close()
	sctx := &search.SearchContext{
		DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0),
		IndexReader:       r,
	}
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		dm, err := s.Next(sctx)
		if err != nil {
			return false, err
		}
		if dm == nil {
			break
		}
		keep, more := fn(dm)
		if !keep {
			sctx.DocumentMatchPool.Put(dm)
		}
		if !more {
			return false, nil
		}
	}
	if done == nil {
		return true, nil
	}
	return true, done(func(dm *search.DocumentMatch, req *bleve.SearchRequest) error {
		if dm.ID == "" {
			var err error
			if dm.ID, err = r.ExternalID(dm.IndexInternalID); err != nil {
				return err
			}
			dm.Complete(nil)
		}
		var hl highlight.Highlighter
		if req.Highlight != nil {
			var err error
			if hl, err = bleve.Config.Cache.HighlighterNamed(bleve.Config.DefaultHighlighter); err != nil {
				return err
			}
		}
		err, _ := bleve.LoadAndHighlightFields(dm, req, idx.Name(), r, hl)
		return err
	})
}
