package index

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/index/querystring"
)

func TestCJKAndEnglishText(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	mustIndex(t, ix, c, 1,
		msg("1", "我想找一个Python教程", day0),
		msg("2", "你知道恋恋笔记本这部电影吗", day0.Add(time.Minute)),
		msg("3", "明天的meeting改到三点", day0.Add(2*time.Minute)),
		msg("4", "奥斯卡获奖名单出来了", day0.Add(3*time.Minute)),
		msg("5", "奥斯陆今天很冷", day0.Add(4*time.Minute)),
		msg("6", "斯卡拉歌剧院的演出", day0.Add(5*time.Minute)),
		msg("7", "Please review the PYTHON notebook", day0.Add(6*time.Minute), attach("季度报告.pdf")),
	)
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"python", []string{"我想找一个Python教程", "Please review the PYTHON notebook"}},
		{"教程", []string{"我想找一个Python教程"}},
		{`"笔记本"`, []string{"你知道恋恋笔记本这部电影吗"}},
		{"笔记本", []string{"你知道恋恋笔记本这部电影吗"}},
		{"电影", []string{"你知道恋恋笔记本这部电影吗"}},
		{"meeting", []string{"明天的meeting改到三点"}},
		{"奥斯卡", []string{"奥斯卡获奖名单出来了"}},
		{"奥斯", []string{"奥斯卡获奖名单出来了", "奥斯陆今天很冷"}},
		{"attachment:报告", []string{"Please review the PYTHON notebook"}},
		{"notebook -python", nil},
	} {
		wantTexts(t, ix, Request{Query: tc.q}, tc.want...)
	}
}

func TestFilters(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	mustIndex(t, ix, c, 1,
		msg("1", "alice to bob", day0, from("alice"), to("bob")),
		msg("2", "bob to carol", day0.Add(time.Hour), from("bob"), to("carol")),
		msg("3", "carol to dave on teams", day0.Add(2*time.Hour), from("carol"), to("dave"), platform("teams")),
		msg("4", "dave to alice next day", day0.AddDate(0, 0, 1), from("dave"), to("alice", "erin"), conversation("c2")),
		msg("5", "other tenant", day0, tenant("globex")),
	)
	acme := []string{"acme"}
	wantTexts(t, ix, Request{Tenants: acme, Participants: []string{"bob"}}, "alice to bob", "bob to carol")
	wantTexts(t, ix, Request{Tenants: acme, Participants: []string{"alice"}}, "alice to bob", "dave to alice next day")
	wantTexts(t, ix, Request{Tenants: acme, Senders: []string{"alice"}}, "alice to bob")
	wantTexts(t, ix, Request{Tenants: acme, Platforms: []string{"teams"}}, "carol to dave on teams")
	wantTexts(t, ix, Request{Tenants: acme, Platforms: []string{"teams", "slack"}, Conversations: []string{"c2"}}, "dave to alice next day")
	wantTexts(t, ix, Request{Tenants: acme, From: day0.Add(time.Hour), To: day0.Add(2 * time.Hour)}, "bob to carol")
	wantTexts(t, ix, Request{Tenants: acme, From: day0.Add(time.Hour)}, "bob to carol", "carol to dave on teams", "dave to alice next day")
	wantTexts(t, ix, Request{Tenants: acme, To: day0.Add(time.Hour)}, "alice to bob")
	wantTexts(t, ix, Request{Tenants: []string{"globex"}}, "other tenant")
	wantTexts(t, ix, Request{ExcludeTenants: acme}, "other tenant")
	wantTexts(t, ix, Request{ExcludeTenants: acme, Query: "tenant", SortBy: SortRelevance}, "other tenant")
	wantTexts(t, ix, Request{ExcludeTenants: []string{"globex"}, Query: "other OR teams"}, "carol to dave on teams")
	// A query cannot widen the tenant scope.
	wantTexts(t, ix, Request{Tenants: []string{"globex"}, Query: "tenant:acme"})
	wantTexts(t, ix, Request{Tenants: acme, Query: "to:erin OR from:carol"}, "carol to dave on teams", "dave to alice next day")
	wantTexts(t, ix, Request{Query: `day:2026-03-11`}, "dave to alice next day")
}

