package journal

import (
	"unicode/utf16"
	"unicode/utf8"
)

// The scanner's JSON primitives: white space, objects, arrays, strings,
// numbers and literals, each validating what it consumes exactly as
// encoding/json would and reporting false where it does not decide.

func (sc *scanner) ws() {
	for sc.i < len(sc.d) {
		switch sc.d[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether the next byte is c,
// consuming it if so.
func (sc *scanner) next(c byte) bool {
	sc.ws()
	if sc.i < len(sc.d) && sc.d[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// object scans an object, calling field for each key; field scans the
// value and reports whether it could. A key must be free of escapes and
// appear once, at most 16 keys: the records' own objects, where
// encoding/json would merge repeated keys and match other spellings.
func (sc *scanner) object(field func(key string) bool) bool {
	if !sc.next('{') {
		return false
	}
	if sc.next('}') {
		return true
	}
	var seen [16]string
	for n := 0; ; n++ {
		sc.ws()
		key, ok := sc.key()
		if !ok || n == len(seen) || !sc.next(':') {
			return false
		}
		for _, k := range seen[:n] {
			if k == key {
				return false
			}
		}
		seen[n] = key
		sc.ws()
		if !field(key) {
			return false
		}
		if sc.next('}') {
			return true
		}
		if !sc.next(',') {
			return false
		}
	}
}

// anyObject scans over any object, validating it.
func (sc *scanner) anyObject() bool {
	if !sc.next('{') {
		return false
	}
	if sc.next('}') {
		return true
	}
	for {
		sc.ws()
		var k string
		if !sc.str(&k) || !sc.next(':') || !sc.skipValue() {
			return false
		}
		if sc.next('}') {
			return true
		}
		if !sc.next(',') {
			return false
		}
	}
}

// array scans an array, calling elem for each element.
func (sc *scanner) array(elem func() bool) bool {
	if !sc.next('[') {
		return false
	}
	if sc.next(']') {
		return true
	}
	for {
		sc.ws()
		if !elem() {
			return false
		}
		if sc.next(']') {
			return true
		}
		if !sc.next(',') {
			return false
		}
	}
}

// key scans an object key without escapes. The key aliases the record
// when the scanner has its string, and is only compared otherwise.
func (sc *scanner) key() (string, bool) {
	if sc.i >= len(sc.d) || sc.d[sc.i] != '"' {
		return "", false
	}
	for j := sc.i + 1; j < len(sc.d); j++ {
		switch c := sc.d[j]; {
		case c == '"':
			var k string
			if sc.s != "" {
				k = sc.s[sc.i+1 : j]
			} else {
				k = string(sc.d[sc.i+1 : j])
			}
			sc.i = j + 1
			return k, true
		case c == '\\' || c < ' ':
			return "", false
		}
	}
	return "", false
}

// str scans a string value into *dst.
func (sc *scanner) str(dst *string) bool {
	if sc.i >= len(sc.d) || sc.d[sc.i] != '"' {
		return false
	}
	start := sc.i + 1
	for j := start; j < len(sc.d); j++ {
		switch c := sc.d[j]; {
		case c == '"':
			if sc.s != "" {
				*dst = sc.s[start:j]
			} else {
				*dst = string(sc.d[start:j])
			}
			sc.i = j + 1
			return true
		case c == '\\':
			return sc.unescape(start, j, dst)
		case c < ' ':
			return false
		}
	}
	return false
}

// unescape finishes a string whose first escape is at j.
func (sc *scanner) unescape(start, j int, dst *string) bool {
	b := make([]byte, 0, len(sc.d)-start)
	b = append(b, sc.d[start:j]...)
	d := sc.d
	for j < len(d) {
		c := d[j]
		switch {
		case c == '"':
			*dst = string(b)
			sc.i = j + 1
			return true
		case c < ' ':
			return false
		case c != '\\':
			b = append(b, c)
			j++
			continue
		}
		if j+1 >= len(d) {
			return false
		}
		switch e := d[j+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(d[j+2:])
			if !ok {
				return false
			}
			if utf16.IsSurrogate(r) {
				// Only a well-formed pair; encoding/json decides the rest.
				if len(d) < j+12 || d[j+6] != '\\' || d[j+7] != 'u' {
					return false
				}
				r2, ok := hex4(d[j+8:])
				if !ok {
					return false
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return false
				}
				j += 6
			}
			b = utf8.AppendRune(b, r)
			j += 4
		default:
			return false
		}
		j += 2
	}
	return false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// uint scans a non-negative integer of at most 18 digits, the only numbers
// the scanner takes: anything else (a sign, a fraction, an exponent, a
// huge value) goes to encoding/json.
func (sc *scanner) uint() (int64, bool) {
	d, i := sc.d, sc.i
	var n int64
	for i < len(d) && '0' <= d[i] && d[i] <= '9' {
		n = n*10 + int64(d[i]-'0')
		i++
	}
	digits := i - sc.i
	if digits == 0 || digits > 18 || (digits > 1 && d[sc.i] == '0') {
		return 0, false
	}
	if i < len(d) && (d[i] == '.' || d[i] == 'e' || d[i] == 'E') {
		return 0, false
	}
	sc.i = i
	return n, true
}

func (sc *scanner) bool(dst *bool) bool {
	switch {
	case len(sc.d)-sc.i >= 4 && string(sc.d[sc.i:sc.i+4]) == "true":
		*dst, sc.i = true, sc.i+4
	case len(sc.d)-sc.i >= 5 && string(sc.d[sc.i:sc.i+5]) == "false":
		*dst, sc.i = false, sc.i+5
	default:
		return false
	}
	return true
}

// skipValue scans over any JSON value, validating it.
func (sc *scanner) skipValue() bool {
	sc.ws()
	if sc.i >= len(sc.d) {
		return false
	}
	switch c := sc.d[sc.i]; {
	case c == '{' || c == '[':
		if sc.depth++; sc.depth > maxScanDepth {
			return false
		}
		var ok bool
		if c == '{' {
			ok = sc.anyObject()
		} else {
			ok = sc.array(sc.skipValue)
		}
		sc.depth--
		return ok
	case c == '"':
		var s string
		return sc.str(&s)
	case c == 't':
		return sc.literal("true")
	case c == 'f':
		return sc.literal("false")
	case c == 'n':
		return sc.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return sc.number()
	}
	return false
}

func (sc *scanner) literal(lit string) bool {
	if len(sc.d)-sc.i < len(lit) || string(sc.d[sc.i:sc.i+len(lit)]) != lit {
		return false
	}
	sc.i += len(lit)
	return true
}

// number scans a JSON number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (sc *scanner) number() bool {
	d, i := sc.d, sc.i
	digits := func() int {
		n := 0
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(d) && d[i] == '-' {
		i++
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	sc.i = i
	return true
}
