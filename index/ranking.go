package index

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2/search"
)

// Relevance paging works on a snapshot of the ranking, as Elasticsearch's
// point in time does: the first page ranks up to MaxRelevanceHits matching
// documents once and keeps that ranking for RankingTTL; later pages read
// from it. Scores are not stable on a live index — every message or audit
// record indexed between two pages changes the statistics of its month's
// partition and so the order across partitions — and a (score, id) or
// offset cursor then skips or repeats hits. The time sort needs no
// snapshot: sent_at never changes, and its cursor stays exact and cheap.
const (
	// MaxRelevanceHits is how many hits a relevance search ranks; beyond
	// it the result says Truncated (sort by time to page through all).
	MaxRelevanceHits = 10000
	// RankingTTL is how long a relevance cursor stays valid.
	RankingTTL = 10 * time.Minute
	// maxRankings bounds the snapshots kept at once (the oldest go first).
	maxRankings = 64
)

// ranked is one hit of a ranking.
type ranked struct {
	id, part string
	score    float64
}

// ranking is a relevance search's ranked hits.
type ranking struct {
	hits    []ranked
	total   uint64
	facets  search.FacetResults
	created time.Time
}

// rankings holds the snapshots of recent relevance searches.
type rankings struct {
	mu sync.Mutex
	m  map[string]*ranking
}

// put keeps r and returns its id.
func (rs *rankings) put(r *ranking) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.m == nil {
		rs.m = map[string]*ranking{}
	}
	now := time.Now()
	var oldest string
	for k, v := range rs.m {
		if now.Sub(v.created) > RankingTTL {
			delete(rs.m, k)
		} else if oldest == "" || v.created.Before(rs.m[oldest].created) {
			oldest = k
		}
	}
	if len(rs.m) >= maxRankings && oldest != "" {
		delete(rs.m, oldest)
	}
	r.created = now
	rs.m[id] = r
	return id
}

// get returns the ranking id, if it is still kept.
func (rs *rankings) get(id string) (*ranking, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.m[id]
	if ok && time.Since(r.created) > RankingTTL {
		delete(rs.m, id)
		ok = false
	}
	return r, ok
}
