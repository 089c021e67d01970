package index

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// testHookBeforeCommit, when set, runs after a segment's documents are
// persisted and before its side records and checkpoint are committed: the
// place a crash test kills the process.
var testHookBeforeCommit func(seq uint64)

// IndexSegment indexes every record of one segment object and then, if seq
// is above the checkpoint, durably records seq as the new checkpoint. data
// is the whole object; it is checked against seg.SHA256 when that is set,
// and every record against its own hash. seg.Key is recorded with each
// document so that a hit can be read back with one ranged GET.
//
// It is idempotent: a document's id is "<message id>/<version>", so
// indexing a segment again replaces its documents. The version with the
// highest number of each message is indexed with latest=true, every other
// one with latest=false, whatever order the versions arrive in.
func (ix *Index) IndexSegment(seq uint64, seg archive.Segment, data []byte) error {
	_, err := ix.indexRun([]fetched{{CatalogEntry{Seq: seq, Segment: seg}, data}})
	return err
}

// fetched is a catalog entry and its segment object.
type fetched struct {
	CatalogEntry
	data []byte
}

// indexRun indexes consecutive segments as one unit: batches fill across
// segment boundaries, and the side records and the checkpoint (the highest
// Seq) are committed once, after every document is persisted. It returns
// the number of records.
func (ix *Index) indexRun(segs []fetched) (int, error) {
	if err := ix.enter(); err != nil {
		return 0, err
	}
	defer ix.leave()
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	if ix.isClosing() {
		return 0, ErrClosed
	}
	r, err := ix.startRun()
	if err != nil {
		return 0, err
	}
	defer r.abort()
	var seq uint64
	for _, f := range segs {
		if err := r.add(f.Segment, f.data); err != nil {
			return 0, fmt.Errorf("index segment %s: %w", f.Segment.Key, err)
		}
		seq = max(seq, f.Seq)
	}
	if err := r.commit(seq); err != nil {
		return 0, fmt.Errorf("index segments %s to %s: %w", segs[0].Segment.Key, segs[len(segs)-1].Segment.Key, err)
	}
	ix.log.WithFields(logrus.Fields{"segments": len(segs), "seq": seq, "records": len(r.hits)}).Debug("segments indexed")
	return len(r.hits), nil
}

// skip moves the checkpoint to seq without indexing anything: the segment
// there is quarantined.
func (ix *Index) skip(seq uint64) error {
	if err := ix.enter(); err != nil {
		return err
	}
	defer ix.leave()
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	if ix.isClosing() {
		return ErrClosed
	}
	if err := commitVersions(ix.meta, nil, seq); err != nil {
		return fmt.Errorf("skip seq %d: %w", seq, err)
	}
	ix.setCheckpoint(seq)
	return nil
}

// run is the indexing of one or more segments: their records as indexed,
// and the side records as they will be committed.
type run struct {
	ix    *Index
	w     *writer
	tx    *bolt.Tx     // reads the side records committed before the run
	known *bolt.Bucket // in tx
	side  map[string]versions
	hits  []Hit          // the run's records
	byID  map[string]int // doc id -> position in hits
	// demote lists, by month, the documents indexed before the run that it
	// supersedes: they are re-indexed with latest=false.
	demote map[int][]string
}

func (ix *Index) startRun() (*run, error) {
	tx, err := ix.meta.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("read side records: %w", err)
	}
	return &run{
		ix: ix, w: ix.newWriter(), tx: tx, known: tx.Bucket(bucketVersions),
		side: map[string]versions{}, byID: map[string]int{}, demote: map[int][]string{},
	}, nil
}

// abort stops a run that was not committed.
func (r *run) abort() {
	r.w.close()
	_ = r.tx.Rollback() // ErrTxClosed after commit
}

