package index

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// A time-sorted page is read newest first: months (partitions) newest
// first, each asked only for the hits still missing from the page, until
// the page is full. Bleve's sort reads the sort values (sent_at, doc id)
// of every match of what it searches, so a month with many matches is
// itself read in windows of sent_at, newest first: a window costs its own
// matches where the whole month would cost all of the month's.
//
// Windows are disjoint half-open ranges of sent_at, so every hit of a
// window sorts before every hit of an older one, and hits that share a
// sent_at fall in the same window, where bleve breaks the tie by doc id:
// the page is exactly the one a single sort of every match would give,
// and so is the next page's cursor.
//
// Which months need windows: a first pass over a month's matches, unsorted
// as a count is, stops at firstWindowDocs per missing hit. A month with
// fewer is taken from that pass: the documents of its matches are loaded
// and sorted here by their stored sent_at and doc id, as bleve sorts them
// (bleve would read each match's sort values from the doc values block it
// falls in, and where matches are sparse a block per match costs far more
// than the documents). A month with more is read in windows. Where windows
// go: the month's documents per day (the day field's dictionary) place the
// first window over about firstWindowDocs documents per missing hit, the
// newest ones, wherever in the month they are; each next window is sized
// from the hits the windows gave so far, and grows between two and
// maxWindowGrowth times, so a common word needs a window or two and a
// rarer one a few more.

// firstWindowDocs is how many matches per missing hit make a month be read
// in windows, and how many documents per missing hit the first window
// holds.
const firstWindowDocs = 4

// maxWindowGrowth bounds how many times more documents a window holds than
// the one before.
const maxWindowGrowth = 4.0

// windowAlign is what window bounds are rounded down to, in ns since the
// epoch (2^36 ns, about 69 s): bleve searches a range of sent_at as the
// indexed terms that cover it, 4 bits of precision per level, and a bound
// with its 36 low bits clear needs none of the 9 finest levels.
const windowAlign = 1 << 36

// walk is one time-sorted page being read.
type walk struct {
	ix     *Index
	pl     *plan
	start  time.Time // of the search
	need   int       // hits to read: one more than a page tells whether there is a next one
	hits   search.DocumentMatchCollection
	total  uint64 // matches in what was read and counted
	facets search.FacetResults
	// rest is what the page did not read, newest first, to count.
	rest []span
}

// span is a part of a partition left to count: the whole of it (in the
// request's range), or the older part of a month read for hits.
type span struct {
	idx   bleve.Index
	q     query.Query
	whole bool
}

// searchTime reads a time-sorted page (see the top of this file) and counts
// the matches it did not read (see count.go). The search started at start.
func (ix *Index) searchTime(ctx context.Context, pl *plan, parts []*partition, start time.Time) (Result, error) {
	w := &walk{ix: ix, pl: pl, need: pl.size + 1, start: start}
	var res Result
	for _, p := range parts {
		idx, err := p.open(ix.mapping)
		if errors.Is(err, errDropped) {
			continue
		}
		if err != nil {
			return Result{}, err
		}
		res.Partitions++
		if err := ctx.Err(); err != nil {
			// Past the deadline (or the client left): stop between months.
			return Result{}, err
		}
		switch {
		case pl.after != nil && p.month > pl.afterMonth:
			// Newer than the cursor: the page cannot hold any of it,
			// and the first page counted it.
		case len(w.hits) >= w.need:
			w.rest = append(w.rest, span{idx: idx, q: pl.q, whole: true})
		default:
			if err := w.month(p.month, idx).read(ctx); err != nil {
				return Result{}, fmt.Errorf("search %s: %w", monthName(p.month), err)
			}
		}
	}
	if pl.after != nil {
		// A later page: the first page's total stands.
		res.Total, res.TotalRelation = pl.total, relation(pl.totalGte)
	} else {
		gte, err := w.count(ctx)
		if err != nil {
			return Result{}, err
		}
		res.Total, res.TotalRelation = w.total, relation(gte)
	}
	return ix.finish(res, pl, w.hits, w.facets)
}

// monthRead is the reading of one month for a page.
type monthRead struct {
	*walk
	idx        bleve.Index
	start, end time.Time // the month
	lo, hi     time.Time // the part of it in range and before the cursor
}

