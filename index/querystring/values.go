package querystring

import (
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/blevesearch/bleve/v2/search/query"
)

// parseValue parses the value of one clause, searched in t: a phrase, a
// range, a comparison or a word.
func (p *parser) parseValue(t target) (query.Query, error) {
	start := p.pos
	if err := p.clause(start); err != nil {
		return nil, err
	}
	switch c := p.peek(); c {
	case '"':
		text, err := p.scanPhrase()
		if err != nil {
			return nil, err
		}
		return p.phraseQuery(t, text, start)
	case '[', '{':
		if err := p.needOrdered(t, start); err != nil {
			return nil, err
		}
		r, err := p.scanRange()
		if err != nil {
			return nil, err
		}
		return p.rangeQuery(t, r)
	case '<', '>':
		if err := p.needOrdered(t, start); err != nil {
			return nil, err
		}
		op := string(c)
		p.pos++
		if !p.eof() && p.peek() == '=' {
			op += "="
			p.pos++
		}
		if p.delimAt(p.pos) {
			return nil, p.errAt(p.pos, "missing value after %q", op)
		}
		w, err := p.scanWord()
		if err != nil {
			return nil, err
		}
		return p.compareQuery(t, op, bound{text: w.text, pos: w.pos})
	}
	w, err := p.scanWord()
	if err != nil {
		return nil, err
	}
	return p.wordQuery(t, w)
}

// needOrdered checks that t can hold a range or a comparison.
func (p *parser) needOrdered(t target, pos int) error {
	if !t.explicit {
		return p.errAt(pos, "a range or comparison needs a date or number field in front of it, "+
			"e.g. date:>=2024-01-05 or date:[2024-01-01 TO 2024-01-31]")
	}
	if t.f.Kind != Date && t.f.Kind != Number {
		return p.errAt(pos, "%q is a %s field: ranges and comparisons work only on date and number fields", t.name, t.f.Kind)
	}
	return nil
}

// wordQuery searches t for a word typed without quotes.
func (p *parser) wordQuery(t target, w word) (query.Query, error) {
	if w.raw == "*" {
		if !t.explicit {
			return query.NewMatchAllQuery(), nil
		}
		if t.f.Kind == Text || t.f.Kind == Keyword {
			if err := p.pattern(w); err != nil {
				return nil, err
			}
			return withField(query.NewWildcardQuery("*"), t), nil // the field has a value
		}
	}
	if w.wild {
		switch {
		case t.f.Kind != Text && t.f.Kind != Keyword:
			return nil, p.errAt(w.pos, "wildcards work only on text and keyword fields, and %q is a %s field", t.name, t.f.Kind)
		case w.escWild:
			return nil, p.errAt(w.pos, "a word cannot mix escaped and unescaped '*' or '?'")
		case onlyWildcards(w.text):
			return nil, p.errAt(w.pos, "%q holds only wildcards, which would read every indexed word of the field: "+
				"put a letter or digit in it (or write * alone to match everything)", w.raw)
		}
		if err := p.pattern(w); err != nil {
			return nil, err
		}
		if t.f.Kind == Keyword {
			return withField(query.NewWildcardQuery(w.text), t), nil
		}
		return p.textWildcard(t, w)
	}
	return p.valueQuery(t, w.text, w.pos, false)
}

// phraseQuery searches t for a quoted phrase; pos is the opening quote.
func (p *parser) phraseQuery(t target, text string, pos int) (query.Query, error) {
	if strings.TrimSpace(text) == "" {
		return nil, p.errAt(pos, "empty phrase")
	}
	return p.valueQuery(t, text, pos, true)
}

// valueQuery searches t for a literal value.
func (p *parser) valueQuery(t target, text string, pos int, quoted bool) (query.Query, error) {
	switch t.f.Kind {
	case Keyword:
		return withField(query.NewTermQuery(text), t), nil
	case Date:
		d, err := p.parseDate(bound{text: strings.TrimSpace(text), pos: pos})
		if err != nil {
			return nil, err
		}
		return dateRange(t, d.start, d.end), nil
	case Number:
		x, err := p.parseNumber(bound{text: strings.TrimSpace(text), pos: pos})
		if err != nil {
			return nil, err
		}
		return numberRange(t, &x, &x, true, true), nil
	case Bool:
		switch v := strings.TrimSpace(text); {
		case strings.EqualFold(v, "true"):
			return withField(query.NewBoolFieldQuery(true), t), nil
		case strings.EqualFold(v, "false"):
			return withField(query.NewBoolFieldQuery(false), t), nil
		}
		return nil, p.errAt(pos, "%q is a yes/no field: write %s:true or %s:false", t.name, t.name, t.name)
	}
	return p.textQuery(t, text, pos, quoted)
}

// textQuery searches a Text field for a word or a phrase. Text with CJK
// characters is always a phrase: the cjk analyzer indexes overlapping
// character pairs, and only a phrase requires the pairs to be adjacent.
func (p *parser) textQuery(t target, text string, pos int, quoted bool) (query.Query, error) {
	if !hasSearchable(text) {
		return nil, p.errAt(pos, "nothing to search for in %q: punctuation and symbols are not indexed", text)
	}
	if r, ok := singleIdeograph(text); ok {
		if err := p.ideograph(pos); err != nil {
			return nil, err
		}
		return ideographQuery(t, r), nil
	}
	lone, rest := loneEdges(text)
	if len(lone) == 0 {
		return analysed(t, text, quoted), nil
	}
	for range lone {
		if err := p.ideograph(pos); err != nil {
			return nil, err
		}
	}
	// "用WeChat" is indexed as the single 用 then wechat, but "请用WeChat"
	// as the pair 请用 then wechat: a lone character at the edge of a word
	// is searched on its own, so that it is found inside longer runs too.
	parts := make([]query.Query, 0, 3)
	for _, r := range lone {
		parts = append(parts, ideographQuery(t, r))
	}
	if hasSearchable(rest) {
		parts = append(parts, analysed(t, rest, quoted))
	}
	return query.NewConjunctionQuery(parts), nil
}

