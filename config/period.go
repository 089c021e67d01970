package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Period is a retention length in calendar terms: years, months, weeks and
// days counted on the calendar (time.AddDate), plus a fixed sub-day
// duration; or forever. The zero Period is zero long. Periods compare with ==.
//
// Written forms: "7y", "1y6mo", "18mo", "2w", "90d", "36h", "1y2mo3w4d5h",
// "forever". Note that "m" is minutes, as in Go durations; months are "mo".
type Period struct {
	years, months, weeks, days int
	dur                        time.Duration
	forever                    bool
}

// foreverTime is what AddTo returns for a forever Period, and the latest
// time it returns for any Period.
var foreverTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// maxCount bounds each calendar count, far beyond year 9999 yet safe to sum.
const maxCount = 1_000_000

// ParsePeriod parses a retention period: terms in y (years), mo (months), w
// (weeks), d (days) with whole numbers, and h, m, s, ms (Go duration units),
// in any combination ("1y6mo", "7y"); or "forever". Negative periods and
// unknown units are errors.
func ParsePeriod(s string) (Period, error) {
	if strings.EqualFold(strings.TrimSpace(s), "forever") {
		return Period{forever: true}, nil
	}
	terms, err := splitTerms(s)
	if err != nil {
		return Period{}, fmt.Errorf("period %w", err)
	}
	var p Period
	for _, t := range terms {
		var count *int
		switch t.unit {
		case "y":
			count = &p.years
		case "mo":
			count = &p.months
		case "w":
			count = &p.weeks
		case "d":
			count = &p.days
		default:
			d, err := goDuration(s, t)
			if err == nil {
				p.dur, err = addDuration(s, p.dur, d)
			}
			if err != nil {
				return Period{}, fmt.Errorf("period %w", err)
			}
			continue
		}
		n, err := strconv.Atoi(t.num)
		if err != nil {
			return Period{}, fmt.Errorf("period %q: %s%s: want a whole number of %s", s, t.num, t.unit, t.unit)
		}
		if *count += n; *count > maxCount {
			return Period{}, fmt.Errorf("period %q: too long (use forever)", s)
		}
	}
	return p, nil
}

// IsForever reports whether p is the "forever" period.
func (p Period) IsForever() bool { return p.forever }

// IsZero reports whether p is zero long (and not forever).
func (p Period) IsZero() bool { return p == Period{} }

// AddTo returns t plus p: years, months and days by t.AddDate in t's location
// (so 7y after 2024-02-29 is 2031-03-01), then the sub-day duration. Forever,
// and anything later than it, is 9999-12-31T00:00:00Z.
func (p Period) AddTo(t time.Time) time.Time {
	if p.forever {
		return foreverTime
	}
	u := t.AddDate(p.years, p.months, 7*p.weeks+p.days).Add(p.dur)
	if u.After(foreverTime) {
		return foreverTime
	}
	return u
}

// shorterThan reports whether p can be shorter than d from some start time:
// it counts a year as 365 days, a month as 28 and a day as 24 hours.
func (p Period) shorterThan(d time.Duration) bool {
	if p.forever {
		return false
	}
	days := int64(365*p.years + 28*p.months + 7*p.weeks + p.days)
	if days > int64(d/Day) {
		return false
	}
	return p.dur < d-time.Duration(days)*Day
}

// MaxRetain is the longest period a policy may have short of forever.
var MaxRetain = Period{years: 100}

// longerThan reports whether p can be longer than q from some start time.
func (p Period) longerThan(q Period) bool {
	if p.forever || q.forever {
		return p.forever && !q.forever
	}
	// Compare from a start where calendar units are at their longest.
	start := time.Date(2000, 1, 31, 0, 0, 0, 0, time.UTC)
	return p.AddTo(start).After(q.AddTo(start))
}

// String formats p as ParsePeriod reads it: "forever", "7y", "1y6mo",
// "2w3d1h30m0s", or "0s" for the zero Period.
func (p Period) String() string {
	if p.forever {
		return "forever"
	}
	var b strings.Builder
	for _, c := range []struct {
		n    int
		unit string
	}{{p.years, "y"}, {p.months, "mo"}, {p.weeks, "w"}, {p.days, "d"}} {
		if c.n != 0 {
			fmt.Fprintf(&b, "%d%s", c.n, c.unit)
		}
	}
	if p.dur != 0 || b.Len() == 0 {
		b.WriteString(p.dur.String())
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler with String's format.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParsePeriod.
func (p *Period) UnmarshalText(b []byte) error {
	v, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler: a Period is a scalar.
func (p *Period) UnmarshalYAML(n *yaml.Node) error { return unmarshalScalar(n, p) }
