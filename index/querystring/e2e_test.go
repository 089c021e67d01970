package querystring_test

import (
	"slices"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/holdfast/holdfast/index/querystring"
)

// e2eDocs is a small archive: Chinese with words that share character pairs,
// mixed Chinese and Latin, English, and boundary timestamps.
var e2eDocs = []struct {
	id, text, from, sentAt string
	size                   float64
	flagged                bool
}{
	{"zh-notebook", "知道恋恋笔记本这部电影吗", "alice@example.com", "2024-01-04T23:59:59Z", 10, false},
	{"zh-python", "Python教程", "Bob@Example.com", "2024-01-05T00:00:00Z", 20, false},
	{"zh-oscar", "今年的奥斯卡颁奖典礼", "carol@example.com", "2024-01-05T12:00:00Z", 30, true},
	{"zh-oslo", "我们去奥斯陆", "carol@example.com", "2024-01-05T23:59:59.999Z", 40, false}, // 奥斯 only
	{"zh-scala", "斯卡拉歌剧院", "dave@example.com", "2024-01-06T00:00:00Z", 50, false},     // 斯卡 only
	{"zh-both", "奥斯陆的斯卡拉", "dave@example.com", "2024-01-15T08:00:00Z", 60, false},     // 奥斯 and 斯卡, apart
	{"zh-card", "请刷卡", "erin@example.com", "2024-01-31T23:59:59Z", 70, false},         // 卡 in a pair
	{"zh-lone", "VIP 卡", "erin@example.com", "2024-02-01T00:00:00Z", 80, false},       // 卡 alone
	{"en-wire", "Please wire the funds before Friday", "alice@example.com", "2024-02-01T00:00:01Z", 90, true},
	{"en-funds", "Funds transfer: wire confirmed", "alice@example.com", "2024-02-10T00:00:00Z", 100, false},
	{"en-guarantee", "Guaranteed returns on this trade, no risk", "bob@example.com", "2024-02-29T12:00:00Z", 110, true},
	{"en-whatsapp", "Let's move this conversation to WhatsApp", "carol@example.com", "2024-03-01T00:00:00Z", 120, true},
	{"en-report", "The quarterly report is attached", "dave@example.com", "2023-12-31T23:59:59Z", 130, false},
	{"en-lunch", "lunch on Friday?", "erin@example.com", "2023-12-31T16:00:00Z", 140, false},
	{"en-spam", "Limited offer: spam spam spam", "spammer@example.net", "2024-01-10T00:00:00Z", 150, false},
	{"en-warranty", "warranty claim for the broken phone", "bob@example.com", "2024-01-20T00:00:00Z", 160, false},
	{"en-war", "the war room meets at noon", "frank@example.com", "2024-01-21T00:00:00Z", 170, false},
	{"en-python", "python scripts for the risk report", "frank@example.com", "2024-01-22T00:00:00Z", 180, false},
	{"zh-mixed", "请用WeChat联系我", "grace@example.com", "2024-01-23T00:00:00Z", 190, false},
	{"meta-only", "", "henry@example.com", "2024-01-24T00:00:00Z", 200, false},
	{"ja-tokyo", "東京タワーに行きました", "ichiro@example.jp", "2024-01-24T12:00:00Z", 210, false},
}

var e2eOptions = querystring.Options{
	DefaultField: "text",
	Fields: map[string]querystring.Field{
		"text":    {Index: "text", Kind: querystring.Text},
		"from":    {Index: "from", Kind: querystring.Keyword},
		"date":    {Index: "sent_at", Kind: querystring.Date},
		"size":    {Index: "size", Kind: querystring.Number},
		"flagged": {Index: "flagged", Kind: querystring.Bool},
	},
}

