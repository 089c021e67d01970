package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/fsstore"
	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/gateway"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/internal/corpus"
	"github.com/holdfast/holdfast/journal"
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
	if o.dir == "" {
		d, err := os.MkdirTemp("", "holdfast-bench-search-")
		if err != nil {
			return fmt.Errorf("bench search: %w", err)
		}
		defer os.RemoveAll(d) // last: every user of it is closed before
		o.dir = d
	} else if ents, err := os.ReadDir(o.dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("bench search: -dir %s is not empty: %w", o.dir, errUsage)
	} else if err := os.MkdirAll(o.dir, 0o750); err != nil {
		return fmt.Errorf("bench search: %w", err)
	}
	start := time.Now()
	rep, err := benchSearch(ctx, o)
	if err != nil {
		return fmt.Errorf("bench search: %w", err)
	}
	rep.print(o, time.Since(start))
	return nil
}

// searchReport is what the benchmark measured.
type searchReport struct {
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
	rep := &searchReport{}
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
	stopProfile, err := startProfile(o.queryProfile)
	if err != nil {
		return nil, err
	}
	m := startMeter()
	rep.kinds, err = sampler.run(ctx, ix, o.queries, rng)
	rep.query = m.stop()
	stopProfile()
	if err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	rep.deepWalks, rep.deepRepeat = sampler.deepWalks, sampler.deepRepeat
	rep.rss = append(rep.rss, rssNow("queried"))
	step("fresh segments")
	if rep.fresh, err = freshLatency(ctx, ix, f, store, cat, freshSrc, o.fresh, now); err != nil {
		return nil, fmt.Errorf("fresh segments: %w", err)
	}
	return rep, nil
}

// measureRaw runs the raw bleve baseline on cms in dir, then removes dir.
func measureRaw(rep *searchReport, dir string, cms []corpus.Message, now time.Time) error {
	msgs, err := gatewayMessages(cms, now)
	if err != nil {
		return err
	}
	m := startMeter()
	rep.rawRate, err = index.RawBleveRate(dir, msgs, index.DefaultBatchSize)
	rep.raw = m.stop()
	if err != nil {
		return err
	}
	rep.rawBytes = diskUsage(dir) / int64(len(cms))
	rep.rss = append(rep.rss, rssNow("raw bleve"))
	return os.RemoveAll(dir)
}

// measureIndexing starts the Follower and times it until the index holds
// catalog entry last, profiling into profile when set.
func measureIndexing(ctx context.Context, rep *searchReport, f *index.Follower, last uint64, profile string) error {
	stopProfile, err := startProfile(profile)
	if err != nil {
		return err
	}
	m := startMeter()
	f.Start(ctx)
	err = f.WaitIndexed(ctx, last)
	rep.indexing = m.stop()
	stopProfile()
	if err != nil {
		return err
	}
	rep.indexTook = rep.indexing.wall
	rep.indexRate = float64(rep.build.records) / rep.indexTook.Seconds()
	return nil
}

// startProfile starts a CPU profile into path, if set; the function it
// returns stops it.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// gatewayMessages turns corpus messages into the records the gateway
// stores: decoded from their JSON by journal.DecodeJSON (so raw is the
// input line), stamped like Gateway.stamp (received now, default retention
// and its floor, policy "default") and sealed. It uses every CPU.
func gatewayMessages(cms []corpus.Message, now time.Time) ([]archive.Message, error) {
	def := config.Default()
	lim := journal.Limits{MaxFieldBytes: int64(def.HTTP.MaxFieldBytes)}
	out := make([]archive.Message, len(cms))
	const chunk = 250 // one request of `bench ingest`
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
		next  = make(chan int)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var body bytes.Buffer
			for lo := range next {
				hi := min(lo+chunk, len(cms))
				body.Reset()
				enc := json.NewEncoder(&body)
				var err error
				for i := lo; i < hi && err == nil; i++ {
					err = enc.Encode(cms[i])
				}
				var recs []journal.Record
				if err == nil {
					recs, err = journal.DecodeJSON(body.Bytes(), true, lim, now)
				}
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = fmt.Errorf("decode messages %d to %d: %w", lo, hi, err)
					}
					errMu.Unlock()
					continue
				}
				for j, r := range recs {
					m := r.Message
					m.ReceivedAt = now
					m.RetainUntil = archive.RetainUntil(m.SentAt, def.Retention.Default, time.Duration(def.Retention.Floor), now)
					m.Policy = "default"
					m.Seal()
					out[lo+j] = m
				}
			}
		})
	}
	for lo := 0; lo < len(cms); lo += chunk {
		next <- lo
	}
	close(next)
	wg.Wait()
	return out, first
}

