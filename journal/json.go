package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// DefaultTenant is the tenant of a record that names none.
const DefaultTenant = "default"

// maxFutureSkew is how far in the future a sent_at may be before it is
// refused as a clock error rather than archived with a wrong date.
const maxFutureSkew = 24 * time.Hour

// inputMessage is the normalised record as a journal source sends it: the
// fields of archive.Message that a sender knows. holdfast computes id,
// sha256, received_at, retain_until and policy itself.
type inputMessage struct {
	Platform     string                `json:"platform"`
	Tenant       string                `json:"tenant"`
	SourceID     string                `json:"source_id"`
	Action       string                `json:"action"`
	Version      *int                  `json:"version"`
	Conversation archive.Conversation  `json:"conversation"`
	From         archive.Participant   `json:"from"`
	To           []archive.Participant `json:"to"`
	SentAt       string                `json:"sent_at"`
	Type         string                `json:"type"`
	Text         string                `json:"text"`
	Attachments  []inputAttachment     `json:"attachments"`
	Raw          json.RawMessage       `json:"raw"`
	// RawEncoding "base64" says raw is a base64 string of the payload's
	// exact bytes (for payloads that are not UTF-8).
	RawEncoding string `json:"raw_encoding"`

	// Set by holdfast: accepted only so that the error can say so.
	ID          *json.RawMessage `json:"id"`
	SHA256      *json.RawMessage `json:"sha256"`
	ReceivedAt  *json.RawMessage `json:"received_at"`
	RetainUntil *json.RawMessage `json:"retain_until"`
	Policy      *json.RawMessage `json:"policy"`
}

type inputAttachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        *int64 `json:"size"`
	SHA256      string `json:"sha256"`
	// Data is the file's bytes in base64; when present they are stored
	// as a WORM object of their own.
	Data *string `json:"data"`
}

// Blob is an attachment's bytes, sent inline, waiting to be stored as a WORM
// object of its own.
type Blob struct {
	Tenant      string
	SHA256      string
	ContentType string
	Data        []byte
}

// namePattern matches a platform or tenant name: what
// `^[a-z0-9][a-z0-9_.-]{0,63}$` matches, checked without a regexp engine
// on every record.
var namePattern namePat

type namePat struct{}

