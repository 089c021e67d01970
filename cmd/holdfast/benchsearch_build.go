package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/internal/corpus"
	"github.com/holdfast/holdfast/journal"
)

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

// gatewayMessages turns corpus messages into the records the gateway
// stores: decoded from their JSON by journal.DecodeJSON (so raw is the
// input line), stamped like Gateway.stamp (received now, default retention
// and its floor, policy "default") and sealed. It uses every CPU.
func gatewayMessages(cms []corpus.Message, now time.Time) ([]archive.Message, error) {
	def := config.Default()
	lim := journal.Limits{MaxFieldBytes: int64(def.HTTP.MaxFieldBytes)}
	rules := archive.Rules{Default: def.Retention.Default, Floor: time.Duration(def.Retention.Floor)}
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
					rules.Stamp(&m, now)
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