// buildStats describes the sealed segments.
type buildStats struct {
	segments, records int
	raw, stored       int64
}

// sealAll seals time-sorted messages into segments as the gateway's
// uploader groups them: one tenant and retention day per segment, cut at
// segment.max_bytes of records; each is stored and catalogued. Messages are
// converted a window at a time, never all at once.
func sealAll(ctx context.Context, store archive.ObjectStore, cat *benchCatalog, cms []corpus.Message, now time.Time) (buildStats, error) {
	codec, err := archive.NewCodec()
	if err != nil {
		return buildStats{}, err
	}
	defer codec.Close()
	b := &sealer{codec: codec, store: store, maxBytes: int64(config.Default().Segment.MaxBytes), byDay: true}
	const window = 50_000
	for lo := 0; lo < len(cms); lo += window {
		msgs, err := gatewayMessages(cms[lo:min(lo+window, len(cms))], now)
		if err != nil {
			return b.stats, err
		}
		for i := range msgs {
			seg, err := b.add(ctx, &msgs[i])
			if err != nil {
				return b.stats, err
			}
			if seg != nil {
				cat.append(*seg)
			}
		}
	}
	seg, err := b.seal(ctx)
	if seg != nil {
		cat.append(*seg)
	}
	return b.stats, err
}

// sealer builds segments from a stream of records.
type sealer struct {
	codec    *archive.Codec
	store    archive.ObjectStore
	maxBytes int64
	byDay    bool // a new segment per tenant and retention day

	w     *archive.SegmentWriter
	group string
	seg   archive.Segment
	stats buildStats
}

// add appends m, first sealing the open segment when m belongs to another
// group; it returns the segment it sealed, if any.
func (s *sealer) add(ctx context.Context, m *archive.Message) (*archive.Segment, error) {
	line, err := m.Line()
	if err != nil {
		return nil, err
	}
	group := m.Tenant
	if s.byDay {
		group += "|" + archive.RetentionDay(m.RetainUntil)
	}
	var sealed *archive.Segment
	if s.w != nil && (group != s.group || s.w.RawBytes() >= s.maxBytes) {
		if sealed, err = s.seal(ctx); err != nil {
			return nil, err
		}
	}
	if s.w == nil {
		s.w, s.group = s.codec.NewWriter(m.Tenant, archive.DefaultFrameBytes), group
		s.seg = archive.Segment{Tenant: m.Tenant, Node: "bench", MinSentAt: m.SentAt, MaxSentAt: m.SentAt}
	}
	s.w.Add(m.ID, m.Version, m.SHA256, m.RetainUntil, line)
	s.seg.MinSentAt = minTime(s.seg.MinSentAt, m.SentAt)
	if m.SentAt.After(s.seg.MaxSentAt) {
		s.seg.MaxSentAt = m.SentAt
	}
	return sealed, nil
}

