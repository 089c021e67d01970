package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/holdfast/holdfast/archive"
)

// plainSearch is what a time-sorted search must return, page after page:
// the doc ids of every match of r's query, from one bleve search over all
// the partitions in range at once, sorted by (sent_at, doc id) newest
// first. No windows, no cursor, no count limit, and the query as a
// relevance search runs it (no plainTerms).
func plainSearch(t *testing.T, ix *Index, r Request) []string {
	t.Helper()
	ids, _ := plainSearchHighlights(t, ix, r)
	return ids
}

// plainSearchHighlights is plainSearch that also returns the highlights of
// each hit when r asks for them.
func plainSearchHighlights(t *testing.T, ix *Index, r Request) ([]string, map[string][]string) {
	t.Helper()
	r.Cursor = ""
	pl, err := newPlan(r)
	if err != nil {
		t.Fatal(err)
	}
	var idxs []bleve.Index
	for _, p := range ix.partitionsIn(pl.fromMonth, pl.toMonth) {
		idx, err := p.open(ix.mapping)
		if err != nil {
			t.Fatal(err)
		}
		idxs = append(idxs, idx)
	}
	if len(idxs) == 0 {
		return nil, nil
	}
	asIs := r
	asIs.SortBy = SortRelevance
	unchanged, err := newPlan(asIs)
	if err != nil {
		t.Fatal(err)
	}
	alias := bleve.NewIndexAlias(idxs...)
	req := pl.request(unchanged.q, 0)
	req.Fields = nil
	sr, err := alias.Search(req)
	if err != nil {
		t.Fatal(err)
	}
	req.Size = int(sr.Total)
	if sr, err = alias.Search(req); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(sr.Hits))
	marks := map[string][]string{}
	for i, h := range sr.Hits {
		ids[i] = h.ID
		marks[h.ID] = h.Fragments[fieldText]
	}
	return ids, marks
}

// wantSameHighlights checks that the highlights of the first pages of r
// are the plain search's.
func wantSameHighlights(t *testing.T, ix *Index, r Request, pages int) {
	t.Helper()
	_, want := plainSearchHighlights(t, ix, r)
	for page := 0; page < pages; page++ {
		res := mustSearch(t, ix, r)
		for _, h := range res.Hits {
			id := docID(h.ID, h.Version)
			if got := h.Highlights[fieldText]; !slices.Equal(got, want[id]) {
				t.Fatalf("%+v: %s highlighted %q, the plain search %q", r, id, got, want[id])
			}
		}
		if r.Cursor = res.Cursor; r.Cursor == "" {
			return
		}
	}
}

// pageAll follows r's cursor to the end and returns the doc ids of every
// page in order, checking that each page but the last is full and that
// every page repeats the first one's total.
func pageAll(t *testing.T, ix *Index, r Request) ([]string, Result) {
	t.Helper()
	return pageUpTo(t, ix, r, math.MaxInt)
}

// pageUpTo is pageAll for the first pages pages at most.
func pageUpTo(t *testing.T, ix *Index, r Request, pages int) ([]string, Result) {
	t.Helper()
	var ids []string
	var first Result
	seen := map[string]bool{}
	for page := 1; page <= pages; page++ {
		res := mustSearch(t, ix, r)
		if page == 1 {
			first = res
		}
		if res.Total != first.Total || res.TotalRelation != first.TotalRelation {
			t.Fatalf("%+v page %d: total %d %s, first page said %d %s", r, page, res.Total, res.TotalRelation, first.Total, first.TotalRelation)
		}
		for _, h := range res.Hits {
			id := docID(h.ID, h.Version)
			if seen[id] {
				t.Fatalf("%+v page %d: %s again", r, page, id)
			}
			seen[id] = true
			ids = append(ids, id)
		}
		if res.Cursor == "" {
			return ids, first
		}
		if size := cmpSize(r.Size); len(res.Hits) != size {
			t.Fatalf("%+v page %d: %d hits and a cursor, want %d", r, page, len(res.Hits), size)
		}
		r.Cursor = res.Cursor
	}
	return ids, first
}

