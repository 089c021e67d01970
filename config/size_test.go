package config

import (
	"math"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Size
	}{
		{"16MiB", 16 << 20},
		{"10GiB", 10 << 30},
		{"512KiB", 512 << 10},
		{"1.5GiB", 3 << 29},
		{"100MB", 100_000_000},
		{"64KB", 64_000},
		{"4096", 4096},
		{"4096B", 4096},
		{"10 MiB", 10 << 20},
		{" 2TiB ", 2 << 40},
		{"1PiB", 1 << 50},
		{"7EiB", 7 << 60},
		{"3GB", 3_000_000_000},
		{"1TB", 1e12},
		{"16mib", 16 << 20},
		{"0", 0},
		{"0.5KiB", 512},
		{"1.0001KB", 1000}, // fractions of a byte round down
		{"9223372036854775807", math.MaxInt64},
	} {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"-1", "negative"},
		{"-16MiB", "negative"},
		{"16M", "unknown unit"}, // SI or IEC? ambiguous
		{"16XB", "unknown unit"},
		{"16 MiB B", "unknown unit"},
		{"", "want a number"},
		{"MiB", "want a number"},
		{".5MiB", "want a number"},
		{"1.MiB", "want a number"},
		{"1.2.3MiB", "want a number"},
		{"8EiB", "too large"},
		{"9223372036854775808", "too large"},
		{"99999999999999999999GB", "too large"},
	} {
		_, err := ParseSize(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSize(%q) error = %v; want one containing %q", tt.in, err, tt.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	for _, tt := range []struct {
		in   Size
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{1023, "1023B"},
		{KiB, "1KiB"},
		{16 * MiB, "16MiB"},
		{3 << 29, "1536MiB"},
		{10 * GiB, "10GiB"},
		{100_000_000, "100000000B"},
		{128_000, "125KiB"},
		{64_000, "64000B"},
		{EiB, "1EiB"},
	} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q; want %q", int64(tt.in), got, tt.want)
		}
		back, err := ParseSize(tt.in.String())
		if err != nil || back != tt.in {
			t.Errorf("ParseSize(%q) = %d, %v; want %d back", tt.in.String(), back, err, int64(tt.in))
		}
	}
}
