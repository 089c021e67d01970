package querystring

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// word is a value typed without quotes, with its escapes removed.
type word struct {
	text    string // the value, backslash escapes resolved
	raw     string // the value as typed
	pos     int    // byte offset of its first character
	wild    bool   // holds an unescaped '*' or '?'
	escWild bool   // holds an escaped '\*' or '\?'
}

// bound is one end of a range as typed: a value, or "*" for an open end.
type bound struct {
	text string
	pos  int
}

func (b bound) open() bool { return b.text == "*" }

// span is "[lo TO hi]" with each bracket '[' ']' (inclusive) or '{' '}'
// (exclusive).
type span struct {
	lo, hi         bound
	loIncl, hiIncl bool
	pos            int // byte offset of the opening bracket
}

// spaceAt returns the byte length of the white space character at byte
// offset i, or 0 if there is none. Unicode spaces count, notably the
// ideographic space U+3000 that Chinese input methods type.
func (p *parser) spaceAt(i int) int {
	if i >= len(p.s) {
		return 0
	}
	if c := p.s[i]; c < utf8.RuneSelf {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
			return 1
		}
		return 0
	}
	r, n := utf8.DecodeRuneInString(p.s[i:])
	if unicode.IsSpace(r) {
		return n
	}
	return 0
}

// delimAt reports whether a word ends before byte offset i: at the end of
// the query, white space, a parenthesis or a double quote.
func (p *parser) delimAt(i int) bool {
	if i >= len(p.s) {
		return true
	}
	switch p.s[i] {
	case '(', ')', '"':
		return true
	}
	return p.spaceAt(i) > 0
}

// scanFieldName consumes "name:" if the query continues with a field name
// and a colon, and returns the name.
func (p *parser) scanFieldName() (string, bool) {
	i := p.pos
	for i < len(p.s) && (isLetter(p.s[i]) || i > p.pos && isNameByte(p.s[i])) {
		i++
	}
	if i == p.pos || i >= len(p.s) || p.s[i] != ':' {
		return "", false
	}
	name := p.s[p.pos:i]
	p.pos = i + 1
	return name, true
}

// isLetter reports whether c is an ASCII letter, the first byte of a name.
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isNameByte reports whether c may follow the first letter of a field name.
func isNameByte(c byte) bool {
	return isLetter(c) || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
}

// isFieldName reports whether name is usable as a field name. Names are
// ASCII so that Chinese text with a colon in it is never taken for one.
func isFieldName(name string) bool {
	for i := 0; i < len(name); i++ {
		if !(isLetter(name[i]) || i > 0 && isNameByte(name[i])) {
			return false
		}
	}
	return name != ""
}

// scanWord consumes a value up to the next delimiter. A backslash makes
// the character after it literal.
func (p *parser) scanWord() (word, error) {
	w := word{pos: p.pos}
	var b strings.Builder
	for !p.delimAt(p.pos) {
		c := p.peek()
		switch c {
		case '\\':
			if p.pos+1 >= len(p.s) {
				return w, p.errAt(p.pos, "nothing to escape after '\\' at the end of the query")
			}
			_, n := utf8.DecodeRuneInString(p.s[p.pos+1:])
			esc := p.s[p.pos+1 : p.pos+1+n]
			w.escWild = w.escWild || esc == "*" || esc == "?"
			b.WriteString(esc)
			p.pos += 1 + n
			continue
		case '*', '?':
			w.wild = true
		}
		b.WriteByte(c)
		p.pos++
	}
	w.text = b.String()
	w.raw = p.s[w.pos:p.pos]
	return w, nil
}

// scanPhrase consumes a double-quoted phrase and returns its text. Inside,
// a backslash makes the character after it literal: \" is a quote and \\ a
// backslash.
func (p *parser) scanPhrase() (string, error) {
	open := p.pos
	p.pos++
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		switch c {
		case '"':
			p.pos++
			return b.String(), nil
		case '\\':
			if p.pos+1 < len(p.s) {
				p.pos++
				c = p.peek()
			}
		}
		b.WriteByte(c)
		p.pos++
	}
	return "", p.errAt(open, "unterminated quote: this '\"' is never closed")
}