func TestLatestVersionOnlyByDefault(t *testing.T) {
	for _, order := range []string{"in order", "newest first"} {
		t.Run(order, func(t *testing.T) {
			ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
			v0 := msg("m", "original wording ferret", day0)
			v1 := msg("m", "edited wording badger", day0.Add(time.Minute), version(1, archive.ActionEdit))
			v2 := msg("m", "", day0.AddDate(0, 1, 0), version(2, archive.ActionRecall)) // next month's partition
			other := msg("o", "unrelated ferret", day0)
			if order == "in order" {
				mustIndex(t, ix, c, 1, v0, other)
				mustIndex(t, ix, c, 2, v1)
				mustIndex(t, ix, c, 3, v2)
			} else {
				mustIndex(t, ix, c, 1, v2)
				mustIndex(t, ix, c, 2, v1, other)
				mustIndex(t, ix, c, 3, v0)
			}
			wantTexts(t, ix, Request{Query: "ferret"}, "unrelated ferret")
			wantTexts(t, ix, Request{Query: "ferret", AllVersions: true}, "original wording ferret", "unrelated ferret")
			wantTexts(t, ix, Request{Query: "badger"})
			wantTexts(t, ix, Request{Query: "badger", AllVersions: true}, "edited wording badger")
			res := mustSearch(t, ix, Request{Conversations: []string{"c1"}})
			if res.Total != 2 {
				t.Fatalf("latest-only total %d, want 2 (the recall and the other message)", res.Total)
			}
			res = mustSearch(t, ix, Request{Query: "action:recall"})
			if res.Total != 1 || res.Hits[0].Version != 2 || !res.Hits[0].Latest {
				t.Fatalf("recall = %+v", res.Hits)
			}

			vs, err := ix.Versions(v0.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != 3 {
				t.Fatalf("Versions = %d hits, want 3", len(vs))
			}
			for i, h := range vs {
				if h.Version != i || h.Latest != (i == 2) || h.SHA256 == "" || h.Segment == "" || h.Location.ID != v0.ID {
					t.Errorf("version %d = %+v", i, h)
				}
			}
			if vs[1].Text != "edited wording badger" || vs[1].Action != "edit" {
				t.Errorf("version 1 = %+v", vs[1])
			}
			if _, err := ix.Versions("nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Versions(unknown) = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestEditInSameSegment(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	mustIndex(t, ix, c, 1,
		msg("m", "first draft", day0),
		msg("m", "second draft", day0.Add(time.Second), version(1, archive.ActionEdit)),
		msg("m", "final draft", day0.Add(2*time.Second), version(2, archive.ActionEdit)),
	)
	wantTexts(t, ix, Request{Query: "draft"}, "final draft")
	wantTexts(t, ix, Request{Query: "draft", AllVersions: true}, "first draft", "second draft", "final draft")
}

// spread returns n messages, several per second, over months months
// starting at day0.
func spread(n, months int) []archive.Message {
	msgs := make([]archive.Message, n)
	span := day0.AddDate(0, months, 0).Sub(day0)
	for i := range msgs {
		// Every third pair shares a timestamp: ties are broken by doc id.
		at := day0.Add(time.Duration(int64(span) / int64(n) * int64(i-i%2)))
		msgs[i] = msg(fmt.Sprintf("s%05d", i), fmt.Sprintf("message number %d", i), at,
			platform([]string{"slack", "teams", "wecom"}[i%3]))
	}
	return msgs
}

func TestTimeSortPaging(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	msgs := spread(2500, 5)
	for i := 0; i < len(msgs); i += 500 {
		mustIndex(t, ix, c, uint64(i/500+1), msgs[i:i+500]...)
	}
	if n := len(ix.Partitions()); n != 6 { // March 10 to August 10
		t.Fatalf("%d partitions, want 6", n)
	}
	seen := map[string]bool{}
	var prev Hit
	cursor, pages := "", 0
	for {
		res := mustSearch(t, ix, Request{Size: 100, Cursor: cursor})
		pages++
		if res.Total != 2500 {
			t.Fatalf("page %d: total %d", pages, res.Total)
		}
		for _, h := range res.Hits {
			key := docID(h.ID, h.Version)
			if seen[key] {
				t.Fatalf("page %d: %s seen twice", pages, key)
			}
			seen[key] = true
			if prev.ID != "" && (h.SentAt.After(prev.SentAt) ||
				h.SentAt.Equal(prev.SentAt) && key > docID(prev.ID, prev.Version)) {
				t.Fatalf("page %d: %s (%v) after %s (%v): not newest first", pages, key, h.SentAt, prev.ID, prev.SentAt)
			}
			prev = h
		}
		if res.Cursor == "" {
			break
		}
		if len(res.Hits) != 100 {
			t.Fatalf("page %d has %d hits and a cursor", pages, len(res.Hits))
		}
		cursor = res.Cursor
	}
	if len(seen) != 2500 || pages != 25 {
		t.Fatalf("paged %d docs in %d pages, want 2500 in 25", len(seen), pages)
	}
	// A time-sorted page reads hits from as few partitions as it can: the
	// newest month holds more than a page; the other five are only counted.
	before := ix.Stats()
	res := mustSearch(t, ix, Request{Size: 10})
	after := ix.Stats()
	if hits, counts := after.PartitionSearches-before.PartitionSearches, after.PartitionCounts-before.PartitionCounts; hits != 1 || counts != 5 {
		t.Fatalf("first page read %d partitions for hits and counted %d, want 1 and 5", hits, counts)
	}
	if !res.Hits[0].SentAt.Equal(msgs[2499].SentAt) || res.Total != 2500 {
		t.Fatalf("first hit %v, want the newest %v", res.Hits[0].SentAt, msgs[2499].SentAt)
	}
	// So does a page deep in the past: newer months are only counted.
	before = ix.Stats()
	res = mustSearch(t, ix, Request{Size: 10, Cursor: cursor})
	after = ix.Stats()
	if hits := after.PartitionSearches - before.PartitionSearches; hits != 1 || res.Total != 2500 || len(res.Hits) != 10 {
		t.Fatalf("last page read %d partitions for hits, total %d, %d hits", hits, res.Total, len(res.Hits))
	}
}

func TestRelevancePaging(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	var msgs []archive.Message
	for i := range 230 {
		text := "quarterly numbers"
		if i%10 == 0 {
			text = "quarterly quarterly quarterly numbers"
		}
		msgs = append(msgs, msg(fmt.Sprintf("r%d", i), text, day0.AddDate(0, 0, i)))
	}
	mustIndex(t, ix, c, 1, msgs...)
	seen := map[string]bool{}
	cursor := ""
	first := true
	for {
		res := mustSearch(t, ix, Request{Query: "quarterly", SortBy: SortRelevance, Size: 50, Cursor: cursor})
		if first && !strings.HasPrefix(res.Hits[0].Text, "quarterly quarterly") {
			t.Fatalf("best hit %q", res.Hits[0].Text)
		}
		first = false
		for _, h := range res.Hits {
			if seen[h.ID] || h.Score <= 0 {
				t.Fatalf("hit %s seen twice or unscored (%v)", h.ID, h.Score)
			}
			seen[h.ID] = true
		}
		if cursor = res.Cursor; cursor == "" {
			break
		}
	}
	if len(seen) != 230 {
		t.Fatalf("paged %d, want 230", len(seen))
	}
}

func TestFacetsAndHighlight(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	mustIndex(t, ix, c, 1,
		msg("1", "the bond desk call", day0, from("alice"), platform("slack")),
		msg("2", "bond prices moved", day0.Add(time.Hour), from("alice"), platform("teams")),
		msg("3", "债券 bond 市场", day0.AddDate(0, 0, 1), from("bob"), platform("wecom"), conversation("c2")),
		msg("4", "lunch?", day0.AddDate(0, 1, 0), from("bob"), platform("slack")),
		msg("5", "more bond talk", day0.AddDate(0, 1, 0), from("carol"), platform("slack")),
	)
	res := mustSearch(t, ix, Request{Query: "bond", Facets: true, Highlight: true})
	if res.Total != 4 {
		t.Fatalf("total %d", res.Total)
	}
	want := map[string][]FacetCount{
		FacetPlatform:     {{"slack", 2}, {"teams", 1}, {"wecom", 1}},
		FacetSender:       {{"alice", 2}, {"bob", 1}, {"carol", 1}},
		FacetConversation: {{"c1", 3}, {"c2", 1}},
		FacetDay:          {{"2026-03-10", 2}, {"2026-03-11", 1}, {"2026-04-10", 1}},
	}
	for name, w := range want {
		if got := res.Facets[name]; !slices.Equal(got, w) {
			t.Errorf("facet %s = %v, want %v", name, got, w)
		}
	}
	for _, h := range res.Hits {
		frags := strings.Join(h.Highlights[fieldText], " ")
		if !strings.Contains(frags, "<mark>bond</mark>") {
			t.Errorf("hit %q highlights %q", h.Text, frags)
		}
	}
	res = mustSearch(t, ix, Request{Query: "债券", Highlight: true, SortBy: SortRelevance})
	if len(res.Hits) != 1 || !strings.Contains(strings.Join(res.Hits[0].Highlights[fieldText], ""), "<mark>债券</mark>") {
		t.Errorf("CJK highlight = %+v", res.Hits)
	}
}

func TestPartitionPruning(t *testing.T) {
	dir := t.TempDir()
	ix, c := mustOpen(t, dir), mustCodec(t)
	var msgs []archive.Message
	for m := range 12 {
		at := time.Date(2025, time.Month(m+1), 15, 12, 0, 0, 0, time.UTC)
		msgs = append(msgs, msg(fmt.Sprintf("p%d", m), "monthly report", at))
	}
	mustIndex(t, ix, c, 1, msgs...)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = mustOpen(t, dir)
	if s := ix.Stats(); s.Partitions != 12 || s.Open != 0 {
		t.Fatalf("after reopen: %+v", s)
	}
	res := mustSearch(t, ix, Request{Query: "report",
		From: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)})
	if res.Total != 2 || res.Partitions != 2 {
		t.Fatalf("March-April: total %d over %d partitions, want 2 over 2", res.Total, res.Partitions)
	}
	if s := ix.Stats(); s.Open != 2 || s.PartitionSearches != 2 {
		t.Fatalf("after a two-month search: %+v", s)
	}
	res = mustSearch(t, ix, Request{Query: "report", SortBy: SortRelevance,
		From: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)})
	if res.Total != 1 || res.Partitions != 1 {
		t.Fatalf("from December: total %d over %d partitions", res.Total, res.Partitions)
	}
}

func TestBadRequests(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	mustIndex(t, ix, c, 1, msg("1", "x", day0), msg("2", "y", day0.Add(time.Second)))
	page := mustSearch(t, ix, Request{Size: 1})
	for _, r := range []Request{
		{Size: MaxSize + 1},
		{Size: -1},
		{SortBy: "size"},
		{Cursor: "not a cursor!"},
		{Cursor: "e30"}, // {}
		{Cursor: page.Cursor, SortBy: SortRelevance},
		{From: day0, To: day0},
		{Query: `text:"unclosed`},
	} {
		if _, err := ix.Search(t.Context(), r); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%+v: err %v, want ErrBadRequest", r, err)
		}
	}
	_, err := ix.Search(t.Context(), Request{Query: "nosuchfield:x"})
	var qe *querystring.Error
	if !errors.As(err, &qe) || !errors.Is(err, ErrBadRequest) {
		t.Fatalf("unknown field: %v, want a *querystring.Error and ErrBadRequest", err)
	}
	if err := ix.DropPartition("March"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("DropPartition(March) = %v", err)
	}
}

func TestMappingIndexesOnlyMappedFields(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	mustIndex(t, ix, c, 1, msg("1", "hello", day0, attach("a.pdf")))
	idx, err := ix.partition(monthKey(day0), false).open(ix.mapping)
	if err != nil {
		t.Fatal(err)
	}
	fields, err := idx.Fields()
	if err != nil {
		t.Fatal(err)
	}
	mapped := map[string]bool{fieldSrc: true, "_id": true}
	for _, f := range queryFields {
		mapped[f.Index] = true
	}
	for _, f := range fields {
		if !mapped[f] {
			t.Errorf("unmapped field %q is indexed", f)
		}
	}
	if slices.Contains(fields, "_all") || !slices.Contains(fields, fieldText) {
		t.Errorf("fields %v", fields)
	}
}

// A word inside a host name, a contraction or a time is still a word: the
// text analyzer splits where UAX #29 would not, so nothing is missed.
func TestWordsInsideDottedAndJoinedText(t *testing.T) {
	ix := mustOpen(t, t.TempDir())
	c := mustCodec(t)
	mustIndex(t, ix, c, 1,
		msg("w1", "see bugzilla.ubuntu.com for it", day0),
		msg("w2", "I don't know, sleep..2.31AM", day0.Add(time.Minute)),
		msg("w3", "请用WeChat联系trader_desk", day0.Add(2*time.Minute)),
	)
	wantTexts(t, ix, Request{Query: "ubuntu"}, "see bugzilla.ubuntu.com for it")
	wantTexts(t, ix, Request{Query: `"bugzilla.ubuntu.com"`}, "see bugzilla.ubuntu.com for it")
	wantTexts(t, ix, Request{Query: "sleep"}, "I don't know, sleep..2.31AM")
	wantTexts(t, ix, Request{Query: "wechat"}, "请用WeChat联系trader_desk")
	wantTexts(t, ix, Request{Query: "desk"}, "请用WeChat联系trader_desk")
	wantTexts(t, ix, Request{Query: "联系"}, "请用WeChat联系trader_desk")
}

// Relevance paging on a live index: every search writes an audit record
// and messages keep arriving, which changes every score between two pages.
// Paging must still return every hit exactly once.
func TestRelevancePagingWhileIndexing(t *testing.T) {
	ix := mustOpen(t, t.TempDir())
	c := mustCodec(t)
	var seq uint64
	for b := 0; b < 6; b++ {
		var msgs []archive.Message
		for i := 0; i < 100; i++ {
			n := b*100 + i
			msgs = append(msgs, msg(fmt.Sprintf("r%d", n), fmt.Sprintf("cluster ingest %d", n), day0.AddDate(0, b%2, 0).Add(time.Duration(n)*time.Second)))
		}
		seq++
		mustIndex(t, ix, c, seq, msgs...)
	}
	seen := map[string]int{}
	cur := ""
	for page := 0; ; page++ {
		res := mustSearch(t, ix, Request{Query: `"cluster ingest"`, SortBy: SortRelevance, Size: 50, Cursor: cur})
		for _, h := range res.Hits {
			seen[h.ID]++
		}
		// Something unrelated is indexed between pages.
		seq++
		mustIndex(t, ix, c, seq, msg(fmt.Sprintf("noise%d", page), "audit: someone searched", day0.Add(time.Hour)))
		if res.Cursor == "" {
			break
		}
		cur = res.Cursor
	}
	if len(seen) != 600 {
		t.Fatalf("relevance paging returned %d distinct hits of 600", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s returned %d times", id, n)
		}
	}
}
