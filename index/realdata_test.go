package index

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/internal/corpus"
)

// Real conversations, English and Chinese over years of dates, with busy
// and quiet months and many messages per minute: the first pages of the
// searches users run, and the pages deep into them, are the plain
// search's, and so is the total. Every 50th message is an audit record,
// excluded as the API excludes them.
func TestRealDataPagesMatchPlainSearch(t *testing.T) {
	dir, err := corpus.Dir()
	if errors.Is(err, corpus.ErrNoData) {
		t.Skipf("no conversation data, nothing to compare: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	msgs := corpusMessages(t, dir, 8000)
	for i := 0; i < len(msgs); i += 50 {
		msgs[i].Tenant = "audit"
		msgs[i].Seal()
	}
	slices.SortStableFunc(msgs, func(a, b archive.Message) int { return a.SentAt.Compare(b.SentAt) })
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	for i := 0; i < len(msgs); i += 1000 {
		mustIndex(t, ix, c, uint64(i/1000+1), msgs[i:min(i+1000, len(msgs))]...)
	}

	queries := append([]string{""}, realQueries(msgs)...)
	busy := msgs[len(msgs)*3/4].SentAt
	for _, q := range queries {
		for _, r := range []Request{
			{Query: q, Size: 5},
			{Query: q, Size: 50, Highlight: true},
			{Query: q, Size: 20, From: busy.AddDate(0, -1, 0), To: busy.AddDate(0, 0, 10)},
		} {
			r.ExcludeTenants = []string{"audit"}
			if r.Highlight {
				wantSameHighlights(t, ix, r, 3)
			}
			want := plainSearch(t, ix, r)
			got, first := pageUpTo(t, ix, r, 40)
			if !slices.Equal(got, want[:len(got)]) || len(got) < min(len(want), 40*r.Size) {
				t.Fatalf("%+v: %d hits in the first pages differ from the plain search's %d, first at %d", r, len(got), len(want), firstDiff(got, want))
			}
			if first.Total != uint64(len(want)) || first.TotalRelation != TotalRelationEq {
				t.Fatalf("%+v: total %d %s, want %d eq", r, first.Total, first.TotalRelation, len(want))
			}
			if len(want) > 40*r.Size {
				// Deep: from the cursor of a hit far down the list.
				deep := len(want) * 2 / 3
				h := mustHit(t, ix, want[deep])
				r.Cursor = encodeCursor(h.SentAt, want[deep], first.Total, false)
				got, _ := pageUpTo(t, ix, r, 3)
				if rest := want[deep+1:]; !slices.Equal(got, rest[:min(len(rest), len(got))]) || len(got) < min(len(rest), 3*r.Size) {
					t.Fatalf("%+v after hit %d: pages differ from the plain search", r, deep)
				}
			}
		}
	}
}

// realQueries draws the kinds of query users type from msgs: frequent and
// rare English words, two adjacent words, Chinese words of two and three
// characters.
func realQueries(msgs []archive.Message) []string {
	freq := map[string]int{}
	var phrases, chinese []string
	for i, m := range msgs {
		words := strings.FieldsFunc(strings.ToLower(m.Text), func(r rune) bool { return r < 'a' || r > 'z' })
		for _, w := range words {
			if len(w) >= 4 {
				freq[w]++
			}
		}
		if i%797 == 0 && len(words) >= 2 {
			phrases = append(phrases, `"`+words[0]+" "+words[1]+`"`)
		}
		if runes := []rune(m.Text); i%577 == 0 && len(runes) >= 3 && isHan(runes[0]) && isHan(runes[1]) {
			n := 2
			if isHan(runes[2]) {
				n = 3
			}
			chinese = append(chinese, string(runes[:n]))
		}
	}
	words := make([]string, 0, len(freq))
	for w := range freq {
		words = append(words, w)
	}
	slices.SortFunc(words, func(a, b string) int { return cmp.Or(freq[b]-freq[a], strings.Compare(a, b)) })
	qs := append(words[:min(4, len(words))], words[len(words)/2], words[len(words)-1])
	return append(append(qs, phrases[:min(3, len(phrases))]...), chinese[:min(3, len(chinese))]...)
}

func isHan(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }

// mustHit returns the indexed version docID.
func mustHit(t *testing.T, ix *Index, docID string) Hit {
	t.Helper()
	id, v, ok := splitDocID(docID)
	if !ok {
		t.Fatalf("doc id %q", docID)
	}
	vs, err := ix.Versions(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range vs {
		if h.Version == v {
			return h
		}
	}
	t.Fatalf("no version %d of %s", v, id)
	return Hit{}
}