// scanRange consumes "[lo TO hi]", each bracket square (inclusive) or
// curly (exclusive).
func (p *parser) scanRange() (span, error) {
	open := p.pos
	r := span{pos: open, loIncl: p.s[open] == '['}
	end := strings.IndexAny(p.s[open+1:], "]}")
	if end < 0 {
		return r, p.errAt(open, "unterminated range: this %q is never closed with ']' or '}'", p.s[open])
	}
	end += open + 1
	r.hiIncl = p.s[end] == ']'
	parts := p.splitSpace(open+1, end)
	if len(parts) != 3 || !strings.EqualFold(parts[1].text, "TO") {
		return r, p.errAt(open, "a range is written [FROM TO UNTIL]: "+
			"'[' and ']' include the bound, '{' and '}' exclude it, '*' leaves it open")
	}
	r.lo, r.hi = parts[0], parts[2]
	p.pos = end + 1
	if !p.delimAt(p.pos) {
		return r, p.errAt(p.pos, "put a space after the range's closing %q", p.s[end])
	}
	return r, nil
}

// splitSpace splits s[from:to] at white space.
func (p *parser) splitSpace(from, to int) []bound {
	var parts []bound
	i := from
	for i < to {
		if n := p.spaceAt(i); n > 0 {
			i += n
			continue
		}
		start := i
		for i < to && p.spaceAt(i) == 0 {
			i++
		}
		parts = append(parts, bound{text: p.s[start:i], pos: start})
	}
	return parts
}

// isPaired reports whether the cjk analyzer indexes r in overlapping pairs:
// Han, Hiragana, Katakana and the prolonged sound mark ー that Katakana
// words contain. (Bleve's tokenizer gives Hangul whole words.)
func isPaired(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) || r == 'ー'
}

// hasCJK reports whether s holds Chinese, Japanese or Korean characters.
func hasCJK(s string) bool {
	for _, r := range s {
		if isPaired(r) || unicode.Is(unicode.Hangul, r) {
			return true
		}
	}
	return false
}

// hasSearchable reports whether s holds a letter or a digit: the analyzer
// drops everything else, so a value without one would match nothing.
func hasSearchable(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			return true
		}
	}
	return false
}

// singleIdeograph returns the character if s is one Han, Hiragana or
// full-width Katakana character, perhaps with spaces around it.
func singleIdeograph(s string) (rune, bool) {
	s = strings.TrimSpace(s)
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || n != len(s) || !isPaired(r) || r >= 0xFF00 && r <= 0xFFEF {
		return 0, false
	}
	return r, true
}

// loneEdges splits off a single paired character at the start or the end
// of text without white space, where the rest of text is not paired:
// "用WeChat联系" gives 用 and "WeChat联系". Where the character is not
// alone in a document it is indexed only as part of a pair, so a phrase
// holding it as a single would miss that document.
func loneEdges(text string) (lone []rune, rest string) {
	if strings.IndexFunc(text, unicode.IsSpace) >= 0 {
		return nil, text
	}
	rest = text
	if r, n := utf8.DecodeRuneInString(rest); ontoUnpaired(r, rest[n:], true) {
		lone, rest = append(lone, r), rest[n:]
	}
	if r, n := utf8.DecodeLastRuneInString(rest); ontoUnpaired(r, rest[:len(rest)-n], false) {
		lone, rest = append(lone, r), rest[:len(rest)-n]
	}
	return lone, rest
}

// ontoUnpaired reports whether r is a singleable paired character and the
// text beside it (after it if next, else before it) begins, or ends, with
// an unpaired character.
func ontoUnpaired(r rune, beside string, next bool) bool {
	if _, ok := singleIdeograph(string(r)); !ok || beside == "" {
		return false
	}
	var b rune
	if next {
		b, _ = utf8.DecodeRuneInString(beside)
	} else {
		b, _ = utf8.DecodeLastRuneInString(beside)
	}
	return !isPaired(b)
}
