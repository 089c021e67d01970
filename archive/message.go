package archive

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Action is what happened to a message at one version.
type Action string

// The actions a message version can record. Edits, deletions and recalls
// never remove anything: each is a new version of the same message id.
const (
	ActionSend   Action = "send"
	ActionEdit   Action = "edit"
	ActionDelete Action = "delete"
	ActionRecall Action = "recall"
)

// Valid reports whether a is one of the known actions.
func (a Action) Valid() bool {
	switch a {
	case ActionSend, ActionEdit, ActionDelete, ActionRecall:
		return true
	}
	return false
}

// Conversation kinds.
const (
	KindDirect  = "direct"
	KindGroup   = "group"
	KindChannel = "channel"
)

// Raw payload encodings: RawText keeps the payload as a UTF-8 string, byte
// for byte; RawBase64 is used when the payload is not valid UTF-8.
const (
	RawText   = ""
	RawBase64 = "base64"
)

// Conversation is where a message was exchanged.
type Conversation struct {
	ID   string `json:"id"`
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
}

// Participant is a sender or recipient.
type Participant struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Department string `json:"department,omitempty"`
	External   bool   `json:"external,omitempty"`
}

// Attachment describes a file sent with a message. Its bytes are a WORM
// object of their own, content-addressed by SHA256 (AttachmentKey).
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// Message is one normalised version of one business message, whatever its
// source. It is what a segment stores, one JSON line per Message.
type Message struct {
	ID           string        `json:"id"`
	Version      int           `json:"version"`
	Action       Action        `json:"action"`
	Platform     string        `json:"platform"`
	Tenant       string        `json:"tenant"`
	SourceID     string        `json:"source_id"`
	Conversation Conversation  `json:"conversation"`
	From         Participant   `json:"from"`
	To           []Participant `json:"to,omitempty"`
	SentAt       time.Time     `json:"sent_at"`
	ReceivedAt   time.Time     `json:"received_at"`
	Type         string        `json:"type"`
	Text         string        `json:"text,omitempty"`
	Attachments  []Attachment  `json:"attachments,omitempty"`
	// Raw is the source payload exactly as received: a UTF-8 string, or
	// base64 when RawEncoding says so.
	Raw         string `json:"raw,omitempty"`
	RawEncoding string `json:"raw_encoding,omitempty"`
	// SHA256 is the hex hash of the canonical encoding of every field
	// above it (see Hash).
	SHA256      string    `json:"sha256"`
	RetainUntil time.Time `json:"retain_until"`
	Policy      string    `json:"policy,omitempty"`

	// canonical is the encoding Seal hashed, reused by Line.
	canonical []byte
}

