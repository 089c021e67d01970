package index

import (
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"
)

// errDropped is what opening a partition returns once DropPartition has
// removed it; searches skip such a partition.
var errDropped = errors.New("partition dropped")

// deletePage is how many doc ids DeleteSegment reads per search.
const deletePage = 10000

// DeleteSegment removes every document indexed from segment key, in every
// partition, and returns how many it removed. When a removed document was
// the latest version of its message and an older version remains, that
// version becomes the latest. It is idempotent, and safe to retry after a
// failure or a crash: the older versions are promoted and the side records
// committed before the documents are deleted, so a retry finds what is
// left to delete and nothing left to promote.
func (ix *Index) DeleteSegment(key string) (int, error) {
	if err := ix.enter(); err != nil {
		return 0, err
	}
	defer ix.leave()
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()

	found := map[int][]string{}   // month -> doc ids
	removed := map[string][]int{} // message id -> removed versions
	n := 0
	for _, p := range ix.partitionsIn(math.MinInt, math.MaxInt) {
		idx, err := p.open(ix.mapping)
		if errors.Is(err, errDropped) {
			continue
		}
		if err != nil {
			return 0, err
		}
		ids, err := segmentDocs(idx, key)
		if err != nil {
			return 0, fmt.Errorf("delete segment %s: %w", key, err)
		}
		for _, did := range ids {
			if id, v, ok := splitDocID(did); ok {
				removed[id] = append(removed[id], v)
			}
		}
		found[p.month] = ids
		n += len(ids)
	}
	if n == 0 {
		return 0, nil
	}

	ids := make([]string, 0, len(removed))
	for id := range removed {
		ids = append(ids, id)
	}
	side := map[string]versions{}
	if err := loadVersions(ix.meta, ids, side); err != nil {
		return 0, fmt.Errorf("delete segment %s: %w", key, err)
	}
	promote := map[int][]string{}
	for id, vs := range removed {
		before, _ := side[id].max()
		after := side[id]
		for _, v := range vs {
			after = after.remove(v)
		}
		side[id] = after
		if top, ok := after.max(); ok && top.v != before.v {
			promote[top.month] = append(promote[top.month], docID(id, top.v))
		}
	}
	if err := ix.promote(side, promote); err != nil {
		return 0, fmt.Errorf("delete segment %s: %w", key, err)
	}

	w := ix.newWriter()
	defer w.close()
	for month, ids := range found {
		for _, did := range ids {
			if err := w.delete(month, did); err != nil {
				return 0, fmt.Errorf("delete segment %s: %w", key, err)
			}
		}
	}
	if err := w.finish(); err != nil {
		return 0, fmt.Errorf("delete segment %s: %w", key, err)
	}
	ix.log.WithFields(logrus.Fields{"segment": key, "docs": n}).Info("segment deleted from index")
	return n, nil
}

// segmentDocs lists the ids of the documents of segment key in idx.
func segmentDocs(idx bleve.Index, key string) ([]string, error) {
	q := query.NewTermQuery(key)
	q.SetField(fieldSegment)
	var ids []string
	var after []string
	for {
		req := bleve.NewSearchRequestOptions(q, deletePage, 0, false)
		req.Score = bleve.ScoreNone
		req.SortByCustom(search.SortOrder{&search.SortDocID{}})
		req.SearchAfter = after
		sr, err := idx.Search(req)
		if err != nil {
			return nil, err
		}
		for _, dm := range sr.Hits {
			ids = append(ids, dm.ID)
		}
		if len(sr.Hits) < deletePage {
			return ids, nil
		}
		after = []string{sr.Hits[len(sr.Hits)-1].ID}
	}
}

// promote re-indexes the given documents (month -> doc ids) with
// latest=true, then commits the side records.
func (ix *Index) promote(side map[string]versions, docs map[int][]string) error {
	w := ix.newWriter()
	defer w.close()
	for month, ids := range docs {
		hits, err := ix.load(month, ids)
		if err != nil {
			return err
		}
		for i := range hits {
			hits[i].Latest = true
			if err := w.index(&hits[i]); err != nil {
				return err
			}
		}
	}
	if err := w.finish(); err != nil {
		return err
	}
	return commitVersions(ix.meta, side, 0)
}

// DropPartition removes the partition of month ("2026-11") with every
// document in it, and forgets those versions. Where a dropped document was
// the latest version of its message and an older version remains in
// another partition, that version becomes the latest. Dropping a month
// that has no partition only cleans the side records.
func (ix *Index) DropPartition(month string) error {
	k, err := parseMonth(month)
	if err != nil {
		return err
	}
	if err := ix.enter(); err != nil {
		return err
	}
	defer ix.leave()
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()

	ix.pmu.Lock()
	p := ix.parts[k]
	delete(ix.parts, k)
	ix.pmu.Unlock()
	if p != nil {
		if err := p.drop(); err != nil {
			return fmt.Errorf("drop partition %s: %w", month, err)
		}
	}

	side := map[string]versions{}
	promote := map[int][]string{}
	err = ix.meta.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVersions).ForEach(func(id, b []byte) error {
			vs, err := decodeVersions(b)
			if err != nil {
				return fmt.Errorf("side record of %s: %w", id, err)
			}
			kept := make(versions, 0, len(vs))
			for _, e := range vs {
				if e.month != k {
					kept = append(kept, e)
				}
			}
			if len(kept) == len(vs) {
				return nil
			}
			side[string(id)] = kept
			before, _ := vs.max()
			if top, ok := kept.max(); ok && top.v != before.v {
				promote[top.month] = append(promote[top.month], docID(string(id), top.v))
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("drop partition %s: %w", month, err)
	}
	if err := ix.promote(side, promote); err != nil {
		return fmt.Errorf("drop partition %s: %w", month, err)
	}
	ix.log.WithFields(logrus.Fields{"month": month, "messages": len(side)}).Info("partition dropped")
	return nil
}

// drop closes the partition for good and removes its directory.
func (p *partition) drop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropped = true
	if p.idx != nil {
		if err := p.idx.Close(); err != nil {
			return err
		}
		p.idx = nil
	}
	return os.RemoveAll(p.dir)
}
