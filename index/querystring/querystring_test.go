package querystring_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/holdfast/holdfast/index/querystring"
)

var testOptions = querystring.Options{
	DefaultField: "text",
	Fields: map[string]querystring.Field{
		"from":        {Index: "from", Kind: querystring.Keyword},
		"participant": {Index: "participants", Kind: querystring.Keyword},
		"subject":     {Index: "subject", Kind: querystring.Text},
		"date":        {Index: "sent_at", Kind: querystring.Date},
		"sent_at":     {Index: "sent_at", Kind: querystring.Date},
		"size":        {Index: "size", Kind: querystring.Number},
		"flagged":     {Index: "flagged", Kind: querystring.Bool},
	},
}

// Builders of the queries Parse is expected to return.

func match(f, v string) query.Query {
	q := query.NewMatchQuery(v)
	q.SetField(f)
	q.SetOperator(query.MatchQueryOperatorAnd)
	return q
}

func phrase(f, v string) query.Query {
	q := query.NewMatchPhraseQuery(v)
	q.SetField(f)
	return q
}

func term(f, v string) query.Query {
	q := query.NewTermQuery(v)
	q.SetField(f)
	return q
}

func wild(f, v string) query.Query {
	q := query.NewWildcardQuery(v)
	q.SetField(f)
	return q
}

// ideo is how a single Han character is found: alone, or as either half of
// an indexed pair.
func ideo(f, c string) query.Query {
	m := query.NewMatchQuery(c)
	m.SetField(f)
	return or(m, wild(f, c+"?"), wild(f, "?"+c))
}

func and(qs ...query.Query) query.Query { return query.NewConjunctionQuery(qs) }

func or(qs ...query.Query) query.Query { return query.NewDisjunctionQuery(qs) }

func boolean(must, mustNot []query.Query) query.Query {
	b := query.NewBooleanQuery(nil, nil, nil)
	b.AddMust(must...)
	b.AddMustNot(mustNot...)
	return b
}

func not(qs ...query.Query) query.Query { return boolean(qs0(query.NewMatchAllQuery()), qs) }

func qs0(qs ...query.Query) []query.Query { return qs }

func numRange(f string, lo, hi *float64, loIncl, hiIncl *bool) query.Query {
	q := query.NewNumericRangeInclusiveQuery(lo, hi, loIncl, hiIncl)
	q.SetField(f)
	return q
}

func flag(f string, v bool) query.Query {
	q := query.NewBoolFieldQuery(v)
	q.SetField(f)
	return q
}

func ptr[T any](v T) *T { return &v }

func mustJSON(t *testing.T, q query.Query) string {
	t.Helper()
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatalf("marshal %#v: %v", q, err)
	}
	return string(b)
}

