package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive/fsstore"
	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/internal/corpus"
)

// Targets of `holdfast bench search`.
const (
	targetRawRatio = 0.80                  // indexing rate / raw bleve rate
	targetP99      = 50 * time.Millisecond // per query kind, at 1M messages
	targetFresh    = 5 * time.Second       // ack→searchable beyond segment.max_age
	deepPage       = 100                   // the page the deep-cursor query times
	freshRounds    = 5                     // fresh segments timed
)

// searchBenchOptions are the knobs of `holdfast bench search`.
type searchBenchOptions struct {
	n, rawN, queries, fresh    int
	dir, dataDir               string
	indexProfile, queryProfile string
	reuse, worst               bool
}

// runBenchSearch measures the index on real data: the indexing rate of the
// daemon's path (segments sealed as the gateway seals them, indexed by a
// Follower from a catalog and a store) next to raw bleve in the same run,
// the index size, RSS, query latency by kind, and how long a fresh segment
// takes to become searchable.
func runBenchSearch(ctx context.Context, args []string) error {
	fset := flag.NewFlagSet("bench search", flag.ContinueOnError)
	var o searchBenchOptions
	fset.IntVar(&o.n, "n", 1_000_000, "messages to index")
	fset.IntVar(&o.rawN, "raw-n", 0, "messages for the raw bleve baseline, the first of the same set (default min(n, 200000))")
	fset.IntVar(&o.queries, "queries", 200, "timed queries per kind")
	fset.IntVar(&o.fresh, "fresh", 1000, "messages in each fresh segment of the ack→searchable measure")
	fset.StringVar(&o.dir, "dir", "", "work directory, kept afterwards (default: a temporary one, removed)")
	fset.StringVar(&o.dataDir, "data", "", "shared conversation data (default: find ../shared/data)")
	fset.StringVar(&o.indexProfile, "cpuprofile", "", "write a CPU profile of the indexing phase to this file")
	fset.StringVar(&o.queryProfile, "queryprofile", "", "write a CPU profile of the query phase to this file")
	fset.BoolVar(&o.reuse, "reuse", false, "only query the index that an earlier run with the same -n kept in -dir (the same queries: to compare query changes quickly)")
	fset.BoolVar(&o.worst, "worst", false, "with -reuse: time the costliest searches the default search budget allows instead, each -queries times")
	if err := fset.Parse(args); err != nil {
		return fmt.Errorf("bench search: %w", errUsage)
	}
	if o.n <= 0 || o.queries <= 0 || o.rawN < 0 || o.fresh <= 0 {
		return fmt.Errorf("bench search: -n, -queries and -fresh must be positive, -raw-n not negative: %w", errUsage)
	}
	if o.rawN == 0 {
		o.rawN = min(o.n, 200_000)
	}
	o.rawN = min(o.rawN, o.n)
	if o.dataDir == "" {
		d, err := corpus.Dir()
		if err != nil {
			return fmt.Errorf("bench search: %w", err)
		}
		o.dataDir = d
	}
	switch {
	case o.reuse && o.dir == "":
		return fmt.Errorf("bench search: -reuse needs the -dir of an earlier run: %w", errUsage)
	case o.reuse:
		if _, err := os.Stat(filepath.Join(o.dir, "index")); err != nil {
			return fmt.Errorf("bench search: -reuse: no index kept in -dir: %w", err)
		}
	case o.dir == "":
		d, err := os.MkdirTemp("", "holdfast-bench-search-")
		if err != nil {
			return fmt.Errorf("bench search: %w", err)
		}
		defer os.RemoveAll(d) // last: every user of it is closed before
		o.dir = d
	default:
		if ents, err := os.ReadDir(o.dir); err == nil && len(ents) > 0 {
			return fmt.Errorf("bench search: -dir %s is not empty: %w", o.dir, errUsage)
		}
		if err := os.MkdirAll(o.dir, 0o750); err != nil {
			return fmt.Errorf("bench search: %w", err)
		}
	}
	start := time.Now()
	rep, err := benchSearch(ctx, o)
	if err != nil {
		return fmt.Errorf("bench search: %w", err)
	}
	if rep == nil { // -worst printed its own
		return nil
	}
	rep.print(o, time.Since(start))
	return nil
}

// searchReport is what the benchmark measured.
type searchReport struct {
	reused                bool // queries only, on an index kept by an earlier run
	build                 buildStats
	indexRate, rawRate    float64
	indexTook, settled    time.Duration
	raw, indexing, query  phaseUsage
	indexBytes, rawBytes  int64
	partitions            int
	rss                   []rssPoint
	kinds                 []kindResult
	fresh                 []time.Duration
	deepWalks, deepRepeat int
}