// mustOpenIndex returns an in-memory index holding e2eDocs, mapped as
// holdfast maps messages: text through the cjk analyzer, addresses as
// keywords.
func mustOpenIndex(t *testing.T) bleve.Index {
	t.Helper()
	text := bleve.NewTextFieldMapping()
	text.Analyzer = cjk.AnalyzerName
	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt("text", text)
	doc.AddFieldMappingsAt("from", bleve.NewKeywordFieldMapping())
	doc.AddFieldMappingsAt("sent_at", bleve.NewDateTimeFieldMapping())
	doc.AddFieldMappingsAt("size", bleve.NewNumericFieldMapping())
	doc.AddFieldMappingsAt("flagged", bleve.NewBooleanFieldMapping())
	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc

	idx, err := bleve.NewMemOnly(m)
	if err != nil {
		t.Fatalf("open index: %v", err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	b := idx.NewBatch()
	for _, d := range e2eDocs {
		sent, err := time.Parse(time.RFC3339Nano, d.sentAt)
		if err != nil {
			t.Fatalf("doc %s: %v", d.id, err)
		}
		fields := map[string]any{"from": d.from, "sent_at": sent, "size": d.size, "flagged": d.flagged}
		if d.text != "" {
			fields["text"] = d.text
		}
		if err := b.Index(d.id, fields); err != nil {
			t.Fatalf("index %s: %v", d.id, err)
		}
	}
	if err := idx.Batch(b); err != nil {
		t.Fatalf("batch: %v", err)
	}
	return idx
}

// search parses q and returns the sorted ids of every matching document.
func search(t *testing.T, idx bleve.Index, q string, o querystring.Options) []string {
	t.Helper()
	parsed, err := querystring.Parse(q, o)
	if err != nil {
		t.Fatalf("Parse(%q): %v", q, err)
	}
	return searchQuery(t, idx, parsed)
}

// searchQuery returns the sorted ids of every document matching q.
func searchQuery(t *testing.T, idx bleve.Index, q query.Query) []string {
	t.Helper()
	res, err := idx.Search(bleve.NewSearchRequestOptions(q, len(e2eDocs)+1, 0, false))
	if err != nil {
		t.Fatalf("search %s: %v", mustJSON(t, q), err)
	}
	ids := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	slices.Sort(ids)
	return ids
}

// allBut returns every doc id except the given ones, sorted.
func allBut(except ...string) []string {
	var ids []string
	for _, d := range e2eDocs {
		if !slices.Contains(except, d.id) {
			ids = append(ids, d.id)
		}
	}
	slices.Sort(ids)
	return ids
}

func TestEndToEnd(t *testing.T) {
	idx := mustOpenIndex(t)
	january := allBut("zh-lone", "en-wire", "en-funds", "en-guarantee", "en-whatsapp", "en-report", "en-lunch")
	tests := []struct {
		q    string
		want []string
	}{
		// Chinese: a word is a phrase of its character pairs.
		{"笔记本", []string{"zh-notebook"}},
		{"奥斯卡", []string{"zh-oscar"}},
		{"奥斯", []string{"zh-both", "zh-oscar", "zh-oslo"}},
		{"斯卡", []string{"zh-both", "zh-oscar", "zh-scala"}},
		{"卡", []string{"zh-both", "zh-card", "zh-lone", "zh-oscar", "zh-scala"}},
		{"陆", []string{"zh-both", "zh-oslo"}},
		{"奥斯 -奥斯卡", []string{"zh-both", "zh-oslo"}},
		{"奥斯卡 OR 笔记本", []string{"zh-notebook", "zh-oscar"}},
		{"text:奥斯卡", []string{"zh-oscar"}},
		{`"恋恋笔记本"`, []string{"zh-notebook"}},
		{"恋笔记", []string{"zh-notebook"}},
		{"笔本", nil},
		// Mixed Chinese and Latin.
		{"Python教程", []string{"zh-python"}},
		{`"Python教程"`, []string{"zh-python"}},
		{"python", []string{"en-python", "zh-python"}},
		{"PYTHON", []string{"en-python", "zh-python"}},
		{"WeChat", []string{"zh-mixed"}},
		{"联系", []string{"zh-mixed"}},
		{"用WeChat联系", []string{"zh-mixed"}},
		// Japanese: Kana are paired like Han.
		{"タワー", []string{"ja-tokyo"}},
		{"行きました", []string{"ja-tokyo"}},
		{"東京タワー -大阪", []string{"ja-tokyo"}},
		{"ワ", []string{"ja-tokyo"}},
		// English words, phrases and operators.
		{`"wire the funds"`, []string{"en-wire"}},
		{`"funds wire"`, nil},
		{"wire funds", []string{"en-funds", "en-wire"}},
		{"wire AND funds", []string{"en-funds", "en-wire"}},
		{"+wire +funds", []string{"en-funds", "en-wire"}},
		{"wire OR whatsapp", []string{"en-funds", "en-whatsapp", "en-wire"}},
		{"funds -transfer", []string{"en-wire"}},
		{"funds NOT transfer", []string{"en-wire"}},
		{"wire NOT (funds transfer)", []string{"en-wire"}},
		{"trade OR quarterly report", []string{"en-guarantee", "en-report"}},
		{"(trade OR quarterly) report", []string{"en-report"}},
		{"risk (report OR scripts)", []string{"en-python"}},
		{"-spam", allBut("en-spam")},
		{"NOT spam", allBut("en-spam")},
		{"*", allBut()},
		{"text:*", allBut("meta-only")},
		{"friday", []string{"en-lunch", "en-wire"}},
		{"friday -(lunch OR -wire)", []string{"en-wire"}},
		// Wildcards match one lower-cased word.
		{"war*", []string{"en-war", "en-warranty"}},
		{"W?R", []string{"en-war"}},
		{"guarant*d", []string{"en-guarantee"}},
		// Keywords are exact and keep their case.
		{"from:alice@example.com", []string{"en-funds", "en-wire", "zh-notebook"}},
		{"from:bob@example.com", []string{"en-guarantee", "en-warranty"}},
		{"FROM:Bob@Example.com", []string{"zh-python"}},
		{`from:"Bob@Example.com"`, []string{"zh-python"}},
		{"from:*@example.net", []string{"en-spam"}},
		{"from:alice", nil},
		{"from:(alice@example.com OR dave@example.com) -date:2024-01", []string{"en-funds", "en-report", "en-wire"}},
		// Dates: a day, a month, ranges and comparisons, all in UTC.
		{"date:2024-01-05", []string{"zh-oscar", "zh-oslo", "zh-python"}},
		{"date:2024-01", january},
		{"date:[2024-01-05 TO 2024-01-06]", []string{"zh-oscar", "zh-oslo", "zh-python", "zh-scala"}},
		{"date:{2024-01-04 TO 2024-01-06}", []string{"zh-oscar", "zh-oslo", "zh-python"}},
		{"date:[2024-01-31 TO 2024-02-01}", []string{"zh-card"}},
		{"date:[2024-02-01T00:00:00Z TO 2024-02-01T00:00:01Z]", []string{"en-wire", "zh-lone"}},
		{"date:[2024-02-01T00:00:00Z TO 2024-02-01T00:00:01Z}", []string{"zh-lone"}},
		{"date:>=2024-02-01", []string{"en-funds", "en-guarantee", "en-whatsapp", "en-wire", "zh-lone"}},
		{"date:>2024-02-01", []string{"en-funds", "en-guarantee", "en-whatsapp"}},
		{"date:<2024-01-05", []string{"en-lunch", "en-report", "zh-notebook"}},
		{"date:<=2024-01-04", []string{"en-lunch", "en-report", "zh-notebook"}},
		{"date:[* TO 2024-01-04]", []string{"en-lunch", "en-report", "zh-notebook"}},
		{"date:2024-02-29", []string{"en-guarantee"}},
		{"date:2024-01-05T23:59:59", []string{"zh-oslo"}},
		{"date:2024-01-05T23:59:59.999Z", []string{"zh-oslo"}},
		{"date:2024-01-05T23:59:59.998Z", nil},
		{"date:(2023 OR 2024-03)", []string{"en-lunch", "en-report", "en-whatsapp"}},
		// Numbers and booleans.
		{"size:>=150", []string{"en-python", "en-spam", "en-war", "en-warranty", "ja-tokyo", "meta-only", "zh-mixed"}},
		{"size:[10 TO 30}", []string{"zh-notebook", "zh-python"}},
		{"size:{10 TO 30]", []string{"zh-oscar", "zh-python"}},
		{"size:40", []string{"zh-oslo"}},
		{"flagged:true", []string{"en-guarantee", "en-whatsapp", "en-wire", "zh-oscar"}},
		{"flagged:false date:<2024-01-05", []string{"en-lunch", "en-report", "zh-notebook"}},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			if got := search(t, idx, tt.q, e2eOptions); !slices.Equal(got, tt.want) {
				t.Errorf("search %q\n got %q\nwant %q", tt.q, got, tt.want)
			}
		})
	}
}