// analysed is a phrase for quoted text or text with CJK characters, and a
// match of every word otherwise.
func analysed(t target, text string, quoted bool) query.Query {
	if quoted || hasCJK(text) {
		return withField(query.NewMatchPhraseQuery(text), t)
	}
	m := query.NewMatchQuery(text)
	m.SetOperator(query.MatchQueryOperatorAnd)
	return withField(m, t)
}

// ideographQuery finds a single Han, Hiragana or Katakana character. The cjk
// analyzer indexes a character on its own only where it stands alone;
// inside a run it exists only in the pairs it starts and ends.
func ideographQuery(t target, r rune) query.Query {
	c := string(r)
	return query.NewDisjunctionQuery([]query.Query{
		withField(query.NewMatchQuery(c), t),
		withField(query.NewWildcardQuery(c+"?"), t),
		withField(query.NewWildcardQuery("?"+c), t),
	})
}

// textWildcard searches a Text field for a word with '*' or '?' in it. The
// pattern is matched against single indexed (lower-cased) words, so a
// pattern the analyzer would have split can never match and is refused.
func (p *parser) textWildcard(t target, w word) (query.Query, error) {
	for i, r := range w.raw {
		switch {
		case isPaired(r):
			return nil, p.errAt(w.pos+i, "wildcards do not work on Chinese or Japanese text, "+
				"which is indexed in pairs of characters; search the characters without '*' or '?'")
		case !(unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) || r == '_' || r == '*' || r == '?'):
			return nil, p.errAt(w.pos+i, "a wildcard matches a single indexed word, and %q would be split at %q; "+
				"search the parts as separate words", w.raw, r)
		}
	}
	return withField(query.NewWildcardQuery(strings.ToLower(w.text)), t), nil
}

// compareQuery builds "field:>x", ">=x", "<x" or "<=x".
func (p *parser) compareQuery(t target, op string, b bound) (query.Query, error) {
	if t.f.Kind == Date {
		d, err := p.parseDate(b)
		if err != nil {
			return nil, err
		}
		switch op {
		case ">=":
			return dateRange(t, d.start, zeroTime), nil
		case ">": // after the whole period named
			return dateRange(t, d.end, zeroTime), nil
		case "<":
			return dateRange(t, zeroTime, d.start), nil
		default: // "<=": up to the end of the period named
			return dateRange(t, zeroTime, d.end), nil
		}
	}
	x, err := p.parseNumber(b)
	if err != nil {
		return nil, err
	}
	switch op {
	case ">=", ">":
		return numberRange(t, &x, nil, op == ">=", false), nil
	default:
		return numberRange(t, nil, &x, false, op == "<="), nil
	}
}

// rangeQuery builds "field:[a TO b]" and its exclusive variants.
func (p *parser) rangeQuery(t target, r span) (query.Query, error) {
	if r.lo.open() && r.hi.open() {
		return nil, p.errAt(r.pos, "a range needs at least one bound that is not '*'")
	}
	if t.f.Kind == Date {
		return p.dateSpan(t, r)
	}
	var lo, hi *float64
	for _, e := range []struct {
		b   bound
		dst **float64
	}{{r.lo, &lo}, {r.hi, &hi}} {
		if e.b.open() {
			continue
		}
		x, err := p.parseNumber(e.b)
		if err != nil {
			return nil, err
		}
		*e.dst = &x
	}
	if lo != nil && hi != nil {
		if *lo > *hi {
			return nil, p.errAt(r.pos, "inverted range: %s is greater than %s", r.lo.text, r.hi.text)
		}
		if *lo == *hi && !(r.loIncl && r.hiIncl) {
			return nil, p.errAt(r.pos, "empty range: nothing lies between %s and %s with an excluded end", r.lo.text, r.hi.text)
		}
	}
	return numberRange(t, lo, hi, r.loIncl, r.hiIncl), nil
}

// parseNumber reads a finite decimal number.
func (p *parser) parseNumber(b bound) (float64, error) {
	x, err := strconv.ParseFloat(b.text, 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, p.errAt(b.pos, "bad number %q", b.text)
	}
	return x, nil
}

// numberRange builds a numeric range; a nil end is open.
func numberRange(t target, lo, hi *float64, loIncl, hiIncl bool) query.Query {
	var li, hic *bool
	if lo != nil {
		li = &loIncl
	}
	if hi != nil {
		hic = &hiIncl
	}
	return withField(query.NewNumericRangeInclusiveQuery(lo, hi, li, hic), t)
}

// fieldSetter is a bleve query that searches one field.
type fieldSetter interface {
	query.Query
	SetField(string)
}

// withField points q at t's index field and returns it.
func withField[Q fieldSetter](q Q, t target) Q {
	q.SetField(t.f.Index)
	return q
}
