package config

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"30s", 30 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"250ms", 250 * time.Millisecond},
		{"1.5h", 90 * time.Minute},
		{"90d", 90 * Day},
		{"2w", 14 * Day},
		{"1w2d12h", 9*Day + 12*time.Hour},
		{"1.5d", 36 * time.Hour},
		{"1h 30m", 90 * time.Minute},
		{"0", 0},
		{"10us", 10 * time.Microsecond},
		{"5ns", 5},
	} {
		got, err := ParseDuration(tt.in)
		if err != nil || time.Duration(got) != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, time.Duration(got), err, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"", "empty"},
		{"-1s", "negative"},
		{"30", "missing unit"},
		{"1h30", "missing unit"},
		{"7y", "unknown unit"},
		{"1mo", "unknown unit"},
		{"3x", "unknown unit"},
		{"s", "want a number"},
		{"1..5s", "want a number"},
		{"1 0s", "missing unit"},
		{"300000w", "too long"},
		{"200000d200000d", "too long"},
	} {
		_, err := ParseDuration(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseDuration(%q) error = %v; want one containing %q", tt.in, err, tt.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{30 * time.Second, "30s"},
		{90 * time.Minute, "1h30m0s"},
		{90 * Day, "90d"},
		{36 * time.Hour, "36h0m0s"},
	} {
		d := Duration(tt.in)
		if got := d.String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q; want %q", tt.in, got, tt.want)
		}
		if back, err := ParseDuration(d.String()); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v back", d.String(), back, err, d)
		}
	}
}

func mustPeriod(t *testing.T, s string) Period {
	t.Helper()
	p, err := ParsePeriod(s)
	if err != nil {
		t.Fatalf("ParsePeriod(%q): %v", s, err)
	}
	return p
}