func (w *walk) month(month int, idx bleve.Index) *monthRead {
	m := &monthRead{walk: w, idx: idx, start: monthStart(month), end: monthStart(month + 1)}
	m.lo, m.hi = m.start, m.end
	if w.pl.from.After(m.lo) {
		m.lo = w.pl.from
	}
	if !w.pl.to.IsZero() && w.pl.to.Before(m.hi) {
		m.hi = w.pl.to
	}
	if w.pl.after != nil && month == w.pl.afterMonth {
		// The cursor's sent_at is included: hits that share it and sort
		// after the cursor's doc id are still to come.
		m.hi = minTime(m.hi, w.pl.afterAt.Add(time.Nanosecond))
	}
	return m
}

// query is the plan's query over [from, to) of the month; a bound that is
// the month's own is left open, as the partition holds nothing beyond it.
func (m *monthRead) query(from, to time.Time) query.Query {
	if from.Equal(m.start) {
		from = time.Time{}
	}
	if to.Equal(m.end) {
		to = time.Time{}
	}
	return m.pl.query(from, to)
}

// missing is how many hits the page still needs.
func (m *monthRead) missing() int { return m.need - len(m.hits) }

// read reads the month's hits until the page is full or the month is read;
// the older part it did not read goes to rest.
func (m *monthRead) read(ctx context.Context) error {
	m.ix.searched.Add(1)
	if m.pl.facets {
		// Facets count every match anyway: the month is read whole.
		_, err := m.search(ctx, m.lo, m.hi)
		return err
	}
	req := m.pl.request(nil, 0) // for the stored fields and highlights it asks for
	hits, few, err := fewMatches(ctx, m.idx, m.query(m.lo, m.hi), firstWindowDocs*m.missing(), req, m.pick)
	switch {
	case err != nil:
		return err
	case !few:
		return m.windows(ctx)
	}
	m.hits = append(m.hits, hits...)
	return nil
}

// pick returns the hits the page misses among matches, every match of a
// month with few (fewMatches), sorted here by their stored sent_at and doc
// id as bleve would sort them. Bleve's sort reads each match's sort values
// from the doc values block it falls in, and a block costs far more to
// read than a document: where matches are sparse, that is most of the cost
// of a search.
func (m *monthRead) pick(matches []*search.DocumentMatch) ([]*search.DocumentMatch, error) {
	m.total += uint64(len(matches))
	hits := make([]timedHit, 0, len(matches))
	for _, dm := range matches {
		at, err := storedSentAt(dm)
		if err != nil {
			return nil, err
		}
		if m.pl.after == nil || at.Before(m.pl.afterAt) || at.Equal(m.pl.afterAt) && dm.ID < m.pl.after[1] {
			hits = append(hits, timedHit{dm, at})
		}
	}
	slices.SortFunc(hits, func(a, b timedHit) int {
		return cmp.Or(b.at.Compare(a.at), strings.Compare(b.ID, a.ID))
	})
	picked := make([]*search.DocumentMatch, min(len(hits), m.missing()))
	for i := range picked {
		picked[i] = hits[i].DocumentMatch
	}
	return picked, nil
}

// timedHit is a match and its sent_at.
type timedHit struct {
	*search.DocumentMatch
	at time.Time
}

// storedSentAt reads a match's sent_at from its stored fields.
func storedSentAt(dm *search.DocumentMatch) (time.Time, error) {
	src, _ := dm.Fields[fieldSrc].(string)
	var s struct {
		SentAt time.Time `json:"s"`
	}
	if err := json.Unmarshal([]byte(src), &s); err != nil {
		return time.Time{}, fmt.Errorf("stored fields of %s: %w", dm.ID, err)
	}
	return s.SentAt, nil
}

// search reads the hits of [from, to) that the page misses, sorted by
// bleve, with their stored fields and highlights; it returns how many it
// read.
func (m *monthRead) search(ctx context.Context, from, to time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	sr, err := m.idx.SearchInContext(ctx, m.pl.request(m.query(from, to), m.missing()))
	m.ix.windows.Add(1)
	if err != nil {
		return 0, err
	}
	m.total += sr.Total
	m.facets = mergeFacets(m.facets, sr.Facets)
	m.hits = append(m.hits, sr.Hits...)
	return len(sr.Hits), nil
}