// benchSearch runs the phases in order. Each holds only what it needs:
// the corpus is dropped once sealed, the raw baseline's index is removed
// before the real one is built.
func benchSearch(ctx context.Context, o searchBenchOptions) (*searchReport, error) {
	rep := &searchReport{reused: o.reuse}
	began := time.Now()
	step := func(format string, args ...any) {
		fmt.Printf("%6.1fs  %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	now := time.Now().UTC()

	// 1. Load the conversations and choose the query parameters from them.
	step("loading %d messages from %s", o.n, o.dataDir)
	cms, err := corpus.Mixed(o.dataDir, o.n)
	if err != nil {
		return nil, fmt.Errorf("load messages: %w", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	sampler := newQuerySampler(cms, rng)
	rep.rss = append(rep.rss, rssNow("loaded"))
	if o.reuse && o.worst {
		step("worst searches on the index kept in %s", o.dir)
		return nil, runWorst(ctx, o.dir, sampler, o.queries, log.WithField("component", "index"))
	}
	if o.reuse {
		step("querying the index kept in %s (%d per kind)", o.dir, o.queries)
		return rep, queryKept(ctx, o, rep, sampler, cms, rng, log.WithField("component", "index"))
	}

	// 2. Raw bleve on the first raw-n messages: corpus order, so the same
	// English/Chinese mix as the whole set.
	step("raw bleve baseline: %d messages", o.rawN)
	if err := measureRaw(rep, filepath.Join(o.dir, "raw"), cms[:o.rawN], now); err != nil {
		return nil, fmt.Errorf("raw bleve baseline: %w", err)
	}

	// 3. Seal the messages into segments as the gateway does, in sent_at
	// order, into a store and a catalog.
	slices.SortStableFunc(cms, func(a, b corpus.Message) int { return a.SentAt.Compare(b.SentAt) })
	sampler.sampleDeep(cms, o.queries, rng)
	freshSrc := slices.Clone(cms[len(cms)-min(len(cms), o.fresh*freshRounds):])
	store, err := fsstore.Open(filepath.Join(o.dir, "store"))
	if err != nil {
		return nil, err
	}
	cat := newBenchCatalog()
	step("sealing segments of %v", config.Default().Segment.MaxBytes)
	if rep.build, err = sealAll(ctx, store, cat, cms, now); err != nil {
		return nil, fmt.Errorf("seal segments: %w", err)
	}
	cms = nil
	runtime.GC()
	debug.FreeOSMemory()
	rep.rss = append(rep.rss, rssNow("sealed"))

	// 4. Index them as the daemon does: a Follower of the catalog. The
	// Follower stops before the index closes: it writes to it.
	ixDir := filepath.Join(o.dir, "index")
	ix, err := index.Open(index.Config{Dir: ixDir}, log.WithField("component", "index"))
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	f := index.NewFollower(ix, cat, store, log.WithField("component", "follower"))
	defer f.Close()
	step("indexing %d segments", len(cat.entries))
	if err := measureIndexing(ctx, rep, f, cat.LastSeq(), o.indexProfile); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	rep.rss = append(rep.rss, rssNow("indexed"))
	rep.settled = settle(ctx, 3*time.Minute)
	rep.indexBytes = diskUsage(ixDir)
	rep.partitions = len(ix.Partitions())

	// 5. Queries, then fresh segments, on the full index.
	step("waited %v for merges to settle; querying (%d per kind)", rep.settled.Round(time.Second), o.queries)
	if err := measureQueries(ctx, rep, sampler, ix, o.queries, rng, o.queryProfile); err != nil {
		return nil, err
	}
	step("fresh segments")
	if rep.fresh, err = freshLatency(ctx, ix, f, store, cat, freshSrc, o.fresh, now); err != nil {
		return nil, fmt.Errorf("fresh segments: %w", err)
	}
	return rep, nil
}

// queryKept times the queries on the index an earlier run kept in o.dir:
// the same queries, drawn from the same messages cms in the same order.
func queryKept(ctx context.Context, o searchBenchOptions, rep *searchReport, sampler *querySampler,
	cms []corpus.Message, rng *rand.Rand, log *logrus.Entry) error {
	slices.SortStableFunc(cms, func(a, b corpus.Message) int { return a.SentAt.Compare(b.SentAt) })
	sampler.sampleDeep(cms, o.queries, rng)
	rep.build.records = len(cms)
	ix, err := index.Open(index.Config{Dir: filepath.Join(o.dir, "index")}, log)
	if err != nil {
		return err
	}
	defer ix.Close()
	rep.partitions = len(ix.Partitions())
	return measureQueries(ctx, rep, sampler, ix, o.queries, rng, o.queryProfile)
}

// measureQueries times queries of each kind on ix, profiling into profile
// when set.
func measureQueries(ctx context.Context, rep *searchReport, sampler *querySampler, ix *index.Index,
	queries int, rng *rand.Rand, profile string) error {
	stopProfile, err := startProfile(profile)
	if err != nil {
		return err
	}
	m := startMeter()
	rep.kinds, err = sampler.run(ctx, ix, queries, rng)
	rep.query = m.stop()
	stopProfile()
	if err != nil {
		return fmt.Errorf("queries: %w", err)
	}
	rep.deepWalks, rep.deepRepeat = sampler.deepWalks, sampler.deepRepeat
	rep.rss = append(rep.rss, rssNow("queried"))
	return nil
}
