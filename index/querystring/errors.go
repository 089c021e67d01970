package querystring

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrSyntax is matched, through errors.Is, by every error Parse returns
// for a query the user mistyped. Any other error from Parse is a mistake in
// the Options the caller passed.
var ErrSyntax = errors.New("malformed query")

// Error reports where and why a query is malformed.
//
// Pos is the 0-based byte offset into the query of the character at fault
// (len(query) when something is missing at the end). Error() shows the
// 1-based character (rune) position instead, which is what a user counting
// characters in a query with Chinese text in it expects.
type Error struct {
	Pos int    // 0-based byte offset into the query
	Msg string // what is wrong, in a sentence a user can act on

	char int // 1-based rune position; 0 when the Error was built by hand
}

// Error returns "query: at character N: MSG" with N the 1-based rune position.
func (e *Error) Error() string {
	n := e.char
	if n == 0 {
		n = e.Pos + 1
	}
	return fmt.Sprintf("query: at character %d: %s", n, e.Msg)
}

// Is makes errors.Is(err, ErrSyntax) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrSyntax }

// newError returns an *Error at byte offset pos of query s.
func newError(s string, pos int, format string, args ...any) *Error {
	if pos < 0 {
		pos = 0
	}
	if pos > len(s) {
		pos = len(s)
	}
	return &Error{
		Pos:  pos,
		Msg:  fmt.Sprintf(format, args...),
		char: utf8.RuneCountInString(s[:pos]) + 1,
	}
}
