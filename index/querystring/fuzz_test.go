package querystring_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/holdfast/holdfast/index/querystring"
)

// FuzzParse checks that Parse never panics, that every error it returns is
// an *Error inside the query, and that every query it returns can be
// marshalled (which is how it travels between nodes).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "hello world", `"a \"phrase\""`, "奥斯卡 OR 笔记本", "用WeChat联系", "奥",
		"a OR b c", "-spam", "NOT (a OR -b)", "+a +b", "fo* W?R", "*", "from:(a OR b)",
		"date:[2024-01-01 TO 2024-02-01}", "date:>=2024-01-05T10:00:00+08:00", "size:{1 TO *]",
		"flagged:true", `a \`, "(a", "a)", "foo:bar", "from:", "a OR", "NOT", "date:2024-13-01",
		"size:[10 TO 1]", "\u3000x\u3000", "\xff\xfe", "((((a))))", "a AND OR b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := querystring.Parse(s, testOptions)
		if err != nil {
			var qe *querystring.Error
			if !errors.As(err, &qe) {
				t.Fatalf("Parse(%q) error %v is a %T, want *Error", s, err, err)
			}
			if qe.Pos < 0 || qe.Pos > len(s) {
				t.Fatalf("Parse(%q) error at %d, outside [0, %d]", s, qe.Pos, len(s))
			}
			if !errors.Is(err, querystring.ErrSyntax) || qe.Msg == "" || err.Error() == "" {
				t.Fatalf("Parse(%q) error %v: not ErrSyntax or no message", s, err)
			}
			return
		}
		if q == nil {
			t.Fatalf("Parse(%q) = nil, nil", s)
		}
		if _, err := json.Marshal(q); err != nil {
			t.Fatalf("Parse(%q): marshal: %v", s, err)
		}
	})
}
