package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// item is one record of a body with the input line it starts on.
type item struct {
	line int
	data []byte
	// scanned says in holds the record, decoded by the scanner, and
	// text is string(data).
	scanned bool
	in      inputMessage
	text    string
}

// splitBody splits an ingest body into records: one JSON object, a JSON
// array of objects, or NDJSON (one object per line). Every error names the
// line it is on.
func splitBody(body []byte, ndjson bool) ([]item, *Error) {
	if !utf8.Valid(body) {
		at := invalidUTF8Offset(body)
		return nil, &Error{Kind: KindEncoding, Line: lineAt(body, at), Msg: fmt.Sprintf("body is not valid UTF-8 at byte %d", at)}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, &Error{Kind: KindEmpty, Line: 1, Msg: "body is empty"}
	}
	if ndjson {
		return splitNDJSON(body)
	}
	if trimmed[0] == '[' {
		return splitArray(body)
	}
	// One object, or NDJSON sent without its content type.
	return splitNDJSON(body)
}

func splitNDJSON(body []byte) ([]item, *Error) {
	items := make([]item, 0, bytes.Count(body, []byte{'\n'})+1)
	line := 0
	for len(body) > 0 {
		line++
		i := bytes.IndexByte(body, '\n')
		var l []byte
		if i < 0 {
			l, body = body, nil
		} else {
			l, body = body[:i], body[i+1:]
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		if in, text, ok := scanRecord(l); ok {
			items = append(items, item{line: line, data: l, scanned: true, in: in, text: text})
			continue
		}
		if err := checkObject(l, line); err != nil {
			return nil, err
		}
		items = append(items, item{line: line, data: l})
	}
	return items, nil
}

func splitArray(body []byte) ([]item, *Error) {
	if items, ok := scanArray(body); ok {
		return items, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return nil, jsonError(body, 0, err)
	}
	var items []item
	for dec.More() {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonError(body, 0, err)
		}
		// InputOffset is before the separating comma and white space.
		for start < int64(len(body)) && (body[start] == ',' || isSpace(body[start])) {
			start++
		}
		line := lineAt(body, start)
		if err := checkObject(raw, line); err != nil {
			return nil, err
		}
		items = append(items, item{line: line, data: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonError(body, 0, err)
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return nil, &Error{Kind: KindSyntax, Line: lineAt(body, dec.InputOffset()), Msg: "unexpected data after the closing ]"}
	}
	if len(items) == 0 {
		return nil, &Error{Kind: KindEmpty, Line: 1, Msg: "array holds no messages"}
	}
	return items, nil
}

// checkObject makes sure data is exactly one well-formed JSON object.
func checkObject(data []byte, line int) *Error {
	t := bytes.TrimSpace(data)
	if !json.Valid(t) {
		var v any
		return jsonError(data, line, json.Unmarshal(t, &v))
	}
	if t[0] != '{' {
		return &Error{Kind: KindSyntax, Line: line, Msg: "each message must be a JSON object"}
	}
	return nil
}

// jsonError turns a decoding error into an APIError naming the line; when
// base > 0 data is one record starting on line base.
func jsonError(data []byte, base int, err error) *Error {
	e := &Error{Kind: KindSyntax, Line: base, Msg: "malformed JSON"}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		at := lineAt(data, syn.Offset)
		if base > 0 {
			at += base - 1
		}
		e.Line, e.Msg = at, "malformed JSON: "+syn.Error()
	case errors.As(err, &typ):
		e.Kind, e.Field = KindInvalid, typ.Field
		e.Msg = fmt.Sprintf("%s must be %s, not %s", fieldName(typ.Field), jsonKind(typ.Type.Kind().String()), typ.Value)
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		e.Kind, e.Field = KindInvalid, f
		e.Msg = fmt.Sprintf("unknown field %q", f)
	case errors.Is(err, errUnexpectedEOF):
		e.Msg = "malformed JSON: unexpected end of input"
	case err != nil:
		e.Msg = "malformed JSON: " + err.Error()
	}
	return e
}

var errUnexpectedEOF = errors.New("unexpected EOF")

func fieldName(f string) string {
	if f == "" {
		return "value"
	}
	return f
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return k
}

func lineAt(b []byte, off int64) int {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	if off < 0 {
		off = 0
	}
	return bytes.Count(b[:off], []byte{'\n'}) + 1
}

func invalidUTF8Offset(b []byte) int64 {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return int64(i)
		}
		i += n
	}
	return int64(len(b))
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
