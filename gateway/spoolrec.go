package gateway

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/journal"
)

// Spool records are opaque to the spool. The gateway frames each as a kind
// byte, a small binary header with what the uploader needs to group and
// seal it without decoding JSON, and the body.
const (
	kindMessage    = 'M' // header + the message's JSON line
	kindAttachment = 'A' // header + the attachment's bytes
)

var errBadSpoolRecord = errors.New("malformed spool record")

// spoolHeader is the decoded header of a spool record.
type spoolHeader struct {
	Kind        byte
	Tenant      string
	ID          string // message id, or attachment sha256
	Version     int
	SHA256      string // message hash; empty for attachments
	Event       string // idempotency key; content type for attachments
	RetainUntil time.Time
	SentAt      time.Time
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeSpoolRecord(h spoolHeader, body []byte) []byte {
	return append(appendSpoolHeader(make([]byte, 0, len(body)+160), h), body...)
}

// appendSpoolHeader appends the kind byte and header of a record, the
// body to follow.
func appendSpoolHeader(b []byte, h spoolHeader) []byte {
	b = append(b, h.Kind)
	b = appendString(b, h.Tenant)
	b = appendString(b, h.ID)
	b = binary.AppendUvarint(b, uint64(h.Version))
	b = appendString(b, h.SHA256)
	b = appendString(b, h.Event)
	b = binary.AppendVarint(b, h.RetainUntil.UnixNano())
	return binary.AppendVarint(b, h.SentAt.UnixNano())
}

type spoolReader struct {
	b   []byte
	err error
}

func (r *spoolReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadSpoolRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *spoolReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errBadSpoolRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *spoolReader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errBadSpoolRecord
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// decodeSpoolRecord splits a spool record into its header and body; body
// aliases data.
func decodeSpoolRecord(data []byte) (spoolHeader, []byte, error) {
	if len(data) == 0 || (data[0] != kindMessage && data[0] != kindAttachment) {
		return spoolHeader{}, nil, errBadSpoolRecord
	}
	r := &spoolReader{b: data[1:]}
	h := spoolHeader{Kind: data[0]}
	h.Tenant = r.str()
	h.ID = r.str()
	h.Version = int(r.uvarint())
	h.SHA256 = r.str()
	h.Event = r.str()
	h.RetainUntil = time.Unix(0, r.varint()).UTC()
	h.SentAt = time.Unix(0, r.varint()).UTC()
	if r.err != nil {
		return spoolHeader{}, nil, r.err
	}
	return h, r.b, nil
}

// messageRecord frames a stamped message for the spool: the header, then
// the message's line encoded straight after it.
func messageRecord(m *archive.Message, event string) ([]byte, error) {
	h := appendSpoolHeader(make([]byte, 0, 192+len(m.Tenant)+len(event)+m.LineSize()), spoolHeader{
		Kind: kindMessage, Tenant: m.Tenant, ID: m.ID, Version: m.Version, SHA256: m.SHA256,
		Event: event, RetainUntil: m.RetainUntil, SentAt: m.SentAt,
	})
	return m.AppendLine(h)
}

// attachmentRecord frames an attachment's bytes for the spool.
func attachmentRecord(b journal.Blob, retainUntil time.Time) []byte {
	return encodeSpoolRecord(spoolHeader{
		Kind: kindAttachment, Tenant: b.Tenant, ID: b.SHA256, Event: b.ContentType, RetainUntil: retainUntil,
	}, b.Data)
}
