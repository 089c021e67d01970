package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/internal/corpus"
	"github.com/holdfast/holdfast/journal"
)

// loadCorpus ingests a sample of every source of ../shared/data through
// the API and waits until all of it is searchable.
func loadCorpus(t *testing.T, n *testNode, perSource int) []corpus.Message {
	t.Helper()
	dir, err := corpus.Dir()
	if errors.Is(err, corpus.ErrNoData) {
		t.Skipf("no shared data: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var all []corpus.Message
	for _, src := range corpus.Sources() {
		msgs, err := corpus.Load(dir, src, perSource)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, msgs...)
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i, m := range all {
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
		if (i+1)%500 == 0 || i == len(all)-1 {
			n.ingest("/v1/messages", "application/x-ndjson", body.Bytes())
			body.Reset()
		}
	}
	n.waitSearchable()
	return all
}

// waitSearchable waits until everything ingested so far is indexed.
func (n *testNode) waitSearchable() {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.gw.WaitStored(ctx); err != nil {
		n.t.Fatal(err)
	}
	if err := n.follower.WaitIndexed(ctx, n.node.LastSeq()); err != nil {
		n.t.Fatal(err)
	}
}

type searchResult struct {
	Total  uint64      `json:"total"`
	Hits   []index.Hit `json:"hits"`
	Cursor string      `json:"cursor"`
}

// searchAll pages through every hit of a search.
func (n *testNode) searchAll(params url.Values) []index.Hit {
	n.t.Helper()
	params.Set("size", "1000")
	var hits []index.Hit
	for {
		code, _, b := n.do(http.MethodGet, "/v1/search?"+params.Encode(), RoleSupervisor, "", nil)
		if code != http.StatusOK {
			n.t.Fatalf("search %v: %d %s", params, code, b)
		}
		var r searchResult
		if err := json.Unmarshal(b, &r); err != nil {
			n.t.Fatal(err)
		}
		hits = append(hits, r.Hits...)
		if r.Cursor == "" {
			if uint64(len(hits)) != r.Total {
				n.t.Fatalf("paged %d hits, total says %d", len(hits), r.Total)
			}
			return hits
		}
		params.Set("cursor", r.Cursor)
	}
}

// words splits text the way a reader would: at every character that is
// not a letter, mark or digit, lowercased; runs of CJK characters are kept
// whole (they are matched as substrings).
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
}

func hasWords(text string, seq ...string) bool {
	ws := words(text)
	for i := 0; i+len(seq) <= len(ws); i++ {
		match := true
		for j, s := range seq {
			if ws[i+j] != s {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func idsOf(hits []index.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	sort.Strings(out)
	return out
}

func expectIDs(msgs []corpus.Message, keep func(corpus.Message) bool) []string {
	var out []string
	for _, m := range msgs {
		if keep(m) {
			out = append(out, archive.MessageID(journal.DefaultTenant, m.Platform, m.SourceID))
		}
	}
	sort.Strings(out)
	return out
}

func TestSearchRealDataMatchesAPlainScan(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	msgs := loadCorpus(t, n, 1500)

	// The busiest IRC nick and a day of IRC logs, from the data itself.
	nicks := map[string]int{}
	for _, m := range msgs {
		if m.Platform == "irc" {
			nicks[m.From.ID]++
		}
	}
	var nick string
	for k, c := range nicks {
		if c > nicks[nick] || (c == nicks[nick] && k < nick) {
			nick = k
		}
	}
	var day time.Time
	for _, m := range msgs {
		if m.Platform == "irc" {
			day = m.SentAt.UTC().Truncate(24 * time.Hour)
			break
		}
	}
	cases := []struct {
		name   string
		params url.Values
		keep   func(corpus.Message) bool
	}{
		{"english word", url.Values{"q": {"ubuntu"}}, func(m corpus.Message) bool { return hasWords(m.Text, "ubuntu") }},
		{"two words", url.Values{"q": {"install package"}}, func(m corpus.Message) bool {
			return hasWords(m.Text, "install") && hasWords(m.Text, "package")
		}},
		{"phrase", url.Values{"q": {`"sudo apt"`}}, func(m corpus.Message) bool { return hasWords(m.Text, "sudo", "apt") }},
		{"exclusion", url.Values{"q": {"ubuntu -server"}}, func(m corpus.Message) bool {
			return hasWords(m.Text, "ubuntu") && !hasWords(m.Text, "server")
		}},
		{"a user", url.Values{"participant": {nick}}, func(m corpus.Message) bool { return m.From.ID == nick }},
		{"chinese word in a sentence", url.Values{"q": {"电影"}}, func(m corpus.Message) bool { return strings.Contains(m.Text, "电影") }},
		{"three-character chinese word", url.Values{"q": {"为什么"}}, func(m corpus.Message) bool { return strings.Contains(m.Text, "为什么") }},
		{"date range", url.Values{"from": {day.Format("2006-01-02")}, "to": {day.Format("2006-01-02")}}, func(m corpus.Message) bool {
			return !m.SentAt.Before(day) && m.SentAt.Before(day.AddDate(0, 0, 1))
		}},
		{"word, platform and date", url.Values{"q": {"the"}, "platform": {"irc"}, "from": {day.Format(time.RFC3339)}, "to": {day.AddDate(0, 0, 1).Format(time.RFC3339)}}, func(m corpus.Message) bool {
			return m.Platform == "irc" && hasWords(m.Text, "the") && !m.SentAt.Before(day) && m.SentAt.Before(day.AddDate(0, 0, 1))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := expectIDs(msgs, c.keep)
			if len(want) == 0 {
				t.Fatalf("the data has no message for %v: pick another", c.params)
			}
			got := idsOf(n.searchAll(c.params))
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("%v: %d hits, a scan of the data finds %d (first differences: %v)", c.params, len(got), len(want), diff(got, want))
			}
		})
	}
}

func diff(got, want []string) []string {
	in := map[string]int{}
	for _, g := range got {
		in[g]++
	}
	for _, w := range want {
		in[w]--
	}
	var out []string
	for k, v := range in {
		if v > 0 {
			out = append(out, "+"+k)
		} else if v < 0 {
			out = append(out, "-"+k)
		}
		if len(out) == 5 {
			break
		}
	}
	return out
}

func TestSearchVersions(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	n.ingest("/v1/messages", "", []byte(msg("v1", "the original wording of the trade")))
	n.ingest("/v1/messages", "", []byte(msg("v1", "the amended wording of the trade", `"action":"edit"`)))
	n.ingest("/v1/messages", "", []byte(msg("v1", "", `"action":"recall"`)))
	n.waitSearchable()
	latest := n.searchAll(url.Values{"q": {"trade OR recall"}, "participant": {"alice"}})
	if len(latest) != 0 {
		// The latest version is the recall, which has no text.
		t.Fatalf("default search shows %d hits for superseded text", len(latest))
	}
	everyone := n.searchAll(url.Values{"participant": {"alice"}})
	if len(everyone) != 1 || everyone[0].Version != 2 || everyone[0].Action != "recall" {
		t.Fatalf("latest only: %+v", everyone)
	}
	all := n.searchAll(url.Values{"participant": {"alice"}, "versions": {"all"}})
	if len(all) != 3 {
		t.Fatalf("versions=all shows %d versions, want 3", len(all))
	}
	orig := n.searchAll(url.Values{"q": {"original"}, "versions": {"all"}})
	if len(orig) != 1 || orig[0].Version != 0 {
		t.Fatalf("the original text is not findable with versions=all: %+v", orig)
	}
}

func TestSearchIsAudited(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	n.ingest("/v1/messages", "", []byte(msg("a1", "quarterly numbers")))
	n.waitSearchable()
	code, _, _ := n.do(http.MethodGet, "/v1/search?q=quarterly&platform=generic", RoleSupervisor, "", nil)
	if code != http.StatusOK {
		t.Fatalf("search: %d", code)
	}
	// Without the supervisor role: 403, and that attempt is not a search.
	for _, role := range []string{RoleIngest, RoleAuditor, RoleLegal} {
		if code, _, _ := n.do(http.MethodGet, "/v1/search?q=x", role, "", nil); code != http.StatusForbidden {
			t.Fatalf("search with role %s: %d, want 403", role, code)
		}
	}
	code, _, b := n.do(http.MethodGet, "/v1/search?q=%22unterminated", RoleSupervisor, "", nil)
	var e errorAnswer
	if code != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Error.Code != CodeInvalidQuery || e.Error.Position != 1 {
		t.Fatalf("malformed query: %d %s", code, b)
	}
	n.waitSearchable()
	// The audit trail holds both searches, with who, what and how many.
	code, _, b = n.do(http.MethodGet, "/v1/audit?q=quarterly", RoleAuditor, "", nil)
	if code != http.StatusOK {
		t.Fatalf("audit: %d %s", code, b)
	}
	var r searchResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Total != 1 || r.Hits[0].From.ID != RoleSupervisor || r.Hits[0].Platform != AuditPlatform ||
		!strings.Contains(r.Hits[0].Text, "1 hits") || !strings.Contains(r.Hits[0].Text, "platform") {
		t.Fatalf("audit trail for the search: %s", b)
	}
	code, _, b = n.do(http.MethodGet, "/v1/audit?q=unterminated", RoleAuditor, "", nil)
	if code != http.StatusOK || !strings.Contains(string(b), "status 400") {
		t.Fatalf("the malformed search is not on the record: %s", b)
	}
	// Audit records are WORM segments of their own tenant.
	var auditSegments int
	_ = n.store.List(context.Background(), "segments/"+AuditTenant+"/", func(archive.ObjectInfo) error { auditSegments++; return nil })
	if auditSegments == 0 {
		t.Fatal("no audit segment in storage")
	}
	// Ordinary searches never show the audit trail; only auditors see it.
	if hits := n.searchAll(url.Values{"q": {"quarterly"}}); len(hits) != 1 || hits[0].Tenant == AuditTenant {
		t.Fatalf("supervisor search shows audit records: %+v", hits)
	}
	if code, _, _ := n.do(http.MethodGet, "/v1/audit", RoleSupervisor, "", nil); code != http.StatusForbidden {
		t.Fatalf("supervisor read the audit trail: %d", code)
	}
}
