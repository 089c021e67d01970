package journal

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/holdfast/holdfast/archive"
)

// checkIDs refuses what no platform puts in an identifier and what would
// make a record ambiguous to read back: a NUL or another control character
// (C0, DEL, C1) in the tenant, the source id, the conversation id or a
// participant id; and more than maxRecipients recipients (when > 0). The
// error names the field.
func checkIDs(m *archive.Message, maxRecipients int, line int) *Error {
	if maxRecipients > 0 && len(m.To) > maxRecipients {
		return badField(line, "to", "to lists %d recipients, more than the %d allowed (http.max_recipients)", len(m.To), maxRecipients)
	}
	for _, f := range [...]struct{ name, value string }{
		{"tenant", m.Tenant}, {"source_id", m.SourceID}, {"conversation.id", m.Conversation.ID}, {"from.id", m.From.ID},
	} {
		if e := checkID(f.name, f.value, line); e != nil {
			return e
		}
	}
	for i, p := range m.To {
		if e := checkID(fmt.Sprintf("to[%d].id", i), p.ID, line); e != nil {
			return e
		}
	}
	return nil
}

// checkID refuses a control character in the id value of field.
func checkID(field, value string, line int) *Error {
	i := strings.IndexFunc(value, unicode.IsControl)
	if i < 0 {
		return nil
	}
	r := []rune(value[i:])[0]
	return badField(line, field, "%s contains the control character %U at byte %d; ids may not contain NUL or other control characters", field, r, i)
}