// seal finishes the open segment and stores it; nil when none is open.
func (s *sealer) seal(ctx context.Context) (*archive.Segment, error) {
	if s.w == nil {
		return nil, nil
	}
	w, seg := s.w, s.seg
	s.w = nil
	sd, err := w.Finish()
	if err != nil {
		return nil, err
	}
	day := archive.RetentionDay(sd.Manifest.RetainUntil)
	seg.Key = fmt.Sprintf("%s%s/%s/bench-%08d.ndjson.zst", index.SegmentPrefix, seg.Tenant, strings.ReplaceAll(day, "-", "/"), s.stats.segments)
	seg.SHA256, seg.Size, seg.Count = sd.SHA256, int64(len(sd.Data)), len(sd.Manifest.Records)
	seg.RetainUntil, seg.SealedAt = sd.Manifest.RetainUntil, time.Now().UTC()
	seg.ManifestOffset, seg.ManifestLength = sd.ManifestOffset, sd.ManifestLength
	info, err := s.store.Put(ctx, seg.Key, bytes.NewReader(sd.Data), seg.Size, archive.PutOptions{
		RetainUntil: seg.RetainUntil, ContentType: "application/zstd", SHA256: seg.SHA256,
	})
	if err != nil {
		return nil, fmt.Errorf("store segment %s: %w", seg.Key, err)
	}
	seg.VersionID = info.VersionID
	s.stats.segments++
	s.stats.records += seg.Count
	s.stats.raw += w.RawBytes()
	s.stats.stored += seg.Size
	return &seg, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// benchCatalog is an in-memory catalog for the Follower.
type benchCatalog struct {
	mu      sync.Mutex
	entries []index.CatalogEntry
	changed chan struct{}
}

var _ index.Catalog = (*benchCatalog)(nil)

func newBenchCatalog() *benchCatalog { return &benchCatalog{changed: make(chan struct{})} }

// append records seg with the next sequence number and returns it.
func (c *benchCatalog) append(seg archive.Segment) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq := uint64(len(c.entries) + 1)
	c.entries = append(c.entries, index.CatalogEntry{Seq: seq, Segment: seg})
	close(c.changed)
	c.changed = make(chan struct{})
	return seq
}

// SegmentsAfter returns up to limit entries after seq.
func (c *benchCatalog) SegmentsAfter(seq uint64, limit int) ([]index.CatalogEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lo := min(int(seq), len(c.entries))
	return slices.Clone(c.entries[lo:min(lo+limit, len(c.entries))]), nil
}

// Changed returns a channel closed at the next append.
func (c *benchCatalog) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// LastSeq is the highest sequence number.
func (c *benchCatalog) LastSeq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return uint64(len(c.entries))
}

// freshLatency appends freshRounds new segments of size messages (copies
// of the newest ones under new source ids, so into the newest month, as
// live traffic) to the catalog of the indexed Follower and times each from
// the catalog entry to searchable; each is then found by id.
func freshLatency(ctx context.Context, ix *index.Index, f *index.Follower, store archive.ObjectStore,
	cat *benchCatalog, src []corpus.Message, size int, now time.Time) ([]time.Duration, error) {
	codec, err := archive.NewCodec()
	if err != nil {
		return nil, err
	}
	defer codec.Close()
	var out []time.Duration
	for r := range freshRounds {
		cms := slices.Clone(src[min(r*size, len(src)-1):min((r+1)*size, len(src))])
		for i := range cms {
			cms[i].SourceID += fmt.Sprintf("#fresh%d", r)
		}
		msgs, err := gatewayMessages(cms, now)
		if err != nil {
			return nil, err
		}
		s := &sealer{codec: codec, store: store, maxBytes: 1 << 62}
		for i := range msgs {
			if _, err := s.add(ctx, &msgs[i]); err != nil {
				return nil, err
			}
		}
		seg, err := s.seal(ctx)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := f.WaitIndexed(ctx, cat.append(*seg)); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
		res, err := ix.Search(ctx, index.Request{Query: "id:" + msgs[0].ID})
		if err != nil {
			return nil, err
		}
		if res.Total != 1 {
			return nil, fmt.Errorf("fresh message %s found %d times after indexing", msgs[0].ID, res.Total)
		}
	}
	return out, nil
}