// windows reads the month in windows, newest first (see the top of this
// file), until the page is full; the older part it did not read goes to
// rest.
func (m *monthRead) windows(ctx context.Context) error {
	days, err := dayCounts(m.idx)
	if err != nil {
		return err
	}
	want := float64(firstWindowDocs * m.missing()) // documents in the next window
	got := 0                                       // hits the windows gave
	for top := m.hi; m.lo.Before(top); {
		bottom := days.before(top, m.lo, want)
		n, err := m.search(ctx, bottom, top)
		if err != nil {
			return err
		}
		got += n
		top = bottom
		if m.missing() <= 0 {
			if m.lo.Before(top) {
				m.rest = append(m.rest, span{idx: m.idx, q: m.query(m.lo, top)})
			}
			return nil
		}
		want = nextWant(want, days.in(top, m.hi), got, m.missing())
	}
	return nil
}

// nextWant is how many documents the window after one of want documents
// holds, once the windows covered covered documents and gave got hits,
// with missing hits still to find: enough for them at the density seen so
// far, twice over, and between two and maxWindowGrowth times the last.
func nextWant(want, covered float64, got, missing int) float64 {
	next := maxWindowGrowth * want
	if got > 0 {
		next = min(next, 2*covered*float64(missing)/float64(got))
	}
	return max(next, 2*want)
}

// days is a month's documents per UTC day, oldest first, from the day
// field's dictionary: documents deleted but not yet merged away count too,
// so it over-counts a little, which only makes windows a little narrower.
type days []dayCount

type dayCount struct {
	start time.Time
	docs  float64
}

const day = 24 * time.Hour

// dayCounts returns the documents per day of idx.
func dayCounts(idx bleve.Index) (days, error) {
	dict, err := idx.FieldDict(fieldDay)
	if err != nil {
		return nil, err
	}
	defer dict.Close()
	var ds days
	for {
		e, err := dict.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			return ds, nil
		}
		t, err := time.Parse(time.DateOnly, e.Term)
		if err != nil {
			continue // not a day: cannot happen, and only narrows windows
		}
		ds = append(ds, dayCount{start: t, docs: float64(e.Count)})
	}
}

// part is the share of day d's documents sent in [from, to), assuming they
// spread evenly over the day.
func (d dayCount) part(from, to time.Time) float64 {
	from, to = maxTime(from, d.start), minTime(to, d.start.Add(day))
	if !from.Before(to) {
		return 0
	}
	return d.docs * float64(to.Sub(from)) / float64(day)
}

// in is the number of documents sent in [from, to).
func (ds days) in(from, to time.Time) float64 {
	var n float64
	for _, d := range ds {
		n += d.part(from, to)
	}
	return n
}

// before returns the start of a window that ends at top and holds about
// want documents, but not before lo; rounded down to windowAlign.
func (ds days) before(top, lo time.Time, want float64) time.Time {
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		n := d.part(lo, top)
		if n == 0 {
			continue
		}
		if n < want {
			want -= n
			continue
		}
		// Enough in this day: go back from the end of its part in range.
		end := minTime(top, d.start.Add(day))
		t := alignDown(end.Add(-time.Duration(want / d.docs * float64(day))))
		if !t.Before(top) {
			t = alignDown(top.Add(-time.Nanosecond))
		}
		if t.After(lo) {
			return t
		}
		break
	}
	return lo
}

// alignDown rounds t down to a multiple of windowAlign ns since the epoch.
func alignDown(t time.Time) time.Time {
	ns := t.UnixNano()
	r := ns % windowAlign
	if r < 0 {
		r += windowAlign
	}
	return time.Unix(0, ns-r).UTC()
}

// monthStart is the first instant of month k (UTC).
func monthStart(k int) time.Time {
	return time.Date(k/12, time.Month(k%12+1), 1, 0, 0, 0, 0, time.UTC)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// relation is the TotalRelation of a total that is a lower bound when gte.
func relation(gte bool) string {
	if gte {
		return TotalRelationGte
	}
	return TotalRelationEq
}
