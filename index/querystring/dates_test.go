package querystring_test

import (
	"testing"
	"time"
	_ "time/tzdata" // the zones below, even where the system has none

	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/holdfast/holdfast/index/querystring"
)

// TestDateBoundaries checks that every date query is the half-open range
// [from, until) it should be, exactly, with "" for an open end.
func TestDateBoundaries(t *testing.T) {
	shanghai := mustLoadLocation(t, "Asia/Shanghai")
	newYork := mustLoadLocation(t, "America/New_York")
	tests := []struct {
		q           string
		loc         *time.Location
		from, until string
	}{
		// A value is the whole period it names.
		{"date:2024-01-05", nil, "2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z"},
		{"date:2024-01", nil, "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"},
		{"date:2024-12", nil, "2024-12-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"date:2024-02", nil, "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"},
		{"date:2024", nil, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"date:2024-02-29", nil, "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"},
		{"date:2024-01-05T10:00Z", nil, "2024-01-05T10:00:00Z", "2024-01-05T10:01:00Z"},
		{"date:2024-01-05T10:00:00Z", nil, "2024-01-05T10:00:00Z", "2024-01-05T10:00:01Z"},
		{"date:2024-01-05t10:00:00z", nil, "2024-01-05T10:00:00Z", "2024-01-05T10:00:01Z"},
		{"date:2024-01-05T10:00:00.5Z", nil, "2024-01-05T10:00:00.5Z", "2024-01-05T10:00:00.6Z"},
		{"date:2024-01-05T10:00:00.123456789Z", nil, "2024-01-05T10:00:00.123456789Z", "2024-01-05T10:00:00.12345679Z"},
		{"date:2024-01-05T10:00:00+08:00", nil, "2024-01-05T02:00:00Z", "2024-01-05T02:00:01Z"},
		{"date:2024-01-05T10:00:00-05:30", nil, "2024-01-05T15:30:00Z", "2024-01-05T15:30:01Z"},
		{"date:2024-01-05T10:00:00", nil, "2024-01-05T10:00:00Z", "2024-01-05T10:00:01Z"},
		{`date:"2024-01-05"`, nil, "2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z"},
		{"SENT_AT:2024-01-05", nil, "2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z"},
		// Comparisons: > and <= take in or leave out the whole period.
		{"date:>=2024-01-05", nil, "2024-01-05T00:00:00Z", ""},
		{"date:>2024-01-05", nil, "2024-01-06T00:00:00Z", ""},
		{"date:<2024-01-05", nil, "", "2024-01-05T00:00:00Z"},
		{"date:<=2024-01-05", nil, "", "2024-01-06T00:00:00Z"},
		{"date:>2024-01", nil, "2024-02-01T00:00:00Z", ""},
		{"date:<=2024-01-05T10:00:00Z", nil, "", "2024-01-05T10:00:01Z"},
		// Ranges: '[' ']' include the period at that end, '{' '}' exclude it.
		{"date:[2024-01-01 TO 2024-02-01]", nil, "2024-01-01T00:00:00Z", "2024-02-02T00:00:00Z"},
		{"date:{2024-01-01 TO 2024-02-01}", nil, "2024-01-02T00:00:00Z", "2024-02-01T00:00:00Z"},
		{"date:[2024-01-01 TO 2024-02-01}", nil, "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"},
		{"date:{2024-01-01 TO 2024-02-01]", nil, "2024-01-02T00:00:00Z", "2024-02-02T00:00:00Z"},
		{"date:[2024-01 TO 2024-03]", nil, "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z"},
		{"date:[2024-01-01 TO *]", nil, "2024-01-01T00:00:00Z", ""},
		{"date:{2024-01-01 TO *]", nil, "2024-01-02T00:00:00Z", ""},
		{"date:[* TO 2024-02-01}", nil, "", "2024-02-01T00:00:00Z"},
		{"date:[* TO 2024-02-01]", nil, "", "2024-02-02T00:00:00Z"},
		{"date:[2024-01-05 TO 2024-01-05]", nil, "2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z"},
		{"date:[2024-01-05T10:00 TO 2024-01-05]", nil, "2024-01-05T10:00:00Z", "2024-01-06T00:00:00Z"},
		{"date:[2024-01-01T00:00:00Z TO 2024-01-01T08:00:00+08:00]", nil, "2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z"},
		// Dates without a zone are in Options.Location.
		{"date:2024-01-05", shanghai, "2024-01-04T16:00:00Z", "2024-01-05T16:00:00Z"},
		{"date:2024-01", shanghai, "2023-12-31T16:00:00Z", "2024-01-31T16:00:00Z"},
		{"date:2024-01-05T10:00:00", shanghai, "2024-01-05T02:00:00Z", "2024-01-05T02:00:01Z"},
		{"date:2024-01-05T10:00:00Z", shanghai, "2024-01-05T10:00:00Z", "2024-01-05T10:00:01Z"},
		{"date:2024-03-10", newYork, "2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z"}, // 23 hours
		{"date:2024-11-03", newYork, "2024-11-03T04:00:00Z", "2024-11-04T05:00:00Z"}, // 25 hours
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			o := testOptions
			o.Location = tt.loc
			q, err := querystring.Parse(tt.q, o)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.q, err)
			}
			dr, ok := q.(*query.DateRangeQuery)
			if !ok {
				t.Fatalf("Parse(%q) = %T, want *query.DateRangeQuery", tt.q, q)
			}
			if dr.FieldVal != "sent_at" {
				t.Errorf("field = %q, want sent_at", dr.FieldVal)
			}
			checkEnd(t, "start", dr.Start.Time, dr.InclusiveStart, tt.from, true)
			checkEnd(t, "end", dr.End.Time, dr.InclusiveEnd, tt.until, false)
		})
	}
}

// checkEnd checks one end of a date range: open (want "") or the instant
// want, in UTC, included or not.
func checkEnd(t *testing.T, which string, got time.Time, incl *bool, want string, wantIncl bool) {
	t.Helper()
	if want == "" {
		if !got.IsZero() || incl != nil {
			t.Errorf("%s = %v (inclusive %v), want open", which, got, incl)
		}
		return
	}
	w, err := time.Parse(time.RFC3339Nano, want)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(w) || got.Location() != time.UTC {
		t.Errorf("%s = %s, want %s in UTC", which, got.Format(time.RFC3339Nano), want)
	}
	if incl == nil || *incl != wantIncl {
		t.Errorf("%s inclusive = %v, want %v", which, incl, wantIncl)
	}
}

func mustLoadLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load time zone %s: %v", name, err)
	}
	return loc
}