// settle waits until background merging is done (the process uses under
// 5% of a CPU for a second), at most max; it returns how long it waited.
func settle(ctx context.Context, max time.Duration) time.Duration {
	start := time.Now()
	prev := cpuTime()
	for time.Since(start) < max && ctx.Err() == nil {
		time.Sleep(time.Second)
		cur := cpuTime()
		if cur-prev < 50*time.Millisecond {
			break
		}
		prev = cur
	}
	return time.Since(start)
}

// meter measures a phase of the benchmark: on a shared machine, its
// figures only mean something if other processes left the CPUs alone.
type meter struct {
	start       time.Time
	self        time.Duration
	busy, total uint64 // the machine's, in clock ticks
}

// phaseUsage is what a meter measured: the phase's wall time, this process's
// CPU time, and the share of the machine's CPU time that other processes
// used meanwhile.
type phaseUsage struct {
	wall, cpu time.Duration
	others    float64
}

func startMeter() meter {
	busy, total := machineTicks()
	return meter{start: time.Now(), self: cpuTime(), busy: busy, total: total}
}

func (m meter) stop() phaseUsage {
	busy, total := machineTicks()
	u := phaseUsage{wall: time.Since(m.start), cpu: cpuTime() - m.self}
	if total > m.total {
		share := float64(busy-m.busy) / float64(total-m.total)
		self := u.cpu.Seconds() / (u.wall.Seconds() * float64(runtime.NumCPU()))
		u.others = max(0, share-self)
	}
	return u
}

// machineTicks reads the busy and total CPU time of the machine from the
// first line of /proc/stat; zeros where there is none.
func machineTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	// user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already counted in user.
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		if i < 8 {
			total += v
		}
		if i < 8 && i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// diskUsage is what du reports for dir: allocated blocks, in bytes.
func diskUsage(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file merged away while walking
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

// rssPoint is the process's memory at one phase.
type rssPoint struct {
	phase    string
	rss, hwm int64 // VmRSS and VmHWM, bytes
}

// rssNow reads VmRSS and VmHWM from /proc/self/status.
func rssNow(phase string) rssPoint {
	p := rssPoint{phase: phase, rss: -1, hwm: -1}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return p
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			p.rss = kb << 10
		} else if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			p.hwm = kb << 10
		}
	}
	return p
}

// querySampler draws query parameters from the data, deterministically.
type querySampler struct {
	// Query strings: English words among the 200 most frequent (of four
	// letters or more) and seen at most ten times; two adjacent words of a
	// message; two or three adjacent Han characters of a message.
	common, rare, phrases, chinese []string
	senders                        []corpus.Message // From and SentAt only
	deepTo                         []time.Time      // the To bound of each deep-cursor walk
	deepWalks, deepRepeat          int
}

// samplePool is how many phrases, Chinese words and senders the sampler
// keeps.
const samplePool = 20_000

