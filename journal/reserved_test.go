package journal

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// TestReservedAuditNames: no payload may name the audit trail's tenant or
// platform, whatever the case or the action (Found 2).
func TestReservedAuditNames(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rec := func(tenant, platform, action string) string {
		return `{"platform":"` + platform + `","tenant":"` + tenant + `","source_id":"s1","action":"` + action +
			`","conversation":{"id":"c"},"from":{"id":"u"},"sent_at":"2026-11-30T00:00:00Z","text":"forged"}`
	}
	for _, tc := range []struct{ body, field string }{
		{rec("_audit", "holdfast", "send"), "tenant"},
		{rec("_audit", "generic", "send"), "tenant"},
		{rec("acme", "holdfast", "send"), "platform"},
		{rec("acme", "HoldFast", "send"), "platform"},
		{rec("_audit", "holdfast", "edit"), "tenant"},
		{rec("_audit", "holdfast", "delete"), "tenant"},
	} {
		_, err := DecodeJSON([]byte(tc.body), false, Limits{MaxFieldBytes: 1 << 20}, now)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindInvalid || e.Field != tc.field || !strings.Contains(e.Msg, "reserved") {
			t.Errorf("%s: %v, want a refusal naming %s", tc.body, err, tc.field)
		}
	}
}

// TestFinishRefusesInvalidUTF8: a record a source built with a string that
// is not UTF-8 is refused, naming the field, before it is hashed (Build 1).
func TestFinishRefusesInvalidUTF8(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	base := func() archive.Message {
		return archive.Message{Platform: "generic", SourceID: "s", Conversation: archive.Conversation{ID: "c"},
			From: archive.Participant{ID: "u"}, To: []archive.Participant{{ID: "a"}, {ID: "b"}}, SentAt: now, Text: "hi",
			Attachments: []archive.Attachment{{Name: "f", SHA256: strings.Repeat("0", 64)}}}
	}
	for field, set := range map[string]func(*archive.Message){
		"from.name":           func(m *archive.Message) { m.From.Name = "\xff" },
		"to[1].department":    func(m *archive.Message) { m.To[1].Department = "x\xc3" },
		"text":                func(m *archive.Message) { m.Text = "\xed\xa0\x80" },
		"attachments[0].name": func(m *archive.Message) { m.Attachments[0].Name = "\xfe.pdf" },
		"conversation.name":   func(m *archive.Message) { m.Conversation.Name = "\xe2\x80" },
		"raw":                 func(m *archive.Message) { m.Raw = "{\xff}" },
	} {
		m := base()
		set(&m)
		e := Finish(&m, nil, 3, Limits{}, now)
		if e == nil || e.Kind != KindEncoding || e.Field != field || e.Line != 3 {
			t.Errorf("%s: %v, want an encoding error naming it", field, e)
		}
	}
	m := base()
	m.SetRaw([]byte{0xff, 0xfe}) // bytes kept as base64 are fine
	if e := Finish(&m, nil, 1, Limits{}, now); e != nil {
		t.Fatalf("base64 raw: %v", e)
	}
}

// TestEmailWithInvalidBytesIsArchived: mail is not refused for 8-bit
// header bytes in no declared charset: its fields are made valid, and the
// exact message stays in raw.
func TestEmailWithInvalidBytesIsArchived(t *testing.T) {
	raw := []byte("From: \xff\xfe Sender <a@example.com>\r\nTo: b@example.com\r\nSubject: caf\xe9 \xff\r\nMessage-ID: <x\xff@example.com>\r\nDate: Mon, 20 Jan 2025 10:00:00 +0000\r\n\r\nbody \xfe\r\n")
	rec := mustParseEmail(t, raw, EmailOptions{})
	m := rec.Message
	if f := m.InvalidUTF8(); f != "" {
		t.Fatalf("field %s is not UTF-8", f)
	}
	if got, err := m.RawBytes(); err != nil || string(got) != string(raw) {
		t.Fatalf("raw not kept exactly: %v", err)
	}
}
