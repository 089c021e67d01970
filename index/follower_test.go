package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/fsstore"
)

// fakeCatalog is an in-memory catalog with the cluster's semantics.
type fakeCatalog struct {
	mu      sync.Mutex
	entries []CatalogEntry
	changed chan struct{}
}

func newFakeCatalog() *fakeCatalog { return &fakeCatalog{changed: make(chan struct{})} }

func (c *fakeCatalog) add(seg archive.Segment) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq := uint64(len(c.entries) + 1)
	c.entries = append(c.entries, CatalogEntry{Seq: seq, Segment: seg})
	close(c.changed)
	c.changed = make(chan struct{})
	return seq
}

func (c *fakeCatalog) SegmentsAfter(seq uint64, limit int) ([]CatalogEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []CatalogEntry
	for _, e := range c.entries {
		if e.Seq > seq && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (c *fakeCatalog) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *fakeCatalog) LastSeq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return uint64(len(c.entries))
}

// flakyStore fails Get of one key until healed.
type flakyStore struct {
	archive.ObjectStore
	mu     sync.Mutex
	broken string
	gets   int
}

func (s *flakyStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == s.broken {
		s.gets++
		return nil, fmt.Errorf("flaky: get %s: connection reset", key)
	}
	return s.ObjectStore.Get(ctx, key)
}

func (s *flakyStore) heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = ""
}