func newQuerySampler(cms []corpus.Message, rng *rand.Rand) *querySampler {
	s := &querySampler{}
	freq := map[string]int{}
	for _, i := range rng.Perm(len(cms)) {
		m := cms[i]
		switch m.Platform {
		case "irc", "slack":
			for _, w := range textWords(m.Text) {
				freq[w]++
			}
			if ts := textTokens(m.Text); len(s.phrases) < samplePool && len(ts) >= 2 {
				if i := rng.IntN(len(ts) - 1); isWord(ts[i], 2) && isWord(ts[i+1], 2) {
					s.phrases = append(s.phrases, `"`+ts[i]+" "+ts[i+1]+`"`)
				}
			}
		default: // KdConv and LCCC
			if runs := hanRuns(m.Text); len(s.chinese) < samplePool && len(runs) > 0 {
				run := runs[rng.IntN(len(runs))]
				n := min(len(run), 2+rng.IntN(2))
				i := rng.IntN(len(run) - n + 1)
				s.chinese = append(s.chinese, string(run[i:i+n]))
			}
		}
		if len(s.senders) < samplePool {
			s.senders = append(s.senders, corpus.Message{From: m.From, SentAt: m.SentAt})
		}
	}
	byFreq := make([]string, 0, len(freq))
	for w, c := range freq {
		if c <= 10 {
			s.rare = append(s.rare, w)
		} else if len(w) >= 4 {
			byFreq = append(byFreq, w)
		}
	}
	// Map order is random: sort for a deterministic draw.
	slices.SortFunc(byFreq, func(a, b string) int { return cmp.Or(freq[b]-freq[a], strings.Compare(a, b)) })
	s.common = byFreq[:min(200, len(byFreq))]
	slices.Sort(s.rare)
	return s
}

// sampleDeep chooses the deep-cursor walks from the sorted messages: the
// newest first, then To bounds with enough older messages for the page.
func (s *querySampler) sampleDeep(sorted []corpus.Message, queries int, rng *rand.Rand) {
	need := deepPage*index.DefaultSize + 1
	if len(sorted) <= need {
		return
	}
	s.deepWalks = max(1, queries/40) // a walk costs deepPage searches
	s.deepRepeat = (queries + s.deepWalks - 1) / s.deepWalks
	s.deepTo = []time.Time{{}}
	for len(s.deepTo) < s.deepWalks {
		s.deepTo = append(s.deepTo, sorted[need+rng.IntN(len(sorted)-need)].SentAt)
	}
}

// textTokens splits text as the index's analyser does outside CJK:
// lower-case runs of letters, digits and marks.
func textTokens(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
}

// isWord reports whether token is an English word of at least min letters.
func isWord(token string, min int) bool {
	return len(token) >= min && strings.Trim(token, "abcdefghijklmnopqrstuvwxyz") == ""
}

// textWords returns the English words of three letters or more in text.
func textWords(text string) []string {
	return slices.DeleteFunc(textTokens(text), func(t string) bool { return !isWord(t, 3) })
}

// hanRuns returns the runs of two Han characters or more in text.
func hanRuns(text string) [][]rune {
	var runs [][]rune
	var cur []rune
	for _, r := range text + " " {
		if unicode.Is(unicode.Han, r) {
			cur = append(cur, r)
			continue
		}
		if len(cur) >= 2 {
			runs = append(runs, cur)
		}
		cur = nil
	}
	return runs
}

// kindResult is the latency of one kind of query.
type kindResult struct {
	name     string
	took     []time.Duration
	totals   []uint64
	examples []string
}

// apiRequest is a search as the API runs it by default: every tenant but
// the audit trail, newest first, 50 hits, with highlights.
func apiRequest() index.Request {
	return index.Request{ExcludeTenants: []string{gateway.AuditTenant}, Highlight: true}
}

