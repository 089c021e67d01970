package journal

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"strconv"
	"strings"
)

// maxMIMEDepth bounds how deeply multiparts may nest: deeper is a
// KindSyntax error, not a stack to exhaust.
const maxMIMEDepth = 32

// mimeNode is one entity of a message's MIME tree, its body already freed
// of its transfer encoding.
type mimeNode struct {
	// path is the entity's IMAP part number ("1", "2.1"); "" is the
	// message itself.
	path      string
	header    textproto.MIMEHeader
	mediaType string
	params    map[string]string
	// disposition is "inline", "attachment" or "" (none given).
	disposition string
	// filename is the file name as sent, from Content-Disposition's
	// filename or Content-Type's name (see name).
	filename string
	// data is a leaf's decoded bytes (for message/rfc822, the attached
	// message).
	data     []byte
	children []*mimeNode
}

// field names a header of the entity for an error: "Content-Type" for the
// message itself, "part 2.1 Content-Type" for a part.
func (n *mimeNode) field(header string) string {
	if n.path == "" {
		return header
	}
	return "part " + n.path + " " + header
}

func (n *mimeNode) isMultipart() bool { return strings.HasPrefix(n.mediaType, "multipart/") }

// parseMIME reads the entity with header h and body: its media type, its
// parts when it is a multipart, else its decoded bytes.
func parseMIME(h textproto.MIMEHeader, body []byte, path string, depth int) (*mimeNode, *Error) {
	n := &mimeNode{path: path, header: h}
	if depth > maxMIMEDepth {
		return nil, &Error{Kind: KindSyntax, Field: n.field("Content-Type"), Msg: fmt.Sprintf("MIME parts nest more than %d deep", maxMIMEDepth)}
	}
	if e := n.parseContentType(); e != nil {
		return nil, e
	}
	n.parseDisposition()
	data, e := n.decodeTransfer(body)
	if e != nil {
		return nil, e
	}
	if n.isMultipart() {
		return n, n.parseParts(data, depth)
	}
	n.data = data
	return n, nil
}

func (n *mimeNode) parseContentType() *Error {
	v := strings.TrimSpace(n.header.Get("Content-Type"))
	if v == "" {
		n.mediaType, n.params = "text/plain", map[string]string{}
		return nil
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return &Error{Kind: KindSyntax, Field: n.field("Content-Type"), Msg: fmt.Sprintf("%s %q: %v", n.field("Content-Type"), clip(v), err)}
	}
	n.mediaType, n.params = strings.ToLower(mt), params
	if n.params == nil {
		n.params = map[string]string{}
	}
	return nil
}

// parseDisposition reads Content-Disposition, a hint only: a malformed one
// is ignored rather than refused.
func (n *mimeNode) parseDisposition() {
	if v := n.header.Get("Content-Disposition"); v != "" {
		d, params, err := mime.ParseMediaType(v)
		if err == nil || errors.Is(err, mime.ErrInvalidMediaParameter) {
			n.disposition, n.filename = strings.ToLower(d), params["filename"]
		}
	}
	if n.filename == "" {
		n.filename = n.params["name"]
	}
	n.filename = strings.TrimSpace(n.filename)
}

// name returns the entity's file name decoded: many mailers send it as
// RFC 2047 encoded words, or as raw bytes in the message's charset.
func (n *mimeNode) name(fallback string) (string, *Error) {
	name, err := decodeWords(n.filename, charsetOr(n.params["charset"], fallback))
	if err != nil {
		f := n.field("Content-Disposition")
		return "", &Error{Kind: KindEncoding, Field: f, Msg: fmt.Sprintf("%s file name: %v", f, err)}
	}
	return strings.TrimSpace(name), nil
}

func charsetOr(charset, fallback string) string {
	if charset != "" {
		return charset
	}
	return fallback
}

// decodeTransfer undoes the entity's Content-Transfer-Encoding.
func (n *mimeNode) decodeTransfer(body []byte) ([]byte, *Error) {
	cte := strings.ToLower(strings.TrimSpace(n.header.Get("Content-Transfer-Encoding")))
	bad := func(format string, args ...any) *Error {
		f := n.field("Content-Transfer-Encoding")
		return &Error{Kind: KindEncoding, Field: f, Msg: f + ": " + fmt.Sprintf(format, args...)}
	}
	switch cte {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "base64":
		out, err := decodeBase64(body)
		if err != nil {
			return nil, bad("invalid base64: %v", err)
		}
		return out, nil
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return nil, bad("invalid quoted-printable: %v", err)
		}
		return out, nil
	}
	return nil, bad("unknown transfer encoding %q", clip(cte))
}

// decodeBase64 decodes a base64 body: line breaks and blanks anywhere,
// padding optional.
func decodeBase64(body []byte) ([]byte, error) {
	clean := make([]byte, 0, len(body))
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	clean = bytes.TrimRight(clean, "=")
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	k, err := base64.RawStdEncoding.Decode(out, clean)
	return out[:k], err
}