// add decodes and indexes every record of one segment.
func (r *run) add(seg archive.Segment, data []byte) error {
	if seg.SHA256 != "" {
		if err := archive.VerifyObject(data, seg.SHA256); err != nil {
			return err
		}
	}
	r.hits = slices.Grow(r.hits, seg.Count)
	return r.ix.codec.Scan(data, func(m archive.Message, _ []byte, e archive.ManifestEntry) error {
		return r.index(hitFromMessage(&m, seg.Key, e))
	})
}

// index indexes one record, deciding from the versions indexed so far
// whether it is the latest version of its message.
func (r *run) index(h Hit) error {
	vs, ok := r.side[h.ID]
	if !ok {
		var err error
		if vs, err = decodeVersions(r.known.Get([]byte(h.ID))); err != nil {
			return fmt.Errorf("side record of %s: %w", h.ID, err)
		}
	}
	old, had := vs.max()
	r.side[h.ID] = vs.put(h.Version, monthKey(h.SentAt))
	switch {
	case !had || h.Version > old.v:
		h.Latest = true
		if had {
			if err := r.supersede(h.ID, old); err != nil {
				return err
			}
		}
	case h.Version == old.v: // indexed again
		h.Latest = true
	default: // an older version, late
		h.Latest = false
	}
	r.byID[docID(h.ID, h.Version)] = len(r.hits)
	r.hits = append(r.hits, h)
	return r.w.index(&r.hits[len(r.hits)-1])
}

// supersede makes version old of id no longer the latest: at once when it
// is in this run, at commit when it was indexed before.
func (r *run) supersede(id string, old verLoc) error {
	did := docID(id, old.v)
	if j, ok := r.byID[did]; ok {
		r.hits[j].Latest = false
		return r.w.index(&r.hits[j])
	}
	r.demote[old.month] = append(r.demote[old.month], did)
	return nil
}

// commit re-indexes the superseded documents, waits until everything is
// persisted, then commits the side records and checkpoint seq.
func (r *run) commit(seq uint64) error {
	for month, ids := range r.demote {
		hits, err := r.ix.load(month, ids)
		if err != nil {
			return err
		}
		for i := range hits {
			hits[i].Latest = false
			if err := r.w.index(&hits[i]); err != nil {
				return err
			}
		}
	}
	if err := r.w.finish(); err != nil {
		return err
	}
	if err := r.tx.Rollback(); err != nil {
		return err
	}
	if testHookBeforeCommit != nil {
		testHookBeforeCommit(seq)
	}
	if err := commitVersions(r.ix.meta, r.side, seq); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	r.ix.setCheckpoint(seq)
	return nil
}

// load reads the stored documents ids from month's partition. Ids that are
// not there (deleted since) are skipped.
func (ix *Index) load(month int, ids []string) ([]Hit, error) {
	p := ix.partition(month, false)
	if p == nil || len(ids) == 0 {
		return nil, nil
	}
	idx, err := p.open(ix.mapping)
	if err != nil {
		return nil, err
	}
	req := bleve.NewSearchRequestOptions(bleve.NewDocIDQuery(ids), len(ids), 0, false)
	req.Fields = storedFields
	req.Score = bleve.ScoreNone
	res, err := idx.Search(req)
	if err != nil {
		return nil, fmt.Errorf("load %d documents from %s: %w", len(ids), monthName(month), err)
	}
	hits := make([]Hit, 0, len(res.Hits))
	for _, dm := range res.Hits {
		h, err := hitFromFields(dm.ID, dm.Fields)
		if err != nil {
			return nil, err
		}
		hits = append(hits, h)
	}
	return hits, nil
}

// isClosing reports whether Close has started.
func (ix *Index) isClosing() bool {
	select {
	case <-ix.closing:
		return true
	default:
		return false
	}
}

// splitDocID splits "<id>/<version>".
func splitDocID(s string) (string, int, bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", 0, false
	}
	v, err := strconv.Atoi(s[i+1:])
	return s[:i], v, err == nil
}