func cmpSize(size int) int {
	if size == 0 {
		return DefaultSize
	}
	return size
}

// wantSamePages checks that paging through r returns exactly the plain
// search's matches, in its order, with an exact total.
func wantSamePages(t *testing.T, ix *Index, r Request) {
	t.Helper()
	want := plainSearch(t, ix, r)
	got, first := pageAll(t, ix, r)
	if !slices.Equal(got, want) {
		t.Fatalf("%+v: pages give %d hits, the plain search %d; first difference at %d", r, len(got), len(want), firstDiff(got, want))
	}
	if first.Total != uint64(len(want)) || first.TotalRelation != TotalRelationEq {
		t.Fatalf("%+v: total %d %s, want %d eq", r, first.Total, first.TotalRelation, len(want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// windowArchive indexes messages that make the windows work: a dense month
// where runs of messages share a sent_at (ties broken by doc id) and one
// word is frequent in a single week, sparse months, messages on both sides
// of a month boundary to the nanosecond, edits, and an excluded tenant. It
// returns the index and the key of one of its segments (half of the
// originals).
func windowArchive(t *testing.T) (*Index, string) {
	t.Helper()
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	var msgs []archive.Message
	add := func(id, text string, at time.Time, opts ...func(*archive.Message)) {
		msgs = append(msgs, msg(id, text, at, opts...))
	}
	dense := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 900 {
		// Five messages per instant, an instant every 223 minutes: all March.
		at := dense.Add(time.Duration(i/5) * 223 * time.Minute)
		text := fmt.Sprintf("common word %d", i)
		if at.Day() >= 8 && at.Day() < 15 {
			text += " burst"
		}
		if i%97 == 0 {
			text += " rare"
		}
		opts := []func(*archive.Message){from([]string{"alice", "bob", "carol"}[i%3])}
		if i%11 == 0 {
			opts = append(opts, tenant("audit"))
		}
		add(fmt.Sprintf("d%04d", i), text, at, opts...)
	}
	for i := range 20 { // sparse: January, and May to July
		add(fmt.Sprintf("s%02d", i), "common sparse word", time.Date(2026, time.Month(1+4*(i%2)+i%3), 3+i, 12, 0, 0, 0, time.UTC))
	}
	edge := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range 30 {
		at := edge.Add(-time.Nanosecond)
		if i%2 == 1 {
			at = edge
		}
		add(fmt.Sprintf("e%02d", i), "common edge word", at)
	}
	// Two segments of originals, split by parity: the held segments filter
	// selects one of them.
	var even, odd []archive.Message
	for i, m := range msgs {
		if i%2 == 0 {
			even = append(even, m)
		} else {
			odd = append(odd, m)
		}
	}
	half := mustIndex(t, ix, c, 1, even...).Key
	mustIndex(t, ix, c, 3, odd...)
	// Edits: a newer version hides the older one unless AllVersions.
	var edits []archive.Message
	for i := 0; i < 900; i += 13 {
		edits = append(edits, msg(fmt.Sprintf("d%04d", i), fmt.Sprintf("common edited %d", i),
			dense.Add(time.Duration(i/5)*223*time.Minute+time.Second), version(1, archive.ActionEdit)))
	}
	mustIndex(t, ix, c, 2, edits...)
	return ix, half
}

func TestTimeWindowsMatchPlainSearch(t *testing.T) {
	ix, half := windowArchive(t)
	mid := time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC)
	for _, r := range []Request{
		{},
		{Query: "common"},
		{Query: "burst"},
		{Query: "rare"},
		{Query: `"common word"`},
		{Query: "edge"},
		{Query: "common -burst"},
		{ExcludeTenants: []string{"audit"}},
		{ExcludeTenants: []string{"audit"}, Query: "burst"},
		{Tenants: []string{"audit"}},
		{AllVersions: true},
		{Participants: []string{"bob"}, Query: "word"},
		{From: mid},
		{To: mid},
		{From: mid.AddDate(0, 0, -3), To: mid},
		{From: time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC), To: time.Date(2026, 4, 1, 0, 0, 0, 1, time.UTC)},
		{Query: "nothingmatches"},
		{Query: "burst", Highlight: true},
		{Segments: []string{half}},
		{Segments: []string{half}, Query: "burst"},
		{Segments: []string{}},
		{Query: `"common word" -rare`, Highlight: true},
	} {
		for _, size := range []int{1, 7, 50, 1000} {
			r.Size = size
			t.Run(fmt.Sprintf("%s/%+v/%d", r.Query, r.From, size), func(t *testing.T) {
				wantSamePages(t, ix, r)
				if r.Highlight {
					wantSameHighlights(t, ix, r, 5)
				}
			})
		}
	}
}

// A page deep in a dense month reads a window of it, not the month: the
// windows it searched hold about what the page needs.
func TestTimeWindowsReadLittle(t *testing.T) {
	ix, _ := windowArchive(t)
	r := Request{Size: 10}
	var cursor string
	for range 30 {
		r.Cursor = cursor
		cursor = mustSearch(t, ix, r).Cursor
	}
	r.Cursor = cursor
	before := ix.Stats()
	res := mustSearch(t, ix, r)
	after := ix.Stats()
	if len(res.Hits) != 10 {
		t.Fatalf("page 31: %d hits", len(res.Hits))
	}
	if n := after.WindowSearches - before.WindowSearches; n < 1 || n > 3 {
		t.Errorf("page 31 searched %d windows, want 1 to 3", n)
	}
	if n := after.PartitionCounts - before.PartitionCounts; n != 0 {
		t.Errorf("page 31 counted %d partitions, want none (the first page's total stands)", n)
	}
}

func TestTotalCountLimit(t *testing.T) {
	ix, _ := windowArchive(t)
	defer func(n uint64) { totalCountLimit = n }(totalCountLimit)
	totalCountLimit = 100
	for _, r := range []Request{{Size: 10}, {Size: 10, Query: "common"}, {Size: 200, Query: "word"}} {
		want := plainSearch(t, ix, r)
		got, first := pageAll(t, ix, r)
		if !slices.Equal(got, want) {
			t.Fatalf("%+v: pages give %d hits, the plain search %d", r, len(got), len(want))
		}
		if first.TotalRelation != TotalRelationGte || first.Total < 100 || first.Total > uint64(len(want)) {
			t.Errorf("%+v: total %d %s, want at least 100 and at most %d, gte", r, first.Total, first.TotalRelation, len(want))
		}
		r.ExactTotal = true
		got, first = pageAll(t, ix, r)
		if !slices.Equal(got, want) || first.Total != uint64(len(want)) || first.TotalRelation != TotalRelationEq {
			t.Errorf("%+v: %d hits, total %d %s, want %d eq", r, len(got), first.Total, first.TotalRelation, len(want))
		}
		r.ExactTotal, r.Facets = false, true
		if res := mustSearch(t, ix, r); res.Total != uint64(len(want)) || res.TotalRelation != TotalRelationEq {
			t.Errorf("%+v: total %d %s, want %d eq", r, res.Total, res.TotalRelation, len(want))
		}
	}
	// Out of time, the count stops, where the archive is large enough.
	totalCountLimit = TotalCountLimit
	defer func(d time.Duration, n uint64) { totalCountTime, countTimedDocs = d, n }(totalCountTime, countTimedDocs)
	totalCountTime = 0
	r := Request{Size: 10, Query: "common"}
	want := plainSearch(t, ix, r)
	if got, first := pageAll(t, ix, r); !slices.Equal(got, want) || first.Total != uint64(len(want)) || first.TotalRelation != TotalRelationEq {
		t.Errorf("small archive, no time: %d hits, total %d %s, want %d eq", len(got), first.Total, first.TotalRelation, len(want))
	}
	countTimedDocs = 0
	if got, first := pageAll(t, ix, r); !slices.Equal(got, want) || first.Total >= uint64(len(want)) || first.TotalRelation != TotalRelationGte {
		t.Errorf("no time: %d hits, total %d %s, want %d hits and a lower total, gte", len(got), first.Total, first.TotalRelation, len(want))
	}
	// Under the limit the total is exact.
	totalCountTime = TotalCountTime
	r = Request{Query: "rare"}
	if res := mustSearch(t, ix, r); res.TotalRelation != TotalRelationEq || res.Total != uint64(len(plainSearch(t, ix, r))) {
		t.Errorf("rare: total %d %s", res.Total, res.TotalRelation)
	}
}

// countUpTo stops at its limit and says whether it saw every match.
func TestCountUpTo(t *testing.T) {
	ix, _ := windowArchive(t)
	idx, err := ix.partition(monthKey(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), false).open(ix.mapping)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := newPlan(Request{Query: "burst"})
	if err != nil {
		t.Fatal(err)
	}
	n, all, err := countUpTo(context.Background(), idx, pl.q, 1<<40, time.Time{})
	if err != nil || !all || n == 0 {
		t.Fatalf("count: %d %v %v", n, all, err)
	}
	if m, all, err := countUpTo(context.Background(), idx, pl.q, n-1, time.Time{}); m != n-1 || all || err != nil {
		t.Errorf("count up to %d: %d %v %v", n-1, m, all, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := countUpTo(ctx, idx, pl.q, 10, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled count: %v", err)
	}
}

func TestNextWant(t *testing.T) {
	for _, tc := range []struct {
		want, covered float64
		got, missing  int
		next          float64
	}{
		{100, 100, 0, 10, 100 * maxWindowGrowth},      // nothing yet: grow the most
		{100, 150, 5, 5, 300},                         // twice what the density says
		{100, 100, 1, 50, 100 * maxWindowGrowth},      // sparse: capped growth
		{100, 100, 100, 1, 200},                       // dense: still doubles
		{1e300, 1e300, 0, 1, 1e300 * maxWindowGrowth}, // no overflow to worry about
	} {
		if got := nextWant(tc.want, tc.covered, tc.got, tc.missing); got != tc.next {
			t.Errorf("nextWant(%v, %v, %d, %d) = %v, want %v", tc.want, tc.covered, tc.got, tc.missing, got, tc.next)
		}
	}
}

func TestDaysPlaceWindows(t *testing.T) {
	d := func(day int, docs float64) dayCount {
		return dayCount{start: time.Date(2026, 3, day, 0, 0, 0, 0, time.UTC), docs: docs}
	}
	// Documents on the 2nd, 3rd and 10th: the rest of March is empty.
	ds := days{d(2, 100), d(3, 2400), d(10, 240)}
	at := func(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, time.UTC) }
	lo, hi := at(1, 0), at(32, 0)
	if n := ds.in(lo, hi); n != 2740 {
		t.Errorf("in(March) = %v", n)
	}
	if n := ds.in(at(3, 12), at(10, 6)); n != 1260 {
		t.Errorf("in(3rd noon to 10th 6:00) = %v, want 1200 + 60", n)
	}
	for _, tc := range []struct {
		top  time.Time
		want float64
		at   time.Time // about
	}{
		{hi, 120, at(10, 12)},                           // half of the 10th: the empty days after it do not count
		{hi, 240 + 1200, at(3, 12)},                     // the 10th and half the 3rd
		{at(10, 12), 10, at(10, 11)},                    // from inside a day
		{hi, 1e6, lo},                                   // more than there is: all of it
		{at(3, 0), 100, at(2, 0)},                       // all of the 2nd
		{at(10, 0), 1, at(4, 0).Add(-36 * time.Second)}, // one of the 3rd's: the empty days after it are skipped
	} {
		got := ds.before(tc.top, lo, tc.want)
		if got.After(tc.at) || tc.at.Sub(got) > windowAlign || got.UnixNano()%windowAlign != 0 && !got.Equal(lo) {
			t.Errorf("before(%v, %v) = %v, want %v rounded down to %v", tc.top, tc.want, got, tc.at, time.Duration(windowAlign))
		}
	}
	if got := alignDown(time.Unix(0, -1)); got.UnixNano() != -windowAlign {
		t.Errorf("alignDown(-1ns) = %v", got.UnixNano())
	}
}
