package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/index/querystring"
)

// Defaults.
const (
	// DefaultBatchSize is the number of documents per bleve batch.
	DefaultBatchSize = 1000
	// DefaultSize is the number of hits a search returns when Size is 0.
	DefaultSize = 50
	// MaxSize is the largest Size a search accepts.
	MaxSize = 1000
)

// partitionPrefix names a partition directory: Dir/p-2026-11.
const partitionPrefix = "p-"

// scorchConfig returns the runtime configuration of a partition; a new map
// each time, because bleve writes the index path into it. A batch returns
// once persisted (bleve's default): the writer overlaps that wait with the
// mapping of the next batch instead.
func scorchConfig() map[string]interface{} {
	return map[string]interface{}{}
}

// Config configures an Index.
type Config struct {
	// Dir holds the partitions and the side file; created if missing.
	Dir string
	// BatchSize is the number of documents per bleve batch
	// (DefaultBatchSize when 0).
	BatchSize int
	// Limits bound what one search may cost; the zero value sets none.
	Limits Limits
}

// Limits bound what one search may cost. A zero field means no limit.
type Limits struct {
	// Limits bound the query string: its length, clauses and patterns.
	querystring.Limits
	// MaxPatternWords is the most indexed words one pattern may match in
	// a partition: each is a posting list the search opens.
	MaxPatternWords int
}

// Index is one node's search index of archived messages: a bleve (scorch)
// index per calendar month of sent_at, opened lazily, and a side file with
// the checkpoint and the versions of every message id. It is safe for
// concurrent use: searches run while a segment is being indexed.
type Index struct {
	cfg     Config
	log     *logrus.Entry
	mapping mapping.IndexMapping
	codec   *archive.Codec
	meta    *bolt.DB

	// life is held (read) by every operation and taken (write) by Close,
	// which thereby waits for them.
	life    sync.RWMutex
	closed  bool
	closing chan struct{}

	// writeMu serialises the operations that change documents.
	writeMu sync.Mutex

	pmu   sync.RWMutex
	parts map[int]*partition // by month key

	checkpoint atomic.Uint64
	cpMu       sync.Mutex
	cpChanged  chan struct{} // closed when the checkpoint moves

	rankings rankings // relevance search snapshots

	searched atomic.Uint64 // partitions read for hits, for Stats
	windows  atomic.Uint64 // their windows (timesort.go)
	counted  atomic.Uint64 // partitions only counted
}

// partition is one month's bleve index, opened on first use.
type partition struct {
	month int
	dir   string

	mu      sync.Mutex
	idx     bleve.Index
	dropped bool
}

// Open opens (creating) the index in cfg.Dir.
func Open(cfg Config, log *logrus.Entry) (*Index, error) {
	if cfg.Dir == "" {
		return nil, errors.New("index: empty Dir")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("index: create %s: %w", cfg.Dir, err)
	}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("index: read %s: %w", cfg.Dir, err)
	}
	db, cp, err := openMeta(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	codec, err := archive.NewCodec()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("index: %w", err)
	}
	ix := &Index{
		cfg: cfg, log: log, mapping: newMapping(), codec: codec, meta: db,
		closing: make(chan struct{}), parts: map[int]*partition{},
		cpChanged: make(chan struct{}),
	}
	ix.checkpoint.Store(cp)
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), partitionPrefix)
		if !e.IsDir() || !ok {
			continue
		}
		k, err := parseMonth(name)
		if err != nil {
			log.WithField("dir", e.Name()).Warn("ignoring unexpected partition directory")
			continue
		}
		ix.parts[k] = &partition{month: k, dir: filepath.Join(cfg.Dir, e.Name())}
	}
	log.WithFields(logrus.Fields{"dir": cfg.Dir, "partitions": len(ix.parts), "checkpoint": cp}).Info("index opened")
	return ix, nil
}

// Close waits for running operations, then closes every open partition and
// the side file. It is idempotent.
func (ix *Index) Close() error {
	ix.life.RLock()
	closed := ix.closed
	ix.life.RUnlock()
	if closed {
		return nil
	}
	ix.cpMu.Lock()
	select {
	case <-ix.closing:
	default:
		close(ix.closing) // releases WaitIndexed, stops queued writes
	}
	ix.cpMu.Unlock()

	ix.life.Lock()
	defer ix.life.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	var errs []error
	ix.pmu.Lock()
	for _, p := range ix.parts {
		errs = append(errs, p.close())
	}
	ix.pmu.Unlock()
	errs = append(errs, ix.meta.Close())
	ix.codec.Close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("index: close: %w", err)
	}
	return nil
}

