package journal

import (
	"fmt"
	"strings"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// Finish applies the defaults every record gets and validates what every
// record must have, whatever its source: the one validator of the package.
// Sources fill m from their native payload, then call Finish with the
// payload's bytes (kept as m.Raw when m.Raw is still empty) and the input
// line (or item number) that the error should name.
func Finish(m *archive.Message, raw []byte, line int, lim Limits, now time.Time) *Error {
	m.Platform = strings.ToLower(m.Platform)
	if m.Tenant == "" {
		m.Tenant = DefaultTenant
	}
	if m.Action == "" {
		m.Action = archive.ActionSend
	}
	if m.Type == "" {
		m.Type = "text"
	}
	if e := checkMessageSizes(m, lim.MaxFieldBytes, line); e != nil {
		return e
	}
	if e := checkIDs(m, lim.MaxRecipients, line); e != nil {
		return e
	}
	l := line
	switch {
	case m.Platform == "":
		return badField(l, "platform", "platform is required (e.g. wecom, slack, email, generic)")
	case !namePattern.MatchString(m.Platform):
		return badField(l, "platform", "platform %q must be lowercase letters, digits, '_', '.' or '-'", m.Platform)
	case !namePattern.MatchString(m.Tenant) && m.Tenant != AuditTenant:
		return badField(l, "tenant", "tenant %q must be lowercase letters, digits, '_', '.' or '-' (at most 64)", m.Tenant)
	case reserved(m.Tenant, m.Platform, l) != nil:
		return reserved(m.Tenant, m.Platform, l)
	case strings.TrimSpace(m.SourceID) == "":
		return badField(l, "source_id", "source_id is required: the platform's own message id")
	case !m.Action.Valid():
		return badField(l, "action", "action %q is not one of send, edit, delete, recall", m.Action)
	case strings.TrimSpace(m.Conversation.ID) == "":
		return badField(l, "conversation.id", "conversation.id is required")
	case m.Conversation.Kind != "" && m.Conversation.Kind != archive.KindDirect && m.Conversation.Kind != archive.KindGroup && m.Conversation.Kind != archive.KindChannel:
		return badField(l, "conversation.kind", "conversation.kind %q is not one of direct, group, channel", m.Conversation.Kind)
	case strings.TrimSpace(m.From.ID) == "":
		return badField(l, "from.id", "from.id is required: who sent the message")
	}
	for i, p := range m.To {
		if strings.TrimSpace(p.ID) == "" {
			return badField(l, fmt.Sprintf("to[%d].id", i), "every recipient needs an id")
		}
	}
	if m.Conversation.Kind == "" {
		m.Conversation.Kind = archive.KindGroup
		if len(m.To) == 1 {
			m.Conversation.Kind = archive.KindDirect
		}
	}
	if m.SentAt.IsZero() {
		return badField(l, "sent_at", "sent_at is required (RFC 3339, e.g. 2026-01-02T15:04:05Z)")
	}
	if m.SentAt.After(now.Add(maxFutureSkew)) {
		return badField(l, "sent_at", "sent_at %s is more than a day in the future", m.SentAt.Format(time.RFC3339))
	}
	m.SentAt = m.SentAt.UTC()
	if m.Action == archive.ActionSend && strings.TrimSpace(m.Text) == "" && len(m.Attachments) == 0 {
		return badField(l, "text", "a send needs text or at least one attachment")
	}
	if m.Raw == "" && len(raw) > 0 {
		m.SetRaw(raw)
	}
	if f := m.InvalidUTF8(); f != "" {
		return invalidUTF8(f, l)
	}
	return nil
}

func checkMessageSizes(m *archive.Message, max int64, line int) *Error {
	if max <= 0 {
		return nil
	}
	// In a fixed order, so that the field named is the same every time.
	for _, f := range [...]struct{ name, value string }{
		{"platform", m.Platform}, {"tenant", m.Tenant}, {"source_id", m.SourceID}, {"text", m.Text},
		{"type", m.Type}, {"conversation.id", m.Conversation.ID}, {"conversation.name", m.Conversation.Name},
		{"from.id", m.From.ID}, {"from.name", m.From.Name},
	} {
		if int64(len(f.value)) > max {
			return &Error{Kind: KindTooLarge, Field: f.name, Line: line,
				Msg: fmt.Sprintf("%s is %d bytes, more than the %d allowed (http.max_field_bytes)", f.name, len(f.value), max)}
		}
	}
	return nil
}
