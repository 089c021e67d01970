package config

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a number of bytes. In the config file it is written with a unit:
// "16MiB", "1.5GiB" (IEC, 1024-based), "100MB", "64KB" (SI, 1000-based),
// "4096" or "4096B" (bytes); a space may separate number and unit and unit
// names are case-insensitive.
type Size int64

// IEC byte units, for writing sizes in code: 16 * config.MiB.
const (
	KiB Size = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
	PiB
	EiB
)

// sizeUnits maps every accepted unit, lowercased, to its multiplier.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15, "eb": 1e18,
	"kib": int64(KiB), "mib": int64(MiB), "gib": int64(GiB),
	"tib": int64(TiB), "pib": int64(PiB), "eib": int64(EiB),
}

// iecNames lists the IEC units from largest to smallest for String.
var iecNames = []struct {
	name string
	size Size
}{{"EiB", EiB}, {"PiB", PiB}, {"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}}

// ParseSize parses a size such as "16MiB", "1.5GiB", "100MB" or "4096".
// A fractional number of bytes is rounded down. Negative sizes, unknown or
// ambiguous units ("16M": SI or IEC?) and sizes beyond an int64 are errors.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	switch {
	case strings.HasPrefix(t, "-"):
		return 0, fmt.Errorf("size %q: must not be negative", s)
	case !isDecimal(num):
		return 0, fmt.Errorf("size %q: want a number and a unit such as 16MiB", s)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB)", s, unit)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("size %q: bad number %q", s, num)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return Size(n.Int64()), nil
}

// isDecimal reports whether s is digits with at most one inner decimal point.
func isDecimal(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	return whole != "" && strings.Trim(whole, "0123456789") == "" &&
		(!dot || frac != "" && strings.Trim(frac, "0123456789") == "")
}

// String formats s in the largest IEC unit that holds it exactly ("16MiB",
// "1536MiB"), or in bytes ("100000000B"). ParseSize reads it back unchanged.
func (s Size) String() string {
	for _, u := range iecNames {
		if s != 0 && s%u.size == 0 {
			return fmt.Sprintf("%d%s", s/u.size, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}

// MarshalText implements encoding.TextMarshaler with String's format.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseSize.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler: a Size is a scalar, quoted or not.
func (s *Size) UnmarshalYAML(n *yaml.Node) error { return unmarshalScalar(n, s) }

// errNotScalar is returned by the UnmarshalYAML methods for a mapping or list.
var errNotScalar = errors.New("want a single value, not a mapping or list")

// unmarshalScalar decodes a scalar node through v's UnmarshalText and puts
// the node's line into any error.
func unmarshalScalar(n *yaml.Node, v interface{ UnmarshalText([]byte) error }) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %w", n.Line, errNotScalar)
	}
	if err := v.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}