// run warms up, then times queries of each kind.
func (s *querySampler) run(ctx context.Context, ix *index.Index, queries int, rng *rand.Rand) ([]kindResult, error) {
	text := func(pool []string) func() index.Request {
		return func() index.Request { r := apiRequest(); r.Query = pool[rng.IntN(len(pool))]; return r }
	}
	kinds := []struct {
		name string
		n    int // how many parameters there are to draw from
		gen  func() index.Request
	}{
		{"term, common word", len(s.common), text(s.common)},
		{"term, rare word", len(s.rare), text(s.rare)},
		{"phrase (2 words)", len(s.phrases), text(s.phrases)},
		{"Chinese word", len(s.chinese), text(s.chinese)},
		{"participant + month", len(s.senders), func() index.Request {
			m := s.senders[rng.IntN(len(s.senders))]
			r := apiRequest()
			r.Participants = []string{m.From.ID}
			r.From, r.To = m.SentAt.AddDate(0, 0, -15), m.SentAt.AddDate(0, 0, 15)
			return r
		}},
	}
	warm := min(20, queries) // untimed, first
	var out []kindResult
	for _, k := range kinds {
		if k.n == 0 {
			continue
		}
		res := kindResult{name: k.name}
		for i := range warm + queries {
			r := k.gen()
			t0 := time.Now()
			sr, err := ix.Search(ctx, r)
			took := time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("%s %+v: %w", k.name, r, err)
			}
			if i >= warm {
				res.took, res.totals = append(res.took, took), append(res.totals, sr.Total)
			}
			if len(res.examples) < 3 {
				res.examples = append(res.examples, describe(r))
			}
		}
		out = append(out, res)
	}
	deep, err := s.runDeep(ctx, ix)
	if err != nil {
		return nil, err
	}
	if deep != nil {
		out = append(out, *deep)
	}
	return out, nil
}

// runDeep follows the cursor of a match-all search to page deepPage from
// each sampled To bound, then times that page's request deepRepeat times.
func (s *querySampler) runDeep(ctx context.Context, ix *index.Index) (*kindResult, error) {
	if len(s.deepTo) == 0 {
		return nil, nil
	}
	res := &kindResult{name: fmt.Sprintf("deep cursor, page %d", deepPage)}
	for _, to := range s.deepTo {
		r := apiRequest()
		r.To = to
		for page := 1; page < deepPage; page++ {
			sr, err := ix.Search(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("deep cursor page %d: %w", page, err)
			}
			if sr.Cursor == "" {
				return nil, fmt.Errorf("deep cursor before %v: no page %d", to, page+1)
			}
			r.Cursor = sr.Cursor
		}
		for range s.deepRepeat {
			t0 := time.Now()
			sr, err := ix.Search(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("deep cursor page %d: %w", deepPage, err)
			}
			res.took, res.totals = append(res.took, time.Since(t0)), append(res.totals, sr.Total)
		}
		walk := res.took[len(res.took)-s.deepRepeat:]
		res.examples = append(res.examples, fmt.Sprintf("match-all, %s: p50 %.0f ms",
			describe(index.Request{To: to}), ms(quantile(walk, 0.5))))
	}
	return res, nil
}

// describe shows a sampled request in the report.
func describe(r index.Request) string {
	var parts []string
	if r.Query != "" {
		parts = append(parts, r.Query)
	}
	if len(r.Participants) > 0 {
		parts = append(parts, "participant "+r.Participants[0])
	}
	if !r.From.IsZero() {
		parts = append(parts, "from "+r.From.Format(time.DateOnly))
	}
	switch {
	case !r.To.IsZero():
		parts = append(parts, "before "+r.To.Format(time.DateOnly))
	case r.Query == "" && len(r.Participants) == 0:
		parts = append(parts, "newest first")
	}
	return strings.Join(parts, " ")
}

