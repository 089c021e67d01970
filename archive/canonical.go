package archive

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The canonical encoding of a Message is, and must stay, byte for byte what
// encoding/json produces for the hashed struct: stored segments are
// verified against hashes of that form. This file writes those bytes
// directly, in one pass and without reflection; canonical_test.go checks
// it against json.Marshal on the corpus, on edge cases and under fuzzing.
// Where encoding/json would fail (a time whose year has not four digits),
// the append functions report false and the caller takes the reflective
// path, so that even the failures stay those of encoding/json.

// jsonSafe[b] is true for the ASCII bytes encoding/json copies as they are
// when it escapes HTML (its htmlSafeSet): everything from space up, DEL
// included, except '"', '\\', '<', '>' and '&'.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := ' '; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

const lowerHex = "0123456789abcdef"

// appendJSONString appends s as encoding/json encodes a string with HTML
// escaping on: <, > and & as \u003c, \u003e and \u0026, U+2028 and U+2029
// escaped, control characters as \b \f \n \r \t or \u00XX, and each byte
// of invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		return appendInvalidJSONString(b, s)
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			start = i + 1
			continue
		}
		// In valid UTF-8 only U+2028 and U+2029 (E2 80 A8, E2 80 A9) are
		// escaped; every other byte of a multi-byte rune is copied.
		if c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8 {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', lowerHex[s[i+2]&0xF])
			i += 2
			start = i + 1
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendEscape appends the escape of an ASCII byte that encoding/json does
// not copy as it is.
func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '\\', '"':
		return append(b, '\\', c)
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xF])
}

// appendInvalidJSONString is appendJSONString for a string that is not
// valid UTF-8, rune by rune as encoding/json goes.
func appendInvalidJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !jsonSafe[c] {
				b = append(b, s[start:i]...)
				b = appendEscape(b, c)
				start = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', lowerHex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds, quoted) and reports false where MarshalJSON fails: a year
// outside 0..9999 or a zone offset it refuses.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	b = append(b, '"')
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	// The checks of time.Time.appendStrictRFC3339.
	switch {
	case b[n0+len("9999")] != '-':
		return b, false
	case b[len(b)-1] != 'Z':
		c := b[len(b)-len("Z07:00")]
		h := 10*(b[len(b)-len("07:00")]-'0') + (b[len(b)-len("7:00")] - '0')
		if ('0' <= c && c <= '9') || h >= 24 {
			return b, false
		}
	}
	return append(b, '"'), true
}

// appendField appends a string field: key is its opening, as `,"name":`.
func appendField(b []byte, key, v string) []byte {
	return appendJSONString(append(b, key...), v)
}

// appendOptional appends a string field tagged omitempty: nothing when v
// is empty.
func appendOptional(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendField(b, key, v)
}

// appendParticipant appends p as encoding/json encodes a Participant.
func appendParticipant(b []byte, p *Participant) []byte {
	b = appendField(b, `{"id":`, p.ID)
	b = appendOptional(b, `,"name":`, p.Name)
	b = appendOptional(b, `,"department":`, p.Department)
	if p.External {
		b = append(b, `,"external":true`...)
	}
	return append(b, '}')
}

// appendAttachment appends a as encoding/json encodes an Attachment.
func appendAttachment(b []byte, a *Attachment) []byte {
	b = appendField(b, `{"name":`, a.Name)
	b = appendOptional(b, `,"content_type":`, a.ContentType)
	b = strconv.AppendInt(append(b, `,"size":`...), a.Size, 10)
	b = appendField(b, `,"sha256":`, a.SHA256)
	return append(b, '}')
}

// appendArray appends a slice field tagged omitempty, opened by key (as
// `,"to":[`): nothing when it is empty.
func appendArray[T any](b []byte, key string, items []T, appendItem func([]byte, *T) []byte) []byte {
	if len(items) == 0 {
		return b
	}
	b = append(b, key...)
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, &items[i])
	}
	return append(b, ']')
}

// appendCanonical appends m's canonical encoding: the JSON of its content
// fields in declaration order, times in UTC, exactly as json.Marshal
// encodes the hashed struct. It reports false when json.Marshal would fail.
func (m *Message) appendCanonical(b []byte) ([]byte, bool) {
	var ok bool
	b = appendField(b, `{"id":`, m.ID)
	b = strconv.AppendInt(append(b, `,"version":`...), int64(m.Version), 10)
	b = appendField(b, `,"action":`, string(m.Action))
	b = appendField(b, `,"platform":`, m.Platform)
	b = appendField(b, `,"tenant":`, m.Tenant)
	b = appendField(b, `,"source_id":`, m.SourceID)
	b = appendField(b, `,"conversation":{"id":`, m.Conversation.ID)
	b = appendOptional(b, `,"kind":`, m.Conversation.Kind)
	b = appendOptional(b, `,"name":`, m.Conversation.Name)
	b = appendParticipant(append(b, `},"from":`...), &m.From)
	b = appendArray(b, `,"to":[`, m.To, appendParticipant)
	if b, ok = appendJSONTime(append(b, `,"sent_at":`...), m.SentAt.UTC()); !ok {
		return b, false
	}
	if b, ok = appendJSONTime(append(b, `,"received_at":`...), m.ReceivedAt.UTC()); !ok {
		return b, false
	}
	b = appendField(b, `,"type":`, m.Type)
	b = appendOptional(b, `,"text":`, m.Text)
	b = appendArray(b, `,"attachments":[`, m.Attachments, appendAttachment)
	b = appendOptional(b, `,"raw":`, m.Raw)
	b = appendOptional(b, `,"raw_encoding":`, m.RawEncoding)
	return append(b, '}'), true
}

// appendTail appends the fields of a Message line after its content, from
// the comma on: sha256, retain_until (not converted to UTC, as json.Marshal
// leaves it) and policy. It reports false when json.Marshal would fail.
func (m *Message) appendTail(b []byte) ([]byte, bool) {
	var ok bool
	b = appendField(b, `,"sha256":`, m.SHA256)
	if b, ok = appendJSONTime(append(b, `,"retain_until":`...), m.RetainUntil); !ok {
		return b, false
	}
	return append(appendOptional(b, `,"policy":`, m.Policy), '}'), true
}

// canonicalSize estimates the length of m's canonical encoding, so that
// it is built in one allocation: the strings, a margin for escapes (a raw
// JSON payload escapes every quote) and the keys.
func (m *Message) canonicalSize() int {
	n := 320 + len(m.ID) + len(m.Action) + len(m.Platform) + len(m.Tenant) + len(m.SourceID) +
		len(m.Conversation.ID) + len(m.Conversation.Kind) + len(m.Conversation.Name) +
		len(m.From.ID) + len(m.From.Name) + len(m.From.Department) +
		len(m.Type) + len(m.Text) + len(m.Raw) + len(m.Raw)/4 + len(m.RawEncoding)
	for i := range m.To {
		p := &m.To[i]
		n += 48 + len(p.ID) + len(p.Name) + len(p.Department)
	}
	for i := range m.Attachments {
		a := &m.Attachments[i]
		n += 120 + len(a.Name) + len(a.ContentType) + len(a.SHA256)
	}
	return n
}

// tailSize bounds the length of appendTail's output for typical values.
const tailSize = 160