// MessageID is the stable archive id of a source message: the first 16
// bytes, in hex, of SHA-256 over tenant, platform and source id.
func MessageID(tenant, platform, sourceID string) string {
	// The hashed bytes are "len:value;" for each of the three, as
	// fmt.Fprintf(h, "%d:%s;", len(s), s) wrote them.
	var buf [256]byte
	b := buf[:0]
	for _, s := range [...]string{tenant, platform, sourceID} {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
		b = append(b, ';')
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// hashed is the part of a Message covered by its SHA256: everything but the
// hash itself and the retention stamp, which is policy, not content.
type hashed struct {
	ID           string        `json:"id"`
	Version      int           `json:"version"`
	Action       Action        `json:"action"`
	Platform     string        `json:"platform"`
	Tenant       string        `json:"tenant"`
	SourceID     string        `json:"source_id"`
	Conversation Conversation  `json:"conversation"`
	From         Participant   `json:"from"`
	To           []Participant `json:"to,omitempty"`
	SentAt       time.Time     `json:"sent_at"`
	ReceivedAt   time.Time     `json:"received_at"`
	Type         string        `json:"type"`
	Text         string        `json:"text,omitempty"`
	Attachments  []Attachment  `json:"attachments,omitempty"`
	Raw          string        `json:"raw,omitempty"`
	RawEncoding  string        `json:"raw_encoding,omitempty"`
}

// Hash returns the hex SHA-256 of m's canonical encoding: the JSON of its
// content fields in declaration order, times in UTC.
func (m *Message) Hash() string {
	sum := sha256.Sum256(m.canonicalJSON())
	return hex.EncodeToString(sum[:])
}

func (m *Message) canonicalJSON() []byte {
	if b, ok := m.appendCanonical(make([]byte, 0, m.canonicalSize())); ok {
		return b
	}
	return m.reflectCanonical()
}

// reflectCanonical is the canonical encoding by encoding/json itself: the
// definition that appendCanonical reproduces, and the path taken where
// encoding/json fails.
func (m *Message) reflectCanonical() []byte {
	h := hashed{
		ID: m.ID, Version: m.Version, Action: m.Action, Platform: m.Platform,
		Tenant: m.Tenant, SourceID: m.SourceID, Conversation: m.Conversation,
		From: m.From, To: m.To, SentAt: m.SentAt.UTC(), ReceivedAt: m.ReceivedAt.UTC(),
		Type: m.Type, Text: m.Text, Attachments: m.Attachments,
		Raw: m.Raw, RawEncoding: m.RawEncoding,
	}
	b, err := json.Marshal(h)
	if err != nil {
		// Every field is a plain string, number, bool or time: Marshal
		// cannot fail on them.
		panic(fmt.Sprintf("archive: marshal message for hash: %v", err))
	}
	return b
}

// Seal fills the derived fields (ID, SHA256) and normalises times to UTC.
// Call it once every content field is final. A string that is not valid
// UTF-8 is made valid first (see makeValid), so that the hash is that of
// the record a reader decodes; the ingest edges refuse such records
// before they get here (InvalidUTF8).
func (m *Message) Seal() {
	m.makeValid()
	m.ID = MessageID(m.Tenant, m.Platform, m.SourceID)
	m.SentAt = m.SentAt.UTC()
	m.ReceivedAt = m.ReceivedAt.UTC()
	m.RetainUntil = m.RetainUntil.UTC()
	m.canonical = m.canonicalJSON()
	sum := sha256.Sum256(m.canonical)
	m.SHA256 = hex.EncodeToString(sum[:])
}

// Line is m's JSON line as a segment stores it, the same bytes as
// json.Marshal(m). After Seal it reuses the encoding Seal hashed instead of
// encoding the content a second time; a Message changed after Seal must be
// sealed again.
func (m *Message) Line() ([]byte, error) {
	return m.AppendLine(nil)
}

// LineSize is about the length of m's line, for sizing a buffer that
// AppendLine then fills without growing it.
func (m *Message) LineSize() int {
	if m.canonical != nil {
		return len(m.canonical) + tailSize + len(m.Policy)
	}
	return m.canonicalSize() + tailSize + len(m.Policy)
}

// AppendLine appends m's line (see Line) to dst, which it grows at most
// once.
func (m *Message) AppendLine(dst []byte) ([]byte, error) {
	c := m.canonical
	if c == nil {
		c = m.canonicalJSON()
	}
	if need := len(dst) + len(c) + tailSize + len(m.Policy); cap(dst) < need {
		dst = append(make([]byte, 0, need), dst...)
	}
	n0 := len(dst)
	dst = append(dst, c[:len(c)-1]...)
	if out, ok := m.appendTail(dst); ok {
		return out, nil
	}
	tail := struct {
		SHA256      string    `json:"sha256"`
		RetainUntil time.Time `json:"retain_until"`
		Policy      string    `json:"policy,omitempty"`
	}{m.SHA256, m.RetainUntil, m.Policy}
	t, err := json.Marshal(tail)
	if err != nil {
		return nil, fmt.Errorf("encode message %s: %w", m.ID, err)
	}
	dst = append(dst[:n0+len(c)-1], ',')
	return append(dst, t[1:]...), nil
}

// Verify reports ErrCorrupt when m's content no longer matches its SHA256.
func (m *Message) Verify() error {
	if got := m.Hash(); got != m.SHA256 {
		return fmt.Errorf("message %s v%d: hash %s, recorded %s: %w", m.ID, m.Version, got, m.SHA256, ErrCorrupt)
	}
	return nil
}

// SetRaw stores payload as m.Raw, as text when it is valid UTF-8 and as
// base64 otherwise, so that the exact bytes can always be recovered.
func (m *Message) SetRaw(payload []byte) {
	if utf8.Valid(payload) {
		m.Raw, m.RawEncoding = string(payload), RawText
		return
	}
	m.Raw, m.RawEncoding = base64.StdEncoding.EncodeToString(payload), RawBase64
}

// RawBytes returns the exact source payload.
func (m *Message) RawBytes() ([]byte, error) {
	if m.RawEncoding == RawBase64 {
		b, err := base64.StdEncoding.DecodeString(m.Raw)
		if err != nil {
			return nil, fmt.Errorf("decode raw payload of %s: %w", m.ID, err)
		}
		return b, nil
	}
	return []byte(m.Raw), nil
}

// AttachmentKey is the object key of an attachment's bytes: content-addressed
// per tenant, so the same file is stored once however often it is sent.
func AttachmentKey(tenant, sha string) string {
	return "attachments/" + tenant + "/" + sha[:2] + "/" + sha
}