func mustStore(t testing.TB) *fsstore.Store {
	t.Helper()
	st, err := fsstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// put stores a segment under key (seg.Key when empty) and returns it.
func put(t testing.TB, st archive.ObjectStore, seg archive.Segment, data []byte, key string) archive.Segment {
	t.Helper()
	if key != "" {
		seg.Key = key
	}
	_, err := st.Put(context.Background(), seg.Key, bytes.NewReader(data), int64(len(data)),
		archive.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

func TestFollower(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	st := &flakyStore{ObjectStore: mustStore(t)}
	cat := newFakeCatalog()
	f := NewFollower(ix, cat, st, testLog())
	t.Cleanup(f.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	msgs := spread(600, 2)
	addSeg := func(ms []archive.Message) uint64 {
		seg, data := segment(t, c, ms...)
		return cat.add(put(t, st, seg, data, ""))
	}
	addSeg(msgs[:200]) // before Start: caught up from the checkpoint
	f.Start(ctx)
	f.Start(ctx) // a second Start does nothing
	addSeg(msgs[200:400])
	if err := f.WaitIndexed(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if res := mustSearch(t, ix, Request{}); res.Total != 400 {
		t.Fatalf("total %d, want 400", res.Total)
	}

	// Segment 3 cannot be read for a while; segment 4 is ready behind it.
	seg3, data3 := segment(t, c, msgs[400:500]...)
	st.mu.Lock()
	st.broken = seg3.Key
	st.mu.Unlock()
	cat.add(put(t, st, seg3, data3, ""))
	addSeg(msgs[500:])
	deadline := time.Now().Add(10 * time.Second)
	for f.Stats().Failures < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s := f.Stats()
	if s.Failures < 2 || s.Checkpoint != 2 || s.Lag != 2 || !strings.Contains(s.LastError, seg3.Key) {
		t.Fatalf("while segment 3 fails: %+v", s)
	}
	st.heal()
	if err := f.WaitIndexed(ctx, 4); err != nil {
		t.Fatal(err)
	}
	s = f.Stats()
	if s.Checkpoint != 4 || s.Indexed != 4 || s.Lag != 0 || s.LastError != "" {
		t.Fatalf("after healing: %+v", s)
	}
	if res := mustSearch(t, ix, Request{}); res.Total != 600 {
		t.Fatalf("total %d, want 600", res.Total)
	}

	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if err := f.WaitIndexed(short, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitIndexed(5) = %v", err)
	}
	f.Close()
	f.Close()
}

func TestFollowerNeverSkipsACorruptSegment(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	st := mustStore(t)
	cat := newFakeCatalog()
	seg0, data0 := segment(t, c, msg("0", "before", day0))
	cat.add(put(t, st, seg0, data0, ""))
	seg, data := segment(t, c, msg("1", "good", day0))
	bad := append([]byte(nil), data...)
	bad[5] ^= 0xff
	put(t, st, seg, bad, "") // stored bytes differ from the catalog's hash
	cat.add(seg)
	seg2, data2 := segment(t, c, msg("2", "after", day0))
	cat.add(put(t, st, seg2, data2, ""))

	// All three wait: they are fetched and indexed as one run, which
	// fails; then one at a time, so the first is indexed and the second is
	// retried for ever.
	f := NewFollower(ix, cat, st, testLog())
	f.Start(context.Background())
	defer f.Close()
	deadline := time.Now().Add(10 * time.Second)
	for f.Stats().Failures < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := f.Stats(); s.Failures < 3 || s.Checkpoint != 1 || s.Lag != 2 || !strings.Contains(s.LastError, "corrupt") {
		t.Fatalf("stats %+v", s)
	}
	wantTexts(t, ix, Request{}, "before")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go ix.Close()
	if err := f.WaitIndexed(ctx, 3); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitIndexed while the index closes: %v", err)
	}
}

func TestRebuildMatchesIncremental(t *testing.T) {
	c := mustCodec(t)
	st := mustStore(t)
	inc := mustOpen(t, t.TempDir())

	// Keys sort in the reverse of catalog order, so that Rebuild meets the
	// edits before the originals.
	msgs := spread(1000, 4)
	var edits []archive.Message
	for i := 0; i < 1000; i += 50 {
		edits = append(edits, msg(msgs[i].SourceID, "edited text", msgs[i].SentAt.Add(time.Hour),
			platform(msgs[i].Platform), version(1, archive.ActionEdit)))
	}
	batches := [][]archive.Message{msgs[:400], msgs[400:800], msgs[800:], edits}
	for i, b := range batches {
		seg, data := segment(t, c, b...)
		seg = put(t, st, seg, data, fmt.Sprintf("segments/acme/%02d.ndjson.zst", len(batches)-i))
		if err := inc.IndexSegment(uint64(i+1), seg, data); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	var calls []int
	if err := Rebuild(context.Background(), dir, st, testLog(), func(done, total int) {
		calls = append(calls, done*10+total)
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []int{14, 24, 34, 44}) {
		t.Fatalf("progress calls %v", calls)
	}
	if err := Rebuild(context.Background(), dir, st, testLog(), nil); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("Rebuild into a used dir: %v", err)
	}
	reb := mustOpen(t, dir)
	if info, ok, err := reb.Rebuilt(); err != nil || !ok || info.Segments != 4 || info.Records != 1020 {
		t.Fatalf("Rebuilt() = %+v, %v, %v", info, ok, err)
	}
	if reb.Checkpoint() != 0 {
		t.Fatalf("rebuilt checkpoint %d", reb.Checkpoint())
	}
	for _, r := range []Request{
		{},
		{AllVersions: true},
		{Query: "edited"},
		{Query: "number", Platforms: []string{"teams"}, Size: 1000},
		{From: day0.AddDate(0, 1, 0), To: day0.AddDate(0, 2, 0), Size: 1000, AllVersions: true},
		{Query: "message", SortBy: SortRelevance, Size: 20},
	} {
		a, b := mustSearch(t, inc, r), mustSearch(t, reb, r)
		if a.Total != b.Total || len(a.Hits) != len(b.Hits) {
			t.Fatalf("%+v: incremental %d/%d hits, rebuilt %d/%d", r, a.Total, len(a.Hits), b.Total, len(b.Hits))
		}
		for i := range a.Hits {
			ha, hb := a.Hits[i], b.Hits[i]
			if ha.ID != hb.ID || ha.Version != hb.Version || ha.Latest != hb.Latest || ha.Text != hb.Text {
				t.Fatalf("%+v: hit %d differs: %+v vs %+v", r, i, ha, hb)
			}
		}
	}
	if res := mustSearch(t, reb, Request{Query: "edited"}); res.Total != 20 {
		t.Fatalf("edited latest: %d, want 20", res.Total)
	}
}