// A date without a zone is a day in Options.Location, not in UTC.
func TestEndToEndLocation(t *testing.T) {
	idx := mustOpenIndex(t)
	o := e2eOptions
	o.Location = mustLoadLocation(t, "Asia/Shanghai")
	// 2024-01-01 in Shanghai is [2023-12-31T16:00Z, 2024-01-01T16:00Z).
	want := []string{"en-lunch", "en-report"}
	if got := search(t, idx, "date:2024-01-01", o); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// An explicit zone wins over Location.
	want = []string{"zh-notebook"}
	if got := search(t, idx, "date:[2024-01-04T23:59:59Z TO 2024-01-04T23:59:59Z]", o); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The index tells the right answers from the naive ones: a plain match of
// 奥斯卡 ORs its pairs 奥斯 and 斯卡, and a plain match of 卡 finds the
// character only where it stands alone. Parse must do better than both.
func TestEndToEndNaiveQueriesMiss(t *testing.T) {
	idx := mustOpenIndex(t)
	naive := query.NewMatchQuery("奥斯卡")
	naive.SetField("text")
	want := []string{"zh-both", "zh-oscar", "zh-oslo", "zh-scala"}
	if got := searchQuery(t, idx, naive); !slices.Equal(got, want) {
		t.Errorf("plain match of 奥斯卡 = %q, want the over-match %q", got, want)
	}
	naive = query.NewMatchQuery("卡")
	naive.SetField("text")
	want = []string{"zh-lone"}
	if got := searchQuery(t, idx, naive); !slices.Equal(got, want) {
		t.Errorf("plain match of 卡 = %q, want the under-match %q", got, want)
	}
	mixed := query.NewMatchPhraseQuery("用WeChat")
	mixed.SetField("text")
	if got := searchQuery(t, idx, mixed); len(got) != 0 {
		t.Errorf("phrase 用WeChat = %q, want the miss []", got)
	}
}
