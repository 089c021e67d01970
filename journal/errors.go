package journal

import "fmt"

// ErrorKind classifies what is wrong with a payload.
type ErrorKind int

// The kinds of payload error.
const (
	// KindSyntax: the payload is not well-formed (JSON, XML, MIME).
	KindSyntax ErrorKind = iota + 1
	// KindInvalid: well-formed, but a field is missing, of the wrong type
	// or has a value the format does not allow.
	KindInvalid
	// KindEncoding: the bytes are not valid in their character set.
	KindEncoding
	// KindTooLarge: a field is over its size limit.
	KindTooLarge
	// KindEmpty: there is nothing to archive.
	KindEmpty
)

// Error is a problem with a payload that its sender must fix: it names the
// field and the input line where they can find it.
type Error struct {
	Kind  ErrorKind
	Field string
	Line  int
	Msg   string
}

func (e *Error) Error() string {
	s := "journal: " + e.Msg
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	if e.Line > 0 {
		s += fmt.Sprintf(" (line %d)", e.Line)
	}
	return s
}

func badField(line int, field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Line: line, Msg: fmt.Sprintf(format, args...)}
}
