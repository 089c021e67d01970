package gateway

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/holdfast/holdfast/journal"
)

// auditWriterKey marks the context of the audit trail's own writes: the
// only ones accept lets into the audit tenant or platform.
type auditWriterKey struct{}

func withAuditWriter(ctx context.Context) context.Context {
	return context.WithValue(ctx, auditWriterKey{}, true)
}

func isAuditWriter(ctx context.Context) bool {
	v, _ := ctx.Value(auditWriterKey{}).(bool)
	return v
}

// admit is accept's own check of what every source hands it, behind the
// sources' validation (journal.Finish): a record that is not valid UTF-8
// would not verify once stored, and only the audit trail writes the audit
// tenant or platform.
func admit(ctx context.Context, decoded []journal.Record) *APIError {
	audit := isAuditWriter(ctx)
	for i := range decoded {
		m, line := &decoded[i].Message, decoded[i].Line
		if f := m.InvalidUTF8(); f != "" {
			return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidUTF8, Field: f, Line: line,
				Message: f + " is not valid UTF-8"}
		}
		if audit {
			continue
		}
		switch {
		case m.Tenant == AuditTenant:
			return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "tenant", Line: line,
				Message: fmt.Sprintf("tenant %s is reserved for holdfast's own audit trail", AuditTenant)}
		case strings.EqualFold(m.Platform, AuditPlatform):
			return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "platform", Line: line,
				Message: fmt.Sprintf("platform %s is reserved for holdfast's own audit trail", AuditPlatform)}
		}
	}
	return nil
}

// escape makes every string of ev valid UTF-8 without losing a byte: a
// value that is not valid UTF-8 (a URL path, query or header as a client
// sent it) is replaced by its Go-quoted form, "\xff\xfe", and its field
// named in ev.Escaped by its JSON name. Every string field is covered,
// those added later included; maps (Query) are copied, not changed in
// place.
func (ev *AuditEvent) escape() {
	v := reflect.ValueOf(ev).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, name := v.Field(i), jsonName(t.Field(i))
		switch {
		case name == "" || !f.CanSet():
		case f.Kind() == reflect.String && !utf8.ValidString(f.String()):
			f.SetString(strconv.Quote(f.String()))
			ev.Escaped = append(ev.Escaped, name)
		case f.Kind() == reflect.Map && !f.IsNil() && f.Type().Key().Kind() == reflect.String:
			if out, ok := escapeValue(f.Interface(), name, &ev.Escaped).(map[string]any); ok && f.Type() == reflect.TypeOf(out) {
				f.Set(reflect.ValueOf(out))
			}
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String && name != "escaped":
			if out, ok := escapeValue(f.Interface(), name, &ev.Escaped).([]string); ok && f.Type() == reflect.TypeOf(out) {
				f.Set(reflect.ValueOf(out))
			}
		}
	}
	sort.Strings(ev.Escaped)
}

// jsonName is the name of a struct field in its JSON ("" when it is not
// encoded).
func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if tag == "-" || !f.IsExported() {
		return ""
	}
	if name, _, _ := strings.Cut(tag, ","); name != "" {
		return name
	}
	return f.Name
}

// escapeValue is escape for a value of a JSON-like tree (strings, slices,
// maps): it returns v with every invalid string quoted, noting its path.
func escapeValue(v any, path string, escaped *[]string) any {
	quote := func(s, path string) string {
		if utf8.ValidString(s) {
			return s
		}
		*escaped = append(*escaped, path)
		return strconv.Quote(s)
	}
	switch x := v.(type) {
	case string:
		return quote(x, path)
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = quote(s, path+"["+strconv.Itoa(i)+"]")
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = escapeValue(e, path+"["+strconv.Itoa(i)+"]", escaped)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			qk := k
			if !utf8.ValidString(k) {
				qk = strconv.Quote(k)
				*escaped = append(*escaped, path+"."+qk)
			}
			out[qk] = escapeValue(e, path+"."+qk, escaped)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		return escapeValue(out, path, escaped)
	}
	return v
}

// quoteInvalid returns p with every string that is not valid UTF-8
// Go-quoted, and the names of those parameters ("query.q",
// "query.platform[0]"), before p is turned into the audit record's query
// (a JSON round trip would replace the bytes with U+FFFD).
func (p searchParams) quoteInvalid() (searchParams, []string) {
	var escaped []string
	one := func(name string, s *string) {
		if !utf8.ValidString(*s) {
			*s = strconv.Quote(*s)
			escaped = append(escaped, "query."+name)
		}
	}
	many := func(name string, ss *[]string) {
		var out []string
		for i, s := range *ss {
			if !utf8.ValidString(s) {
				if out == nil {
					out = append([]string(nil), *ss...)
				}
				out[i] = strconv.Quote(s)
				escaped = append(escaped, "query."+name+"["+strconv.Itoa(i)+"]")
			}
		}
		if out != nil {
			*ss = out
		}
	}
	one("q", &p.Q)
	one("from", &p.From)
	one("to", &p.To)
	one("versions", &p.Versions)
	one("sort", &p.Sort)
	one("cursor", &p.Cursor)
	many("platform", &p.Platform)
	many("conversation", &p.Conversation)
	many("participant", &p.Participant)
	many("sender", &p.Sender)
	many("action", &p.Action)
	many("type", &p.Type)
	return p, escaped
}