func TestParsePeriod(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Period
		str  string
	}{
		{"7y", Period{years: 7}, "7y"},
		{"18mo", Period{months: 18}, "18mo"},
		{"1y6mo", Period{years: 1, months: 6}, "1y6mo"},
		{"2w", Period{weeks: 2}, "2w"},
		{"90d", Period{days: 90}, "90d"},
		{"36h", Period{dur: 36 * time.Hour}, "36h0m0s"},
		{"18m", Period{dur: 18 * time.Minute}, "18m0s"}, // minutes, not months
		{"1h30m", Period{dur: 90 * time.Minute}, "1h30m0s"},
		{"500ms", Period{dur: 500 * time.Millisecond}, "500ms"},
		{"1y2mo3w4d5h", Period{1, 2, 3, 4, 5 * time.Hour, false}, "1y2mo3w4d5h0m0s"},
		{"1y 6mo", Period{years: 1, months: 6}, "1y6mo"},
		{"1y1y", Period{years: 2}, "2y"},
		{"0", Period{}, "0s"},
		{"forever", Period{forever: true}, "forever"},
		{" Forever ", Period{forever: true}, "forever"},
	} {
		got, err := ParsePeriod(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParsePeriod(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if got.String() != tt.str {
			t.Errorf("ParsePeriod(%q).String() = %q; want %q", tt.in, got.String(), tt.str)
		}
		if back := mustPeriod(t, got.String()); back != got {
			t.Errorf("ParsePeriod(%q) = %+v; want %+v back", got.String(), back, got)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"", "empty"},
		{"-7y", "negative"},
		{"7", "missing unit"},
		{"7 years", "unknown unit"},
		{"7Y", "unknown unit"},
		{"1.5y", "whole number"},
		{"0.5mo", "whole number"},
		{"never", "want a number"},
		{"2000000y", "too long"},
		{"99999999999999999999d", "whole number"},
	} {
		_, err := ParsePeriod(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePeriod(%q) error = %v; want one containing %q", tt.in, err, tt.want)
		}
	}
}

func TestPeriodAddTo(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct{ period, from, want string }{
		{"7y", "2024-02-29T10:00:00Z", "2031-03-01T10:00:00Z"}, // AddDate normalises Feb 29
		{"1y", "2023-03-15T00:00:00Z", "2024-03-15T00:00:00Z"},
		{"1mo", "2024-01-31T00:00:00Z", "2024-03-02T00:00:00Z"},
		{"1y6mo", "2024-01-01T00:00:00Z", "2025-07-01T00:00:00Z"},
		{"2w3d", "2024-01-01T00:00:00Z", "2024-01-18T00:00:00Z"},
		{"1d12h", "2024-01-01T00:00:00Z", "2024-01-02T12:00:00Z"},
		{"forever", "2024-01-01T00:00:00Z", "9999-12-31T00:00:00Z"},
		{"9000y", "2024-01-01T00:00:00Z", "9999-12-31T00:00:00Z"}, // capped at forever
		{"0", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"},
	} {
		got := mustPeriod(t, tt.period).AddTo(at(tt.from))
		if !got.Equal(at(tt.want)) {
			t.Errorf("%s after %s = %s; want %s", tt.period, tt.from, got.Format(time.RFC3339), tt.want)
		}
	}
}

// A seven-year retention must never end earlier than 7*365 days, whatever
// the start day, and shorterThan's lower bound must hold for every start.
func TestPeriodNeverShort(t *testing.T) {
	p := mustPeriod(t, "7y1mo")
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := range 4 * 366 {
		from := start.AddDate(0, 0, d)
		got := mustPeriod(t, "7y").AddTo(from).Sub(from)
		if got < 7*365*Day {
			t.Fatalf("7y after %s is only %v", from.Format(time.DateOnly), got)
		}
		if lower := 7*365*Day + 28*Day; p.AddTo(from).Sub(from) < lower {
			t.Fatalf("7y1mo after %s is shorter than %v", from.Format(time.DateOnly), lower)
		}
	}
	if !mustPeriod(t, "18m").shorterThan(24*time.Hour) || mustPeriod(t, "1d").shorterThan(24*time.Hour) ||
		mustPeriod(t, "forever").shorterThan(1<<62) || mustPeriod(t, "1y").shorterThan(366*Day) == false {
		t.Error("shorterThan gives a wrong answer")
	}
}

func TestPeriodIs(t *testing.T) {
	if !mustPeriod(t, "forever").IsForever() || mustPeriod(t, "7y").IsForever() {
		t.Error("IsForever wrong")
	}
	if !mustPeriod(t, "0").IsZero() || mustPeriod(t, "forever").IsZero() || mustPeriod(t, "1s").IsZero() {
		t.Error("IsZero wrong")
	}
}

// Size, Duration and Period survive a trip through YAML as the text a user writes.
func TestYAMLRoundTrip(t *testing.T) {
	type doc struct {
		S Size     `yaml:"s"`
		D Duration `yaml:"d"`
		P Period   `yaml:"p"`
		F Period   `yaml:"f"`
	}
	in := doc{S: 1536 * MiB, D: Duration(90 * Day), P: mustPeriod(t, "1y6mo"), F: mustPeriod(t, "forever")}
	b, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := "s: 1536MiB\nd: 90d\np: 1y6mo\nf: forever\n"; string(b) != want {
		t.Errorf("yaml.Marshal = %q; want %q", b, want)
	}
	var out doc
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip = %+v; want %+v", out, in)
	}
	// Plain numbers and quoted strings decode too; a list is an error with its line.
	if err := yaml.Unmarshal([]byte("s: 4096\nd: \"30s\"\n"), &out); err != nil || out.S != 4096 || out.D != Duration(30*time.Second) {
		t.Errorf("got %+v, %v", out, err)
	}
	err = yaml.Unmarshal([]byte("s: 1\np: [7y]\n"), &out)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("list into Period: error = %v; want one naming line 2", err)
	}
}
