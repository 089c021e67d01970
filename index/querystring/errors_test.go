package querystring_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/index/querystring"
)

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("(", 150) + "a" + strings.Repeat(")", 150)
	tests := []struct {
		q   string
		pos int    // byte offset
		msg string // a part of the message
	}{
		// Empty.
		{"", 0, "empty query"},
		{" \t\u3000", 0, "empty query"},
		{`""`, 0, "empty phrase"},
		{`a "  "`, 2, "empty phrase"},
		{"!!!", 0, `nothing to search for in "!!!"`},
		{`\*`, 0, "nothing to search for"},
		// Quotes, escapes and parentheses.
		{`"abc`, 0, "unterminated quote"},
		{`a "abc`, 2, "unterminated quote"},
		{`a "b\"`, 2, "unterminated quote"},
		{`a \`, 2, `nothing to escape after '\'`},
		{"(a", 0, "'(' is never closed"},
		{"a (b (c)", 2, "'(' is never closed"},
		{"a)", 1, "')' has no matching '('"},
		{")", 0, "')' has no matching '('"},
		{"(a))", 3, "')' has no matching '('"},
		{"()", 0, "empty parentheses"},
		{"a ( )", 2, "empty parentheses"},
		{deep, 100, "nested more than 100 levels"},
		{strings.Repeat("NOT ", 150) + "a", 400, "nested more than 100 levels"},
		// Fields.
		{"foo:bar", 0, `unknown field "foo": fields are date, flagged, from, participant, sent_at, size, subject;`},
		{"a http://example.com", 2, `unknown field "http"`},
		{"from:", 5, `missing value after "from:"`},
		{"from: alice", 5, `missing value after "from:"`},
		{"(from:)", 6, `missing value after "from:"`},
		{"Subject:\u3000x", 8, `missing value after "Subject:"`},
		{"subject:-foo", 8, `'-' in a text value neither excludes nor requires: put it before the field (-subject:...)`},
		{"a SUBJECT:+foo", 10, `'+' in a text value`},
		// Operators without operands.
		{"a OR", 2, "OR needs a query after it"},
		{"a OR )", 2, "OR needs a query after it"},
		{"a OR OR b", 2, "OR needs a query after it"},
		{"OR a", 0, "OR needs a query before it"},
		{"(OR a)", 1, "OR needs a query before it"},
		{"a AND", 2, "AND needs a query after it"},
		{"a AND OR b", 2, "AND needs a query after it"},
		{"AND a", 0, "AND needs a query before it"},
		{"NOT", 0, "NOT needs a query after it"},
		{"a NOT", 2, "NOT needs a query after it"},
		{"NOT OR a", 0, "NOT needs a query after it"},
		{"(a NOT)", 3, "NOT needs a query after it"},
		{"-", 0, `'-' needs a query right after it`},
		{"a - b", 2, `'-' needs a query right after it`},
		{"a +", 2, `'+' needs a query right after it`},
		// Dates.
		{"date:2024-13-01", 5, `bad date "2024-13-01"`},
		{"date:2023-02-29", 5, "no such day"},
		{"date:yesterday", 5, "write YYYY, YYYY-MM, YYYY-MM-DD or an RFC 3339 time"},
		{"date:2024-1-5", 5, "bad date"},
		{"date:2024-01-05T25:00Z", 5, "bad date"},
		{"date:2024-01-05T10:00+24:00", 5, "zone offset"},
		{"date:1500", 5, "out of the searchable range"},
		{"date:>=", 7, `missing value after ">="`},
		{"date:> 2024", 6, `missing value after ">"`},
		{"date:>2024-01-32", 6, "bad date"},
		{"date:[2024-01-01 TO 2024-02-30]", 20, `bad date "2024-02-30"`},
		{"date:*", 5, "wildcards work only on text and keyword fields"},
		// Ranges.
		{"date:[2024-02-01 TO 2024-01-01]", 5, "inverted range: 2024-02-01 is after 2024-01-01"},
		{"date:{2024-01-05 TO 2024-01-06}", 5, "empty range"},
		{"date:[2024-01-05 TO 2024-01-05}", 5, "empty range"},
		{"size:[10 TO 1]", 5, "inverted range: 10 is greater than 1"},
		{"size:{5 TO 5]", 5, "empty range"},
		{"date:[2024-01-01 TO 2024-02-01", 5, "unterminated range"},
		{"date:[2024-01-01 2024-02-01]", 5, "a range is written [FROM TO UNTIL]"},
		{"date:[2024 TO 2025 TO 2026]", 5, "a range is written"},
		{"date:[* TO *]", 5, "at least one bound"},
		{"date:[2024-01-01 TO 2024-02-01]x", 31, "put a space after"},
		{"[1 TO 2]", 0, "needs a date or number field in front of it"},
		{">5", 0, "needs a date or number field in front of it"},
		{"from:>a", 5, `"from" is a keyword field: ranges and comparisons work only on date and number fields`},
		{"subject:[a TO b]", 8, `"subject" is a text field`},
		// Numbers, booleans, wildcards.
		{"size:abc", 5, `bad number "abc"`},
		{"size:>x", 6, `bad number "x"`},
		{"size:NaN", 5, "bad number"},
		{"size:[1 TO Inf]", 11, "bad number"},
		{"size:1*", 5, "wildcards work only on text and keyword fields"},
		{"flagged:yes", 8, `"flagged" is a yes/no field: write flagged:true or flagged:false`},
		{"奥斯*", 0, "wildcards do not work on Chinese or Japanese text"},
		{"ab 奥*", 3, "wildcards do not work on Chinese or Japanese text"},
		{"e-mail*", 1, `would be split at '-'`},
		{`foo\*ba*`, 0, "cannot mix escaped and unescaped"},
	}
	for _, tt := range tests {
		name := tt.q
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			q, err := querystring.Parse(tt.q, testOptions)
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want an error", tt.q, mustJSON(t, q))
			}
			var qe *querystring.Error
			if !errors.As(err, &qe) || !errors.Is(err, querystring.ErrSyntax) {
				t.Fatalf("Parse(%q) error %v (%T) is not an *Error matching ErrSyntax", tt.q, err, err)
			}
			if qe.Pos != tt.pos || !strings.Contains(qe.Msg, tt.msg) {
				t.Errorf("Parse(%q) = error at %d %q, want at %d containing %q", tt.q, qe.Pos, qe.Msg, tt.pos, tt.msg)
			}
			want := fmt.Sprintf("query: at character %d: %s", len([]rune(tt.q[:tt.pos]))+1, qe.Msg)
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

// Error() counts characters, not bytes, so that a position is right for a
// user looking at a query with Chinese in it.
func TestErrorCountsCharacters(t *testing.T) {
	_, err := querystring.Parse("奥斯卡 foo:bar", testOptions)
	var qe *querystring.Error
	if !errors.As(err, &qe) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if qe.Pos != len("奥斯卡 ") {
		t.Errorf("Pos = %d, want %d", qe.Pos, len("奥斯卡 "))
	}
	if want := "query: at character 5: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Error() = %q, want prefix %q", err.Error(), want)
	}

	hand := &querystring.Error{Pos: 3, Msg: "oops"}
	if got, want := hand.Error(), "query: at character 4: oops"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(fmt.Errorf("search: %w", hand), querystring.ErrSyntax) {
		t.Error("a wrapped *Error does not match ErrSyntax")
	}
}