// enter starts an operation; leave ends it.
func (ix *Index) enter() error {
	ix.life.RLock()
	if ix.closed {
		ix.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (ix *Index) leave() { ix.life.RUnlock() }

// Checkpoint is the highest catalog sequence number whose segment, and
// every segment before it, is durably indexed.
func (ix *Index) Checkpoint() uint64 { return ix.checkpoint.Load() }

// checkpointChanged returns a channel closed the next time the checkpoint
// moves or the index closes.
func (ix *Index) checkpointChanged() <-chan struct{} {
	ix.cpMu.Lock()
	defer ix.cpMu.Unlock()
	return ix.cpChanged
}

func (ix *Index) setCheckpoint(seq uint64) {
	ix.cpMu.Lock()
	defer ix.cpMu.Unlock()
	if seq <= ix.checkpoint.Load() {
		return
	}
	ix.checkpoint.Store(seq)
	close(ix.cpChanged)
	ix.cpChanged = make(chan struct{})
}

// Stats describes the index.
type Stats struct {
	Checkpoint uint64
	// Partitions is the number of monthly partitions on disk; Open, how
	// many of them are open.
	Partitions, Open int
	// PartitionSearches counts the partitions that searches read for
	// hits since Open, and WindowSearches the searches of a window of
	// sent_at that took (one or more per partition read for a time-sorted
	// page, see timesort.go); PartitionCounts counts the partitions that
	// searches only counted matches in.
	PartitionSearches, WindowSearches, PartitionCounts uint64
}

// Stats returns the index's statistics.
func (ix *Index) Stats() Stats {
	s := Stats{Checkpoint: ix.Checkpoint(), PartitionSearches: ix.searched.Load(),
		WindowSearches: ix.windows.Load(), PartitionCounts: ix.counted.Load()}
	ix.pmu.RLock()
	defer ix.pmu.RUnlock()
	s.Partitions = len(ix.parts)
	for _, p := range ix.parts {
		p.mu.Lock()
		if p.idx != nil {
			s.Open++
		}
		p.mu.Unlock()
	}
	return s
}

// Partitions returns the months ("2026-11") that have a partition, oldest
// first.
func (ix *Index) Partitions() []string {
	ix.pmu.RLock()
	defer ix.pmu.RUnlock()
	keys := make([]int, 0, len(ix.parts))
	for k := range ix.parts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = monthName(k)
	}
	return names
}

// partition returns month k's partition, registering a new one when create
// is set; nil when it does not exist.
func (ix *Index) partition(k int, create bool) *partition {
	ix.pmu.RLock()
	p := ix.parts[k]
	ix.pmu.RUnlock()
	if p != nil || !create {
		return p
	}
	ix.pmu.Lock()
	defer ix.pmu.Unlock()
	if p = ix.parts[k]; p == nil {
		p = &partition{month: k, dir: filepath.Join(ix.cfg.Dir, partitionPrefix+monthName(k))}
		ix.parts[k] = p
	}
	return p
}

// partitionsIn returns the partitions of months from to to (month keys,
// both included), newest first.
func (ix *Index) partitionsIn(from, to int) []*partition {
	ix.pmu.RLock()
	ps := make([]*partition, 0, len(ix.parts))
	for k, p := range ix.parts {
		if k >= from && k <= to {
			ps = append(ps, p)
		}
	}
	ix.pmu.RUnlock()
	slices.SortFunc(ps, func(a, b *partition) int { return b.month - a.month })
	return ps
}

// open returns the partition's bleve index, opening it, or creating it
// when its directory does not exist yet.
func (p *partition) open(m mapping.IndexMapping) (bleve.Index, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idx != nil {
		return p.idx, nil
	}
	if p.dropped {
		return nil, errDropped
	}
	idx, err := bleve.OpenUsing(p.dir, scorchConfig())
	if errors.Is(err, bleve.ErrorIndexMetaMissing) {
		// A crash while the partition was being created: nothing in it
		// was ever persisted, so it is created again.
		if err = os.RemoveAll(p.dir); err == nil {
			err = bleve.ErrorIndexPathDoesNotExist
		}
	}
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		idx, err = bleve.NewUsing(p.dir, m, scorch.Name, bleve.Config.DefaultKVStore, scorchConfig())
	}
	if err != nil {
		return nil, fmt.Errorf("open partition %s: %w", monthName(p.month), err)
	}
	p.idx = idx
	return idx, nil
}

func (p *partition) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idx == nil {
		return nil
	}
	err := p.idx.Close()
	p.idx = nil
	return err
}
