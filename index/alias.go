package index

import (
	"context"
	"fmt"
	"slices"

	"github.com/blevesearch/bleve/v2"
)

// searchAll searches idxs as one. Bleve's alias answers with what the
// partitions that succeeded found and only lists the others' errors in
// the result's status: a partition past the deadline, or a pattern over
// its limit in one month, would silently leave its matches out. Here any
// partition's error fails the search.
func searchAll(ctx context.Context, idxs []bleve.Index, req *bleve.SearchRequest) (*bleve.SearchResult, error) {
	sr, err := bleve.NewIndexAlias(idxs...).SearchInContext(ctx, req)
	if err != nil {
		return nil, err
	}
	if sr.Status != nil && (sr.Status.Failed > 0 || len(sr.Status.Errors) > 0) {
		names := make([]string, 0, len(sr.Status.Errors))
		for name := range sr.Status.Errors {
			names = append(names, name)
		}
		slices.Sort(names) // the same error for the same failure
		if len(names) == 0 {
			return nil, fmt.Errorf("%d of %d partitions failed", sr.Status.Failed, len(idxs))
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("partition %s: %w", names[0], err)
		}
		return nil, fmt.Errorf("partition %s: %w", names[0], sr.Status.Errors[names[0]])
	}
	return sr, nil
}
