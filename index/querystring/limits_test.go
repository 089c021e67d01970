package querystring_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/index/querystring"
)

func limited(l querystring.Limits) querystring.Options {
	o := testOptions
	o.Limits = l
	return o
}

// patterns is n patterns joined by OR: "*a0* OR *a1* OR ...".
func patterns(n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "*a" + strings.Repeat("b", i%7) + string(rune('a'+i%26)) + "*"
	}
	return strings.Join(ps, " OR ")
}

func words(n int) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = "w" + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
	}
	return strings.Join(ws, " OR ")
}

// The queries of issue 11, Found 4, are refused, each naming the limit it
// is over and the limit's value.
func TestParseLimits(t *testing.T) {
	l := querystring.Limits{MaxBytes: 8192, MaxClauses: 256, MaxWildcards: 10, MaxPatternChars: 64, MaxPatternWildcards: 4}
	long := "*" + strings.Repeat("a", 1000) + "*"
	tests := []struct {
		q     string
		limit string
		max   int
		pos   int // byte offset of the clause at fault
	}{
		{patterns(50), querystring.LimitWildcards, 10, nth(patterns(50), " OR ", 10)},
		{patterns(200), querystring.LimitWildcards, 10, -1},
		{long, querystring.LimitPatternChars, 64, 0},
		{"budget " + long, querystring.LimitPatternChars, 64, 7},
		{"from:" + "*" + strings.Repeat("x", 70) + "@example.com", querystring.LimitPatternChars, 64, 5},
		{strings.Repeat("a", 8193), querystring.LimitQueryBytes, 8192, 8192},
		{words(257), querystring.LimitClauses, 256, -1},
		{"(" + words(200) + ") -" + strings.ReplaceAll(words(57), " OR ", " -"), querystring.LimitClauses, 256, -1},
		{strings.Repeat("subject:* ", 11), querystring.LimitWildcards, 10, 108},
		{"*a?e?i?o?u?a?e?i?o?u?a*", querystring.LimitPatternWilds, 4, 0},
		{"x *a*e*i*o*", querystring.LimitPatternWilds, 4, 2},
		// A lone CJK character is searched as patterns, and counts as one.
		{strings.Repeat("卡 ", 11), querystring.LimitWildcards, 10, 40},
		{"卡 " + patterns(10), querystring.LimitWildcards, 10, -1},
		{"用WeChat " + patterns(10), querystring.LimitWildcards, 10, -1},
	}
	for _, tc := range tests {
		_, err := querystring.Parse(tc.q, limited(l))
		var le *querystring.LimitError
		if !errors.As(err, &le) || !errors.Is(err, querystring.ErrLimit) {
			t.Errorf("%.40q: error %v; want a *LimitError", tc.q, err)
			continue
		}
		if errors.Is(err, querystring.ErrSyntax) {
			t.Errorf("%.40q: a query over a limit is not malformed: %v", tc.q, err)
		}
		if le.Limit != tc.limit || le.Max != tc.max || le.Got <= le.Max {
			t.Errorf("%.40q: limit %s max %d got %d; want %s max %d", tc.q, le.Limit, le.Max, le.Got, tc.limit, tc.max)
		}
		if tc.pos >= 0 && le.Pos != tc.pos {
			t.Errorf("%.40q: at byte %d; want %d", tc.q, le.Pos, tc.pos)
		}
		if msg := err.Error(); !strings.Contains(msg, tc.limit) || !strings.Contains(msg, strconv.Itoa(tc.max)) {
			t.Errorf("%.40q: message %q names neither the limit nor its value", tc.q, msg)
		}
	}
}

// nth is the byte offset of the i-th (0-based) part of s split at sep.
func nth(s, sep string, i int) int {
	parts := strings.Split(s, sep)
	return len(strings.Join(parts[:i], sep)) + len(sep)
}

// At its limits a query is accepted: each limit is a maximum, not a
// threshold of refusal.
func TestParseAtLimits(t *testing.T) {
	l := querystring.Limits{MaxBytes: 8192, MaxClauses: 256, MaxWildcards: 10, MaxPatternChars: 64, MaxPatternWildcards: 4}
	for _, q := range []string{
		patterns(10),
		"*" + strings.Repeat("a", 62) + "*",
		"*a?b*c?",
		words(256),
		strings.Repeat("a", 8192),
		"* " + patterns(10), // the lone * is no pattern
		"卡 卡 卡 卡 卡 卡 卡 卡 卡 卡", // each a pattern: ten of them
		"奥斯卡 " + words(200),
	} {
		if _, err := querystring.Parse(q, limited(l)); err != nil {
			t.Errorf("%.40q: %v", q, err)
		}
	}
	// No limits: the zero value.
	if _, err := querystring.Parse(patterns(200)+" "+words(300), testOptions); err != nil {
		t.Errorf("without limits: %v", err)
	}
}

// A pattern of wildcards only would read every word of its field: it is
// refused whatever the limits, with where it is.
func TestParseOnlyWildcards(t *testing.T) {
	for _, tc := range []struct {
		q   string
		pos int
	}{{"**", 0}, {"a ?", 2}, {"*?*", 0}, {"from:??", 5}, {"subject:**", 8}} {
		_, err := querystring.Parse(tc.q, testOptions)
		var qe *querystring.Error
		if !errors.As(err, &qe) || qe.Pos != tc.pos || !strings.Contains(qe.Msg, "only wildcards") {
			t.Errorf("%q: error %v; want one at byte %d about only wildcards", tc.q, err, tc.pos)
		}
	}
}
