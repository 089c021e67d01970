package journal

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// EncodeInput encodes a decoded record in holdfast's own input format (what
// POST /v1/messages takes), so that a client-side importer can send what
// it parsed: DecodeJSON of the result gives the record back. Inline
// attachment bytes travel as base64 data; a raw payload that is not UTF-8
// travels as base64 with raw_encoding.
func EncodeInput(r *Record) ([]byte, error) {
	m := &r.Message
	type attachment struct {
		Name        string  `json:"name"`
		ContentType string  `json:"content_type,omitempty"`
		Size        int64   `json:"size"`
		SHA256      string  `json:"sha256"`
		Data        *string `json:"data,omitempty"`
	}
	in := struct {
		Platform     string                `json:"platform"`
		Tenant       string                `json:"tenant"`
		SourceID     string                `json:"source_id"`
		Action       archive.Action        `json:"action"`
		Version      *int                  `json:"version,omitempty"`
		Conversation archive.Conversation  `json:"conversation"`
		From         archive.Participant   `json:"from"`
		To           []archive.Participant `json:"to,omitempty"`
		SentAt       string                `json:"sent_at"`
		Type         string                `json:"type"`
		Text         string                `json:"text,omitempty"`
		Attachments  []attachment          `json:"attachments,omitempty"`
		Raw          string                `json:"raw,omitempty"`
		RawEncoding  string                `json:"raw_encoding,omitempty"`
	}{
		Platform: m.Platform, Tenant: m.Tenant, SourceID: m.SourceID, Action: m.Action,
		Conversation: m.Conversation, From: m.From, To: m.To, SentAt: m.SentAt.UTC().Format(time.RFC3339Nano),
		Type: m.Type, Text: m.Text, Raw: m.Raw, RawEncoding: m.RawEncoding,
	}
	if r.ExplicitVersion {
		v := m.Version
		in.Version = &v
	}
	blobs := map[string][]byte{}
	for _, b := range r.Blobs {
		blobs[b.SHA256] = b.Data
	}
	for _, a := range m.Attachments {
		att := attachment{Name: a.Name, ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256}
		if data, ok := blobs[a.SHA256]; ok {
			s := base64.StdEncoding.EncodeToString(data)
			att.Data = &s
		}
		in.Attachments = append(in.Attachments, att)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode record %s: %w", m.SourceID, err)
	}
	return b, nil
}