func TestParseStructure(t *testing.T) {
	x := "text"
	tests := []struct {
		q    string
		want query.Query
	}{
		// Words and phrases on the default field.
		{"hello", match(x, "hello")},
		{"Hello World", and(match(x, "Hello"), match(x, "World"))},
		{"e-mail", match(x, "e-mail")},
		{"10:30", match(x, "10:30")},
		{"会议:明天", phrase(x, "会议:明天")},
		{`re\:budget`, match(x, "re:budget")},
		{`subject:"-foo"`, phrase("subject", "-foo")},
		{"subject:(-foo bar)", boolean(qs0(match("subject", "bar")), qs0(match("subject", "foo")))},
		{`"wire the funds"`, phrase(x, "wire the funds")},
		{`"say \"hi\" \\ now"`, phrase(x, `say "hi" \ now`)},
		{`foo\(bar\)`, match(x, "foo(bar)")},
		{"a\u3000b", and(match(x, "a"), match(x, "b"))}, // ideographic space
		{"ORACLE or and", and(match(x, "ORACLE"), match(x, "or"), match(x, "and"))},
		// CJK: phrases, single characters, lone characters at a word's edge.
		{"奥斯卡", phrase(x, "奥斯卡")},
		{"笔记本", phrase(x, "笔记本")},
		{"Python教程", phrase(x, "Python教程")},
		{"请用WeChat", phrase(x, "请用WeChat")},
		{"안녕하세요", phrase(x, "안녕하세요")},
		{"カタカナ", phrase(x, "カタカナ")},
		{"コーヒー", phrase(x, "コーヒー")},
		{"奥", ideo(x, "奥")},
		{`"卡"`, ideo(x, "卡")},
		{"用WeChat", and(ideo(x, "用"), match(x, "WeChat"))},
		{"用WeChat联系", and(ideo(x, "用"), phrase(x, "WeChat联系"))},
		{"奥a卡", and(ideo(x, "奥"), ideo(x, "卡"), match(x, "a"))},
		{"奥斯 -奥斯卡", boolean(qs0(phrase(x, "奥斯")), qs0(phrase(x, "奥斯卡")))},
		// Wildcards.
		{"*", query.NewMatchAllQuery()},
		{"fo*", wild(x, "fo*")},
		{"FO?BAR", wild(x, "fo?bar")},
		{"* a", match(x, "a")},
		{"* *", query.NewMatchAllQuery()},
		{`foo\*`, match(x, "foo*")},
		// Operators and precedence: NOT > AND > OR.
		{"a b", and(match(x, "a"), match(x, "b"))},
		{"a AND b", and(match(x, "a"), match(x, "b"))},
		{"+a +b", and(match(x, "a"), match(x, "b"))},
		{"a OR b", or(match(x, "a"), match(x, "b"))},
		{"a OR(b)", or(match(x, "a"), match(x, "b"))},
		{"a OR b OR c", or(match(x, "a"), match(x, "b"), match(x, "c"))},
		{"a OR b c", or(match(x, "a"), and(match(x, "b"), match(x, "c")))},
		{"a b OR c", or(and(match(x, "a"), match(x, "b")), match(x, "c"))},
		{"(a OR b) c", and(or(match(x, "a"), match(x, "b")), match(x, "c"))},
		{"a (b c)", and(match(x, "a"), match(x, "b"), match(x, "c"))},
		{"((a))", match(x, "a")},
		{"-spam", not(match(x, "spam"))},
		{"NOT spam", not(match(x, "spam"))},
		{"NOT(spam)", not(match(x, "spam"))},
		{"-a -b", not(match(x, "a"), match(x, "b"))},
		{"a -b", boolean(qs0(match(x, "a")), qs0(match(x, "b")))},
		{"a NOT b -c", boolean(qs0(match(x, "a")), qs0(match(x, "b"), match(x, "c")))},
		{"NOT a b", boolean(qs0(match(x, "b")), qs0(match(x, "a")))},
		{"a (-b)", boolean(qs0(match(x, "a")), qs0(match(x, "b")))},
		{"x -(a OR b)", boolean(qs0(match(x, "x")), qs0(match(x, "a"), match(x, "b")))},
		{"x -(a b)", boolean(qs0(match(x, "x")), qs0(and(match(x, "a"), match(x, "b"))))},
		{"a OR -b", or(match(x, "a"), not(match(x, "b")))},
		{"--a", match(x, "a")},
		{"NOT -a", match(x, "a")},
		{"+-a", not(match(x, "a"))},
		{"* -a", not(match(x, "a"))},
		// Fields: names are case-insensitive, keyword values keep their case.
		{"from:Alice@X.com", term("from", "Alice@X.com")},
		{"FROM:alice", term("from", "alice")},
		{`from:"Alice Smith"`, term("from", "Alice Smith")},
		{"from:*@X.com", wild("from", "*@X.com")},
		{"from:*", wild("from", "*")},
		{`from:a\*b`, term("from", "a*b")},
		{"from:-alice", term("from", "-alice")},
		{"-from:alice", not(term("from", "alice"))},
		{"from:(a OR b) c", and(or(term("from", "a"), term("from", "b")), match(x, "c"))},
		{"participant:(a b)", and(term("participants", "a"), term("participants", "b"))},
		{"from:(a subject:b)", and(term("from", "a"), match("subject", "b"))},
		{"subject:Hello", match("subject", "Hello")},
		{"subject:奥斯卡", phrase("subject", "奥斯卡")},
		{`subject:"a b"`, phrase("subject", "a b")},
		{"subject:Fo*", wild("subject", "fo*")},
		{"subject:*", wild("subject", "*")},
		// Numbers and booleans.
		{"size:5", numRange("size", ptr(5.0), ptr(5.0), ptr(true), ptr(true))},
		{"size:-2.5", numRange("size", ptr(-2.5), ptr(-2.5), ptr(true), ptr(true))},
		{"size:>5", numRange("size", ptr(5.0), nil, ptr(false), nil)},
		{"size:>=5", numRange("size", ptr(5.0), nil, ptr(true), nil)},
		{"size:<5", numRange("size", nil, ptr(5.0), nil, ptr(false))},
		{"size:<=5", numRange("size", nil, ptr(5.0), nil, ptr(true))},
		{"size:[1 TO 10}", numRange("size", ptr(1.0), ptr(10.0), ptr(true), ptr(false))},
		{"size:{1 to 10]", numRange("size", ptr(1.0), ptr(10.0), ptr(false), ptr(true))},
		{"size:{* TO 10]", numRange("size", nil, ptr(10.0), nil, ptr(true))},
		{"size:[5 TO 5]", numRange("size", ptr(5.0), ptr(5.0), ptr(true), ptr(true))},
		{"size:(>5 <10)", and(numRange("size", ptr(5.0), nil, ptr(false), nil), numRange("size", nil, ptr(10.0), nil, ptr(false)))},
		{"flagged:true", flag("flagged", true)},
		{"Flagged:FALSE", flag("flagged", false)},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			got, err := querystring.Parse(tt.q, testOptions)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.q, err)
			}
			if g, w := mustJSON(t, got), mustJSON(t, tt.want); g != w {
				t.Errorf("Parse(%q)\n got %s\nwant %s", tt.q, g, w)
			}
		})
	}
}

// Without a default field, bare words search bleve's default field.
func TestParseNoDefaultField(t *testing.T) {
	got, err := querystring.Parse("hello", querystring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := mustJSON(t, got), mustJSON(t, match("", "hello")); g != w {
		t.Errorf("got %s, want %s", g, w)
	}
}

func TestParseBadOptions(t *testing.T) {
	tests := map[string]map[string]querystring.Field{
		"bad name":     {"sent at": {Index: "sent_at", Kind: querystring.Date}},
		"digit first":  {"1st": {Index: "x", Kind: querystring.Text}},
		"not ascii":    {"发件人": {Index: "from", Kind: querystring.Keyword}},
		"empty index":  {"from": {Kind: querystring.Keyword}},
		"unknown kind": {"from": {Index: "from", Kind: querystring.Kind(42)}},
		"case clash":   {"from": {Index: "a"}, "From": {Index: "b"}},
	}
	for name, fields := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := querystring.Parse("a", querystring.Options{Fields: fields})
			var qe *querystring.Error
			if err == nil || errors.Is(err, querystring.ErrSyntax) || errors.As(err, &qe) {
				t.Errorf("Parse with %v: err = %v, want a non-syntax error", fields, err)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[querystring.Kind]string{
		querystring.Text: "text", querystring.Keyword: "keyword", querystring.Date: "date",
		querystring.Number: "number", querystring.Bool: "bool", querystring.Kind(9): "Kind(9)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
