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
//
// A pattern over its limit in one partition stops the others too (see
// abortOnLimit): the search fails anyway.
func searchAll(ctx context.Context, idxs []bleve.Index, req *bleve.SearchRequest) (*bleve.SearchResult, error) {
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	sr, err := bleve.NewIndexAlias(idxs...).SearchInContext(context.WithValue(ctx, abortKey{}, abort), req)
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
		if cause := context.Cause(ctx); cause != nil {
			// The deadline, the client leaving, or the first partition's
			// pattern over its limit, which cancelled the others.
			return nil, fmt.Errorf("%d partitions: %w", len(idxs), cause)
		}
		return nil, fmt.Errorf("partition %s: %w", names[0], sr.Status.Errors[names[0]])
	}
	return sr, nil
}

// abortKey keys the cancel func of a searchAll in its context.
type abortKey struct{}

// abortOnLimit stops every partition of the searchAll that ctx belongs to,
// with err as the cause.
func abortOnLimit(ctx context.Context, err error) {
	if abort, ok := ctx.Value(abortKey{}).(context.CancelCauseFunc); ok {
		abort(err)
	}
}
