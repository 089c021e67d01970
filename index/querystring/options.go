package querystring

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kind says how the values of a field are indexed, and so how a value typed
// after "name:" is searched.
type Kind int

const (
	// Text is analysed full text: words are matched, not whole values.
	Text Kind = iota
	// Keyword is an exact, case-sensitive value (an address, an id).
	Keyword
	// Date is a bleve datetime field.
	Date
	// Number is a bleve numeric field.
	Number
	// Bool is a bleve boolean field.
	Bool
)

// String returns the kind's lower-case name, as used in error messages.
func (k Kind) String() string {
	switch k {
	case Text:
		return "text"
	case Keyword:
		return "keyword"
	case Date:
		return "date"
	case Number:
		return "number"
	case Bool:
		return "bool"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Field is the index field behind a user-facing field name.
type Field struct {
	Index string // the field's path in the bleve mapping, e.g. "sent_at"
	Kind  Kind
}

// Options tells Parse which fields exist and how to read dates.
type Options struct {
	// DefaultField is the index field, analysed as Text, that bare words and
	// phrases search. Empty means bleve's default search field.
	DefaultField string
	// Fields maps the user-facing names accepted before a colon to index
	// fields. Names are matched case-insensitively, so they must differ in
	// more than case; a name is an ASCII letter followed by ASCII letters,
	// digits, '_', '.' or '-'.
	Fields map[string]Field
	// Location is the time zone of dates written without one; nil is UTC.
	Location *time.Location
	// Limits bound the query's cost; the zero value sets none.
	Limits Limits
}

// fieldTable indexes o.Fields by lower-cased name and checks them.
func (o Options) fieldTable() (map[string]Field, []string, error) {
	fields := make(map[string]Field, len(o.Fields))
	names := make([]string, 0, len(o.Fields))
	seen := make(map[string]string, len(o.Fields)) // lower-cased → as given
	for name, f := range o.Fields {
		if !isFieldName(name) {
			return nil, nil, fmt.Errorf("querystring: field name %q: want an ASCII letter followed by ASCII letters, digits, '_', '.' or '-'", name)
		}
		if f.Index == "" {
			return nil, nil, fmt.Errorf("querystring: field %q: empty index field", name)
		}
		if f.Kind < Text || f.Kind > Bool {
			return nil, nil, fmt.Errorf("querystring: field %q: unknown kind %d", name, int(f.Kind))
		}
		key := strings.ToLower(name)
		if other, dup := seen[key]; dup {
			a, b := min(name, other), max(name, other)
			return nil, nil, fmt.Errorf("querystring: field names %q and %q differ only in case", a, b)
		}
		seen[key] = name
		fields[key] = f
		names = append(names, name)
	}
	sort.Strings(names)
	return fields, names, nil
}