// parseParts splits a multipart body at its boundary and parses each part.
// Parts are slices of body, not copies: however deeply parts nest, a
// message is held about once in memory (plus what base64 decodes to).
func (n *mimeNode) parseParts(body []byte, depth int) *Error {
	boundary := n.params["boundary"]
	bad := func(format string, args ...any) *Error {
		f := n.field("Content-Type")
		return &Error{Kind: KindSyntax, Field: f, Msg: fmt.Sprintf("%s %s: ", f, n.mediaType) + fmt.Sprintf(format, args...)}
	}
	if boundary == "" {
		return bad("no boundary parameter")
	}
	parts, closed := splitMultipart(body, boundary)
	switch {
	case len(parts) == 0:
		return bad("no part starts with the boundary %q", clip(boundary))
	case !closed:
		return bad("part %d ends before the closing boundary %q", len(parts), clip(boundary))
	}
	for i, part := range parts {
		head, data := splitHeader(part)
		h, err := parseHeader(head)
		path := childPath(n.path, i+1)
		if err != nil {
			return &Error{Kind: KindSyntax, Field: "part " + path + " header", Msg: fmt.Sprintf("part %s header: %v", path, err)}
		}
		child, e := parseMIME(h, data, path, depth+1)
		if e != nil {
			return e
		}
		n.children = append(n.children, child)
	}
	return nil
}

// splitMultipart returns the parts of a multipart body (RFC 2046 5.1.1):
// the text between delimiter lines "--boundary", the line break before a
// delimiter belonging to the delimiter; closed reports whether the close
// delimiter "--boundary--" was found. Preamble and epilogue are dropped.
func splitMultipart(body []byte, boundary string) (parts [][]byte, closed bool) {
	delim := []byte("--" + boundary)
	start := -1 // where the current part's content starts
	for off := 0; off < len(body); {
		i := bytes.Index(body[off:], delim)
		if i < 0 {
			break
		}
		at := off + i
		off = at + len(delim)
		if at > 0 && body[at-1] != '\n' {
			continue
		}
		rest := body[off:]
		isClose := bytes.HasPrefix(rest, []byte("--"))
		if isClose {
			rest = rest[2:]
		}
		eol := bytes.IndexByte(rest, '\n')
		line := rest
		if eol >= 0 {
			line = rest[:eol]
		}
		if len(bytes.Trim(line, " \t\r")) != 0 {
			continue // a line that only starts like the delimiter
		}
		if start >= 0 {
			// An empty part shares its one line break with the delimiter.
			parts = append(parts, body[start:max(start, trimLineBreak(body, at))])
		}
		if isClose {
			return parts, true
		}
		if eol < 0 {
			return parts, false
		}
		start = len(body) - len(rest) + eol + 1
		off = start
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts, false
}

// trimLineBreak is at moved back over the CRLF (or LF) that ends the line
// before it.
func trimLineBreak(b []byte, at int) int {
	if at > 0 && b[at-1] == '\n' {
		at--
		if at > 0 && b[at-1] == '\r' {
			at--
		}
	}
	return at
}

// splitHeader splits an entity at the blank line that ends its header.
func splitHeader(b []byte) (head, body []byte) {
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		return nil, b[2:]
	case bytes.HasPrefix(b, []byte("\n")):
		return nil, b[1:]
	}
	i := bytes.Index(b, []byte("\n\r\n"))
	j := bytes.Index(b, []byte("\n\n"))
	switch {
	case i >= 0 && (j < 0 || i < j):
		return b[:i+1], b[i+3:]
	case j >= 0:
		return b[:j+1], b[j+2:]
	}
	return b, nil
}

// parseHeader reads header fields (folded lines unfolded).
func parseHeader(head []byte) (textproto.MIMEHeader, error) {
	if len(head) == 0 {
		return textproto.MIMEHeader{}, nil
	}
	r := io.MultiReader(bytes.NewReader(head), strings.NewReader("\r\n"))
	h, err := textproto.NewReader(bufio.NewReader(r)).ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	return h, nil
}

func childPath(parent string, i int) string {
	if parent == "" {
		return strconv.Itoa(i)
	}
	return parent + "." + strconv.Itoa(i)
}

// isBodyText reports whether a leaf is the message's text rather than an
// attachment: text/plain or text/html, neither named nor an attachment.
func (n *mimeNode) isBodyText() bool {
	return (n.mediaType == "text/plain" || n.mediaType == "text/html") &&
		n.disposition != "attachment" && n.filename == ""
}

// text returns a text leaf's content as UTF-8 plain text.
func (n *mimeNode) text(fallback string) (string, *Error) {
	s, err := decodeCharset(n.data, n.params["charset"], fallback)
	if err != nil {
		f := n.field("Content-Type")
		return "", &Error{Kind: KindEncoding, Field: f, Msg: fmt.Sprintf("%s: %v", f, err)}
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if n.mediaType == "text/html" {
		s = htmlToText(s)
	}
	return strings.TrimSpace(s), nil
}

// firstCharset is the first charset of a text part that is not ASCII or
// UTF-8: how the message's raw 8-bit header bytes are most likely encoded.
func firstCharset(n *mimeNode) string {
	if c := n.params["charset"]; c != "" && strings.HasPrefix(n.mediaType, "text/") && !asciiLabels[normalizeCharset(c)] {
		if _, err := lookupCharset(c); err == nil {
			return c
		}
	}
	for _, ch := range n.children {
		if c := firstCharset(ch); c != "" {
			return c
		}
	}
	return ""
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const max = 80
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return s[:i] + "…"
		}
	}
	return ""
}
