package archive

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// A record is lossless only when each of its strings is valid UTF-8: the
// canonical encoding writes an invalid byte as \ufffd (as encoding/json
// does), which decodes to U+FFFD and re-encodes as its three UTF-8 bytes,
// so a record sealed over invalid bytes would never verify once read back.
// The ingest edges refuse such records, naming the field (InvalidUTF8);
// Seal, as the last line of defence, makes every string valid before it
// hashes (makeValid), so that what is hashed is always what a reader gets.

// InvalidUTF8 names the first field of m, in the API's dotted form
// ("from.name", "to[2].id"), that is not valid UTF-8, or "" when every
// string is. A raw payload kept as base64 is bytes, not text, and always
// passes.
func (m *Message) InvalidUTF8() string {
	if m.validUTF8() {
		return ""
	}
	for _, f := range m.stringFields() {
		if !utf8.ValidString(*f.v) {
			return f.name
		}
	}
	return ""
}

// field is one string field of a Message and its API name.
type field struct {
	name string
	v    *string
}

// stringFields lists every string field of m, in declaration order, with a
// pointer to change it in place. Indexed names are only built on demand.
func (m *Message) stringFields() []field {
	fs := []field{
		{"id", &m.ID}, {"action", (*string)(&m.Action)}, {"platform", &m.Platform}, {"tenant", &m.Tenant},
		{"source_id", &m.SourceID}, {"conversation.id", &m.Conversation.ID}, {"conversation.kind", &m.Conversation.Kind},
		{"conversation.name", &m.Conversation.Name}, {"from.id", &m.From.ID}, {"from.name", &m.From.Name},
		{"from.department", &m.From.Department},
	}
	for i := range m.To {
		p := &m.To[i]
		n := "to[" + strconv.Itoa(i) + "]."
		fs = append(fs, field{n + "id", &p.ID}, field{n + "name", &p.Name}, field{n + "department", &p.Department})
	}
	fs = append(fs, field{"type", &m.Type}, field{"text", &m.Text})
	for i := range m.Attachments {
		a := &m.Attachments[i]
		n := "attachments[" + strconv.Itoa(i) + "]."
		fs = append(fs, field{n + "name", &a.Name}, field{n + "content_type", &a.ContentType}, field{n + "sha256", &a.SHA256})
	}
	return append(fs, field{"raw", &m.Raw}, field{"raw_encoding", &m.RawEncoding},
		field{"sha256", &m.SHA256}, field{"policy", &m.Policy})
}

// validUTF8 reports whether every string of m is valid UTF-8, without
// building the field list: the common case on the ingest path.
func (m *Message) validUTF8() bool {
	ok := utf8.ValidString(m.ID) && utf8.ValidString(string(m.Action)) && utf8.ValidString(m.Platform) &&
		utf8.ValidString(m.Tenant) && utf8.ValidString(m.SourceID) && utf8.ValidString(m.Conversation.ID) &&
		utf8.ValidString(m.Conversation.Kind) && utf8.ValidString(m.Conversation.Name) &&
		validParticipant(&m.From) && utf8.ValidString(m.Type) && utf8.ValidString(m.Text) &&
		utf8.ValidString(m.Raw) && utf8.ValidString(m.RawEncoding) && utf8.ValidString(m.SHA256) && utf8.ValidString(m.Policy)
	for i := 0; ok && i < len(m.To); i++ {
		ok = validParticipant(&m.To[i])
	}
	for i := 0; ok && i < len(m.Attachments); i++ {
		a := &m.Attachments[i]
		ok = utf8.ValidString(a.Name) && utf8.ValidString(a.ContentType) && utf8.ValidString(a.SHA256)
	}
	return ok
}

func validParticipant(p *Participant) bool {
	return utf8.ValidString(p.ID) && utf8.ValidString(p.Name) && utf8.ValidString(p.Department)
}

// makeValid makes every string of m valid UTF-8 so that its canonical
// encoding round-trips: a raw text payload that is not UTF-8 moves to
// base64 (its bytes are kept exactly); in any other field each invalid
// byte becomes U+FFFD, as a JSON reader would have made it. Slices shared
// with the caller are copied before they are changed.
func (m *Message) makeValid() {
	if m.validUTF8() {
		return
	}
	if m.RawEncoding == RawText && !utf8.ValidString(m.Raw) {
		m.SetRaw([]byte(m.Raw))
	}
	m.To = append([]Participant(nil), m.To...)
	m.Attachments = append([]Attachment(nil), m.Attachments...)
	for _, f := range m.stringFields() {
		if !utf8.ValidString(*f.v) {
			*f.v = strings.ToValidUTF8(*f.v, "\uFFFD")
		}
	}
}
