package index

import (
	"errors"
	"fmt"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/holdfast/holdfast/archive"
)

// RawBleveRate is the yardstick of indexing throughput: it indexes msgs
// into one new scorch index in dir (which must not exist yet), with the
// mapping, documents and scorch configuration of an Index but none of its
// machinery (no segment decoding or hash checks, no monthly partitions, no
// latest-version handling, no side file or checkpoint), in plain bleve
// batches of batchSize (DefaultBatchSize when 0), and returns the documents
// indexed per second. Every message is indexed as a latest version, in a
// placeholder segment. The documents are built before the clock starts:
// the rate is bleve's alone. The index is closed, not removed.
func RawBleveRate(dir string, msgs []archive.Message, batchSize int) (float64, error) {
	if len(msgs) == 0 {
		return 0, errors.New("raw bleve baseline: no messages")
	}
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	docs := make([]*doc, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		h := hitFromMessage(m, SegmentPrefix+"raw-baseline", archive.ManifestEntry{ID: m.ID, Version: m.Version, SHA256: m.SHA256})
		h.Latest = true
		d, err := newDoc(&h)
		if err != nil {
			return 0, fmt.Errorf("raw bleve baseline: %w", err)
		}
		docs[i] = d
	}
	idx, err := bleve.NewUsing(dir, newMapping(), scorch.Name, bleve.Config.DefaultKVStore, scorchConfig())
	if err != nil {
		return 0, fmt.Errorf("raw bleve baseline: create %s: %w", dir, err)
	}
	start := time.Now()
	batch := idx.NewBatch()
	for i, d := range docs {
		id := docID(d.ID, d.Version)
		if err := batch.Index(id, d); err != nil {
			idx.Close()
			return 0, fmt.Errorf("raw bleve baseline: map %s: %w", id, err)
		}
		if batch.Size() >= batchSize || i == len(docs)-1 {
			if err := idx.Batch(batch); err != nil {
				idx.Close()
				return 0, fmt.Errorf("raw bleve baseline: apply batch: %w", err)
			}
			batch = idx.NewBatch()
		}
	}
	took := time.Since(start)
	if err := idx.Close(); err != nil {
		return 0, fmt.Errorf("raw bleve baseline: close: %w", err)
	}
	return float64(len(docs)) / took.Seconds(), nil
}
