package index

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/internal/corpus"
)

// benchMessages returns n messages for the indexing benchmarks: the real
// mixed English and Chinese conversations of internal/corpus when the data
// is there, generated ones otherwise. HOLDFAST_BENCH_N overrides n.
func benchMessages(b *testing.B, n int) []archive.Message {
	b.Helper()
	if s := os.Getenv("HOLDFAST_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("HOLDFAST_BENCH_N=%q: %v", s, err)
		}
		n = v
	}
	msgs := make([]archive.Message, 0, n)
	dir, err := corpus.Dir()
	if errors.Is(err, corpus.ErrNoData) {
		b.Logf("no corpus (%v): generated messages", err)
		for i := range n {
			msgs = append(msgs, msg(fmt.Sprintf("g%d", i), generatedText(i), day0.Add(time.Duration(i)*time.Second)))
		}
		return msgs
	}
	return corpusMessages(b, dir, n)
}

// corpusMessages returns the first n messages of corpus.Mixed as tenant
// acme's archived messages.
func corpusMessages(tb testing.TB, dir string, n int) []archive.Message {
	tb.Helper()
	cms, err := corpus.Mixed(dir, n)
	if err != nil {
		tb.Fatal(err)
	}
	msgs := make([]archive.Message, 0, n)
	for _, cm := range cms {
		m := archive.Message{
			Action: archive.ActionSend, Platform: cm.Platform, Tenant: "acme", SourceID: cm.SourceID,
			Conversation: archive.Conversation{ID: cm.Conversation.ID, Kind: cm.Conversation.Kind, Name: cm.Conversation.Name},
			From:         archive.Participant{ID: cm.From.ID, Name: cm.From.Name},
			SentAt:       cm.SentAt, ReceivedAt: cm.SentAt, Type: cm.Type, Text: cm.Text,
			RetainUntil: cm.SentAt.AddDate(7, 0, 0),
		}
		for _, p := range cm.To {
			m.To = append(m.To, archive.Participant{ID: p.ID, Name: p.Name})
		}
		m.SetRaw([]byte(cm.Text))
		m.Seal()
		msgs = append(msgs, m)
	}
	return msgs
}

func generatedText(i int) string {
	en := []string{"please review the quarterly report", "the bond desk moved the meeting", "can you send the python notebook"}
	zh := []string{"你知道恋恋笔记本这部电影吗", "明天的会议改到三点", "奥斯卡获奖名单出来了，我们去看吧"}
	return fmt.Sprintf("%s %s #%d", en[i%3], zh[(i/3)%3], i)
}

// BenchmarkIndexing compares IndexSegment (decode, verify, partition,
// latest handling, checkpoint) and Rebuild (the same, in runs, as a
// Follower catching up) with raw bleve batch indexing of the same
// documents into one index with the same mapping. Segments hold 1,000
// messages in corpus order, which interleaves four sources whose dates are
// years apart, so a segment's records spread over four months;
// HOLDFAST_BENCH_SORT=1 sorts them by sent_at first, as live ingest would.
// Run with -benchtime=1x:
//
//	go test -run '^$' -bench Indexing -benchtime 1x ./index
func BenchmarkIndexing(b *testing.B) {
	msgs := benchMessages(b, 100_000)
	if os.Getenv("HOLDFAST_BENCH_SORT") != "" {
		slices.SortStableFunc(msgs, func(a, b archive.Message) int { return a.SentAt.Compare(b.SentAt) })
	}
	c := mustCodec(b)
	const perSegment = 1000
	type seg struct {
		seg  archive.Segment
		data []byte
	}
	var segs []seg
	for i := 0; i < len(msgs); i += perSegment {
		s, d := segment(b, c, msgs[i:min(i+perSegment, len(msgs))]...)
		segs = append(segs, seg{s, d})
	}

	b.Run("raw", func(b *testing.B) {
		docs := make([]*doc, len(msgs))
		for i := range msgs {
			h := hitFromMessage(&msgs[i], "segments/x", archive.ManifestEntry{ID: msgs[i].ID})
			h.Latest = true
			d, err := newDoc(&h)
			if err != nil {
				b.Fatal(err)
			}
			docs[i] = d
		}
		for b.Loop() {
			idx, err := bleve.New(filepath.Join(b.TempDir(), "raw"), newMapping())
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			batch := idx.NewBatch()
			for i, d := range docs {
				if err := batch.Index(docID(d.ID, d.Version), d); err != nil {
					b.Fatal(err)
				}
				if batch.Size() >= DefaultBatchSize || i == len(docs)-1 {
					if err := idx.Batch(batch); err != nil {
						b.Fatal(err)
					}
					batch = idx.NewBatch()
				}
			}
			b.ReportMetric(float64(len(docs))/time.Since(start).Seconds(), "docs/s")
			idx.Close()
		}
	})

	b.Run("IndexSegment", func(b *testing.B) {
		for b.Loop() {
			ix := mustOpen(b, b.TempDir())
			start := time.Now()
			for i, s := range segs {
				if err := ix.IndexSegment(uint64(i+1), s.seg, s.data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(msgs))/time.Since(start).Seconds(), "docs/s")
			b.ReportMetric(float64(len(ix.Partitions())), "partitions")
			ix.Close()
		}
	})

	// Rebuild, like a Follower catching up, indexes the segments waiting
	// in runs of about RunRecords records.
	b.Run("Rebuild", func(b *testing.B) {
		st := mustStore(b)
		for i, s := range segs {
			put(b, st, s.seg, s.data, fmt.Sprintf("segments/acme/%06d.ndjson.zst", i))
		}
		for b.Loop() {
			start := time.Now()
			if err := Rebuild(context.Background(), filepath.Join(b.TempDir(), "ix"), st, testLog(), nil); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(msgs))/time.Since(start).Seconds(), "docs/s")
		}
	})
}

// BenchmarkSearch120Months searches ten years of monthly partitions
// without a date range: the first page of the time sort reads hits from
// the newest month only and counts the others. HOLDFAST_BENCH_PER_MONTH
// sets the messages per month (200).
func BenchmarkSearch120Months(b *testing.B) {
	ix, c := mustOpen(b, b.TempDir()), mustCodec(b)
	perMonth := 200
	if s := os.Getenv("HOLDFAST_BENCH_PER_MONTH"); s != "" {
		perMonth, _ = strconv.Atoi(s)
	}
	var run []fetched
	for m := range 120 {
		var msgs []archive.Message
		for i := range perMonth {
			at := time.Date(2016, time.Month(m+1), 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
			msgs = append(msgs, msg(fmt.Sprintf("m%d-%d", m, i), generatedText(i), at,
				platform([]string{"slack", "teams", "wecom"}[i%3])))
		}
		s, d := segment(b, c, msgs...)
		run = append(run, fetched{CatalogEntry{Seq: uint64(m + 1), Segment: s}, d})
	}
	for i := 0; i < len(run); i += 10 {
		if _, err := ix.indexRun(run[i:min(i+10, len(run))]); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		r    Request
	}{
		{"time", Request{Tenants: []string{"acme"}}},
		{"time-query", Request{Tenants: []string{"acme"}, Query: "report"}},
		{"time-facets", Request{Tenants: []string{"acme"}, Facets: true}},
		{"relevance", Request{Tenants: []string{"acme"}, Query: "report", SortBy: SortRelevance}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				res, err := ix.Search(context.Background(), bc.r)
				if err != nil || res.Total == 0 {
					b.Fatal(res.Total, err)
				}
			}
		})
	}
}
