package config

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration that the config file may also write in days
// and weeks: "30s", "1h30m", "90d", "2w", "1w2d12h". Convert with
// time.Duration(d).
type Duration time.Duration

// Day and Week are the fixed lengths Duration gives to "d" and "w".
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// term is one number-and-unit pair of a duration or period: "6" and "mo".
type term struct{ num, unit string }

// splitTerms splits "1y 6mo" into its terms. Spaces may separate terms and a
// number from its unit; every number needs a unit, except a lone "0".
func splitTerms(s string) ([]term, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, fmt.Errorf("%q: empty", s)
	}
	if t == "0" {
		return nil, nil
	}
	if t[0] == '-' {
		return nil, fmt.Errorf("%q: must not be negative", s)
	}
	var terms []term
	for t != "" {
		i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i < 0 {
			return nil, fmt.Errorf("%q: missing unit after %s", s, t)
		}
		num := t[:i]
		if !isDecimal(num) {
			return nil, fmt.Errorf("%q: want a number before %q", s, t[i:])
		}
		t = strings.TrimLeft(t[i:], " ")
		j := strings.IndexFunc(t, func(r rune) bool { return !unicode.IsLetter(r) })
		if j < 0 {
			j = len(t)
		}
		if j == 0 {
			return nil, fmt.Errorf("%q: missing unit after %s", s, num)
		}
		terms = append(terms, term{num, t[:j]})
		t = strings.TrimLeft(t[j:], " ")
	}
	return terms, nil
}

// goUnits are the units time.ParseDuration knows.
var goUnits = map[string]bool{"ns": true, "us": true, "µs": true, "μs": true, "ms": true, "s": true, "m": true, "h": true}

// goDuration parses one term in a time.ParseDuration unit.
func goDuration(s string, t term) (time.Duration, error) {
	if !goUnits[t.unit] {
		return 0, fmt.Errorf("%q: unknown unit %q", s, t.unit)
	}
	d, err := time.ParseDuration(t.num + t.unit)
	if err != nil {
		return 0, fmt.Errorf("%q: too long", s)
	}
	return d, nil
}

// addDuration adds b to a, failing instead of overflowing.
func addDuration(s string, a, b time.Duration) (time.Duration, error) {
	if a > math.MaxInt64-b {
		return 0, fmt.Errorf("%q: too long", s)
	}
	return a + b, nil
}

// ParseDuration parses a Go duration ("30s", "1h30m", "250ms") extended with
// "d" (24h) and "w" (7d), which may be mixed: "1w2d", "1.5d". Negative
// durations are errors.
func ParseDuration(s string) (Duration, error) {
	terms, err := splitTerms(s)
	if err != nil {
		return 0, fmt.Errorf("duration %w", err)
	}
	var total time.Duration
	for _, t := range terms {
		var d time.Duration
		switch t.unit {
		case "d", "w":
			// Parse in hours so fractions stay exact, then scale to days or weeks.
			h, err := time.ParseDuration(t.num + "h")
			mult := time.Duration(24)
			if t.unit == "w" {
				mult = 24 * 7
			}
			if err != nil || h > math.MaxInt64/mult {
				return 0, fmt.Errorf("duration %q: too long", s)
			}
			d = h * mult
		default:
			if d, err = goDuration(s, t); err != nil {
				return 0, fmt.Errorf("duration %w", err)
			}
		}
		if total, err = addDuration(s, total, d); err != nil {
			return 0, fmt.Errorf("duration %w", err)
		}
	}
	return Duration(total), nil
}

// String formats d as whole days ("90d") when it is one, otherwise as
// time.Duration does ("1h30m0s"). ParseDuration reads it back unchanged.
func (d Duration) String() string {
	if d > 0 && time.Duration(d)%Day == 0 {
		return fmt.Sprintf("%dd", time.Duration(d)/Day)
	}
	return time.Duration(d).String()
}

// MarshalText implements encoding.TextMarshaler with String's format.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler: a Duration is a scalar.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return unmarshalScalar(n, d) }
