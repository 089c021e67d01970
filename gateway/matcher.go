package gateway

import (
	"context"
	"fmt"
	"math"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/index"
)

// matchPage is the hits read per search page while matching criteria.
const matchPage = 1000

// MatchSegments finds, through this node's index, every segment holding a
// message version that c matches (every version, not only the latest), with
// the number of such versions; keys, when not nil, limits it to those
// segments. The audit trail matches only when c names its tenant. It
// serves the leader's legal-hold job (cluster.SegmentMatcher) and
// retention extension.
func (g *Gateway) MatchSegments(ctx context.Context, c archive.HoldCriteria, keys []string) (map[string]int, error) {
	if g.searcher == nil {
		return nil, fmt.Errorf("match segments: this node has no index")
	}
	req := index.Request{
		Query: c.Query, Tenants: c.Tenants, Participants: c.Custodians, Conversations: c.Conversations,
		From: c.From, To: c.To, AllVersions: true, Size: matchPage, SortBy: index.SortTime, Segments: keys,
		// A hold covers what it names, whatever the search budget.
		NoLimits: true,
	}
	if len(c.Tenants) == 0 {
		req.ExcludeTenants = []string{AuditTenant}
	}
	out := map[string]int{}
	for {
		res, err := g.searcher.Search(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("match segments: %w", err)
		}
		for _, h := range res.Hits {
			out[h.Segment]++
		}
		if res.Cursor == "" || len(res.Hits) < matchPage {
			return out, nil
		}
		req.Cursor = res.Cursor
	}
}

// Indexed is the catalog seq through which this node's index is complete
// (cluster.SegmentMatcher).
func (g *Gateway) Indexed() uint64 {
	if g.indexed == nil {
		return math.MaxUint64
	}
	return g.indexed.Stats().Checkpoint
}