// quantile is the nearest-rank q-quantile of ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (rep *searchReport) print(o searchBenchOptions, total time.Duration) {
	b := rep.build
	fmt.Printf("\nholdfast bench search: %d messages from %s (English and Chinese), run took %v\n", b.records, o.dataDir, total.Round(time.Second))
	fmt.Printf("  segments:   %d sealed as the gateway does (time-sorted, one tenant and retention day, <= %v of records each): %.1f MB of records, %.1f MB stored\n",
		b.segments, config.Default().Segment.MaxBytes, float64(b.raw)/1e6, float64(b.stored)/1e6)
	ratio := rep.indexRate / rep.rawRate
	perCPU, rawPerCPU := float64(b.records)/rep.indexing.cpu.Seconds(), float64(o.rawN)/rep.raw.cpu.Seconds()
	fmt.Printf("  indexing:   %7.0f msgs/s  a Follower catching up from the catalog (fetch, verify, decode, %d monthly partitions, latest versions, checkpoint): %v; %.0f per CPU-second\n",
		rep.indexRate, rep.partitions, rep.indexTook.Round(time.Millisecond), perCPU)
	fmt.Printf("  raw bleve:  %7.0f docs/s  the same documents and mapping, one index, plain batches of %d, on the first %d messages of the same set; %.0f per CPU-second\n",
		rep.rawRate, index.DefaultBatchSize, o.rawN, rawPerCPU)
	fmt.Printf("  ratio:      %7.0f%%        of raw bleve          target >= %.0f%%   %s   (per CPU-second: %.0f%%)\n",
		100*ratio, 100*targetRawRatio, verdict(ratio >= targetRawRatio), 100*perCPU/rawPerCPU)
	warning := ""
	if max(rep.raw.others, rep.indexing.others, rep.query.others) > 0.10 {
		warning = ": BUSY, rates and latencies are understated; rerun on an idle machine (the per-CPU ratio is the fairer one meanwhile)"
	}
	fmt.Printf("  machine:    %d CPUs; other processes used %.0f%% / %.0f%% / %.0f%% of them during raw bleve / indexing / queries%s\n",
		runtime.NumCPU(), 100*rep.raw.others, 100*rep.indexing.others, 100*rep.query.others, warning)
	fmt.Printf("  index size: %7.0f bytes/msg  (%.2f GB on disk once merges settled, after %v; raw bleve: %d bytes/doc)\n",
		float64(rep.indexBytes)/float64(b.records), float64(rep.indexBytes)/1e9, rep.settled.Round(time.Second), rep.rawBytes)
	fmt.Print("  RSS:       ")
	for _, p := range rep.rss {
		fmt.Printf(" %s %.2f GiB;", p.phase, float64(p.rss)/(1<<30))
	}
	fmt.Printf(" peak (VmHWM) %.2f GiB\n", float64(rep.rss[len(rep.rss)-1].hwm)/(1<<30))
	scale := ""
	if b.records < 1_000_000 {
		scale = " (the target is for 1,000,000 messages)"
	}
	fmt.Printf("  queries:    as the API runs them (newest first, %d hits, highlights), after a warm-up; target p99 <= %v%s\n", index.DefaultSize, targetP99, scale)
	for _, k := range rep.kinds {
		totals := slices.Sorted(slices.Values(k.totals))
		zero := 0
		for _, t := range totals {
			if t == 0 {
				zero++
			}
		}
		p99 := quantile(k.took, 0.99)
		fmt.Printf("    %-24s p50 %7.2f ms  p99 %7.2f ms  %s   %d queries, median total %d hits, %d with none; e.g. %s\n",
			k.name, ms(quantile(k.took, 0.5)), ms(p99), verdict(p99 <= targetP99), len(k.took), totals[len(totals)/2], zero,
			strings.Join(k.examples, " | "))
	}
	if rep.deepWalks > 0 {
		fmt.Printf("    (deep cursor: %d walks from different To bounds, page %d of each timed %d times, pages 1-%d untimed)\n",
			rep.deepWalks, deepPage, rep.deepRepeat, deepPage-1)
	}
	worst := slices.Max(rep.fresh)
	fmt.Printf("  fresh segment (%d messages into the newest month): catalog entry -> searchable p50 %.0f ms, max %.0f ms over %d\n",
		o.fresh, ms(quantile(rep.fresh, 0.5)), ms(worst), len(rep.fresh))
	fmt.Printf("  ack -> searchable <= segment.max_age (%v) + seal, PUT, verify and catalog commit (see bench ingest) + %.0f ms;\n",
		time.Duration(config.Default().Segment.MaxAge), ms(worst))
	fmt.Printf("    target <= max_age + %v: the index's share is %.0f ms   %s (index side only; the upload side is not measured here)\n",
		targetFresh, ms(worst), verdict(worst <= targetFresh))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