// MatchString reports whether s is 1 to 64 bytes of [a-z0-9_.-] starting
// with [a-z0-9].
func (namePat) MatchString(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '_' || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

var hexPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Record is one message decoded from a payload: its content is final, but
// it is not yet versioned, stamped with retention or sealed.
type Record struct {
	// Line is the input line the record starts on.
	Line    int
	Message archive.Message
	// Blobs are the attachment bytes sent inline.
	Blobs []Blob
	// ExplicitVersion is true when the sender gave the version.
	ExplicitVersion bool
}

// Limits bound what one record may hold.
type Limits struct {
	// MaxFieldBytes bounds each text field (text, names, ids), and the
	// raw payload when MaxRawBytes is 0.
	MaxFieldBytes int64
	// MaxRawBytes bounds a raw payload sent explicitly (an imported mail
	// with its attachments is larger than any field).
	MaxRawBytes int64
	// MaxRecipients bounds a message's "to" list (http.max_recipients);
	// 0 means no bound.
	MaxRecipients int
}

// DecodeJSON decodes holdfast's own record format: one JSON object, a JSON
// array of them, or NDJSON (one per line; ndjson forces it). Every record is
// validated; the first problem is returned as an *Error naming the field and
// line, and then no record is returned at all: a body is accepted whole or
// not at all. now is the reception time, for the future-date check.
func DecodeJSON(body []byte, ndjson bool, lim Limits, now time.Time) ([]Record, error) {
	items, e := splitBody(body, ndjson)
	if e != nil {
		return nil, e
	}
	recs := make([]Record, len(items))
	for i, it := range items {
		m, blobs, version, e := parseInput(it, lim, now)
		if e != nil {
			return nil, e
		}
		recs[i] = Record{Line: it.line, Message: m, Blobs: blobs}
		if version != nil {
			recs[i].ExplicitVersion, recs[i].Message.Version = true, *version
		}
	}
	return recs, nil
}

func parseInput(it item, lim Limits, now time.Time) (archive.Message, []Blob, *int, *Error) {
	in := it.in
	if !it.scanned {
		dec := json.NewDecoder(bytes.NewReader(it.data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			e := jsonError(it.data, it.line, err)
			e.Line = it.line
			return archive.Message{}, nil, nil, e
		}
	}
	l := it.line
	for _, f := range [...]struct {
		name string
		v    *json.RawMessage
	}{{"id", in.ID}, {"sha256", in.SHA256}, {"received_at", in.ReceivedAt}, {"retain_until", in.RetainUntil}, {"policy", in.Policy}} {
		if f.v != nil {
			return archive.Message{}, nil, nil, badField(l, f.name, "%s is set by holdfast and must not be sent", f.name)
		}
	}
	maxRaw := lim.MaxRawBytes
	if maxRaw <= 0 {
		maxRaw = lim.MaxFieldBytes
	}
	if e := checkSizes(&in, maxRaw, l); e != nil {
		return archive.Message{}, nil, nil, e
	}
	m := archive.Message{
		Platform: in.Platform, Tenant: in.Tenant, SourceID: in.SourceID,
		Action: archive.Action(in.Action), Conversation: in.Conversation, From: in.From, To: in.To,
		Type: in.Type, Text: in.Text,
	}
	switch {
	case in.Version != nil && *in.Version < 0:
		return m, nil, nil, badField(l, "version", "version must not be negative")
	case in.Version != nil && (in.Action == "" || in.Action == string(archive.ActionSend)) && *in.Version != 0:
		return m, nil, nil, badField(l, "version", "a send is version 0; edits, deletions and recalls are 1 and later")
	case in.Version != nil && in.Action != "" && in.Action != string(archive.ActionSend) && *in.Version == 0:
		return m, nil, nil, badField(l, "version", "version 0 is the original send; a %s is version 1 or later", in.Action)
	}
	if in.SentAt != "" {
		sent, err := time.Parse(time.RFC3339Nano, in.SentAt)
		if err != nil {
			return m, nil, nil, badField(l, "sent_at", "sent_at %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", in.SentAt)
		}
		m.SentAt = sent
	}
	blobs, e := attachments(&m, in.Attachments, l)
	if e != nil {
		return m, nil, nil, e
	}
	switch {
	case (len(in.Raw) == 0 || string(in.Raw) == "null") && it.text != "":
		// The scanner's copy of the record: valid UTF-8, as splitBody
		// checked the whole body, so SetRaw would keep it as text.
		m.Raw, m.RawEncoding = it.text, archive.RawText
	case len(in.Raw) == 0 || string(in.Raw) == "null":
		m.SetRaw(it.data)
	case in.Raw[0] == '"':
		var s string
		if err := json.Unmarshal(in.Raw, &s); err != nil {
			return m, nil, nil, badField(l, "raw", "raw is not a valid JSON string")
		}
		switch in.RawEncoding {
		case archive.RawText:
			m.SetRaw([]byte(s))
		case archive.RawBase64:
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return m, nil, nil, badField(l, "raw", "raw is not valid base64 (raw_encoding is base64)")
			}
			m.SetRaw(b)
		default:
			return m, nil, nil, badField(l, "raw_encoding", "raw_encoding %q is not base64", in.RawEncoding)
		}
	default:
		m.SetRaw(in.Raw)
	}
	if e := Finish(&m, nil, l, lim, now); e != nil {
		return m, nil, nil, e
	}
	return m, blobs, in.Version, nil
}

// checkSizes bounds the raw payload a sender gives explicitly; Finish
// bounds every other field.
func checkSizes(in *inputMessage, max int64, line int) *Error {
	if int64(len(in.Raw)) > max {
		return &Error{Kind: KindTooLarge, Field: "raw", Line: line,
			Msg: fmt.Sprintf("raw is %d bytes, more than the %d allowed", len(in.Raw), max)}
	}
	return nil
}

func attachments(m *archive.Message, in []inputAttachment, line int) ([]Blob, *Error) {
	var blobs []Blob
	for i, a := range in {
		f := fmt.Sprintf("attachments[%d]", i)
		if strings.TrimSpace(a.Name) == "" {
			return nil, badField(line, f+".name", "an attachment needs a name")
		}
		att := archive.Attachment{Name: a.Name, ContentType: a.ContentType, SHA256: strings.ToLower(a.SHA256)}
		if a.Data != nil {
			data, err := base64.StdEncoding.DecodeString(*a.Data)
			if err != nil {
				return nil, badField(line, f+".data", "attachment data is not valid base64: %v", err)
			}
			sum := sha256.Sum256(data)
			sha := hex.EncodeToString(sum[:])
			if att.SHA256 != "" && att.SHA256 != sha {
				return nil, badField(line, f+".sha256", "sha256 %s does not match the data (%s)", att.SHA256, sha)
			}
			if a.Size != nil && *a.Size != int64(len(data)) {
				return nil, badField(line, f+".size", "size %d does not match the data (%d bytes)", *a.Size, len(data))
			}
			att.SHA256, att.Size = sha, int64(len(data))
			blobs = append(blobs, Blob{Tenant: m.Tenant, SHA256: sha, ContentType: a.ContentType, Data: data})
		} else {
			if !hexPattern.MatchString(att.SHA256) {
				return nil, badField(line, f+".sha256", "an attachment without data needs its sha256 (64 hex digits)")
			}
			if a.Size == nil || *a.Size < 0 {
				return nil, badField(line, f+".size", "an attachment without data needs its size")
			}
			att.Size = *a.Size
		}
		m.Attachments = append(m.Attachments, att)
	}
	return blobs, nil
}
