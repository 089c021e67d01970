package querystring

import (
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"
)

// maxDepth bounds the nesting of parentheses and prefix operators, so a
// hostile query cannot exhaust the stack.
const maxDepth = 100

// Parse translates query s into a bleve query. A malformed query yields an
// *Error that matches ErrSyntax; bad Options yield a plain error. The
// language is described in the package documentation.
func Parse(s string, o Options) (query.Query, error) {
	fields, names, err := o.fieldTable()
	if err != nil {
		return nil, err
	}
	if err := o.Limits.checkLength(s); err != nil {
		return nil, err
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	p := &parser{s: s, fields: fields, names: names, loc: loc, limits: o.Limits}
	def := target{f: Field{Index: o.DefaultField, Kind: Text}}

	p.skipSpace()
	if p.eof() {
		return nil, p.errAt(0, "empty query")
	}
	n, empty, err := p.parseOr(def)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if empty || !p.eof() {
		// parseOr stops only at the end or at a ')' it did not open.
		return nil, p.errAt(p.pos, "unbalanced parenthesis: ')' has no matching '('")
	}
	return n.resolve(), nil
}

// target is the field a value is searched in: the default field, a field
// named before a colon, or the field of an enclosing "name:( ... )".
type target struct {
	name     string // user-facing name as typed; "" for the default field
	f        Field
	explicit bool // named by the user, not the default field
}

// node is a parsed clause: a query, and whether the clause excludes it.
type node struct {
	q   query.Query
	neg bool
}

// resolve turns a node into a query that stands on its own: an excluding
// clause becomes "everything except q".
func (n node) resolve() query.Query {
	if !n.neg {
		return n.q
	}
	b := query.NewBooleanQuery(nil, nil, nil)
	b.AddMust(query.NewMatchAllQuery())
	b.AddMustNot(appendFlat(nil, n.q, false)...)
	return b
}

// parser is a recursive-descent parser working directly on the query text;
// pos is the byte offset of the next unread character.
type parser struct {
	s      string
	pos    int
	fields map[string]Field
	names  []string
	loc    *time.Location
	depth  int

	limits    Limits
	clauses   int // values searched for so far
	wildcards int // words with '*' or '?' so far
}

func (p *parser) errAt(pos int, format string, args ...any) *Error {
	return newError(p.s, pos, format, args...)
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) peek() byte { return p.s[p.pos] }

func (p *parser) skipSpace() {
	for n := p.spaceAt(p.pos); n > 0; n = p.spaceAt(p.pos) {
		p.pos += n
	}
}

// keyword reports the operator (AND, OR, NOT) that starts at pos, if any.
// Operators are upper case and stand alone: "ORACLE" and "or" are words.
func (p *parser) keyword() string {
	for _, kw := range [...]string{"AND", "OR", "NOT"} {
		end := p.pos + len(kw)
		if strings.HasPrefix(p.s[p.pos:], kw) && (end == len(p.s) || p.delimAt(end)) {
			return kw
		}
	}
	return ""
}

// atClauseEnd reports whether no operand can start at pos.
func (p *parser) atClauseEnd() bool {
	if p.eof() || p.peek() == ')' {
		return true
	}
	kw := p.keyword()
	return kw == "AND" || kw == "OR"
}

// parseOr parses and-groups separated by OR. empty reports that there was
// nothing before the end or a closing parenthesis.
func (p *parser) parseOr(t target) (n node, empty bool, err error) {
	first, empty, err := p.parseAnd(t)
	if err != nil || empty {
		return node{}, empty, err
	}
	var alts []query.Query
	for {
		p.skipSpace()
		if p.eof() || p.keyword() != "OR" {
			break
		}
		orPos := p.pos
		p.pos += len("OR")
		p.skipSpace()
		if p.atClauseEnd() {
			return node{}, false, p.errAt(orPos, "OR needs a query after it")
		}
		next, _, err := p.parseAnd(t)
		if err != nil {
			return node{}, false, err
		}
		if alts == nil {
			alts = appendFlat(alts, first.resolve(), false)
		}
		alts = appendFlat(alts, next.resolve(), false)
	}
	if alts == nil {
		return first, false, nil
	}
	return node{q: query.NewDisjunctionQuery(alts)}, false, nil
}

// parseAnd parses clauses joined by juxtaposition or AND, up to an OR, a
// closing parenthesis or the end.
func (p *parser) parseAnd(t target) (n node, empty bool, err error) {
	var must, mustNot []query.Query
	clauses := 0
	for {
		p.skipSpace()
		if p.eof() || p.peek() == ')' {
			break
		}
		start := p.pos
		switch p.keyword() {
		case "OR":
			if clauses == 0 {
				return node{}, false, p.errAt(start, "OR needs a query before it")
			}
			return andNode(must, mustNot), false, nil
		case "AND":
			p.pos += len("AND")
			p.skipSpace()
			if clauses == 0 {
				return node{}, false, p.errAt(start, "AND needs a query before it")
			}
			if p.atClauseEnd() {
				return node{}, false, p.errAt(start, "AND needs a query after it")
			}
			continue
		}
		c, err := p.parseUnary(t)
		if err != nil {
			return node{}, false, err
		}
		clauses++
		if c.neg {
			mustNot = appendFlat(mustNot, c.q, false)
		} else {
			must = appendFlat(must, c.q, true)
		}
	}
	if clauses == 0 {
		return node{}, true, nil
	}
	return andNode(must, mustNot), false, nil
}

// andNode combines the clauses of an and-group. A group of exclusions only
// stays an exclusion, so that "a (-b)" excludes b from a rather than adding
// "everything but b".
func andNode(must, mustNot []query.Query) node {
	if len(must) > 1 {
		// "*" next to another clause adds nothing.
		kept := must[:0:0]
		for _, q := range must {
			if _, all := q.(*query.MatchAllQuery); !all {
				kept = append(kept, q)
			}
		}
		if len(kept) == 0 {
			kept = must[:1]
		}
		must = kept
	}
	switch {
	case len(mustNot) == 0 && len(must) == 1:
		return node{q: must[0]}
	case len(mustNot) == 0:
		return node{q: query.NewConjunctionQuery(must)}
	case len(must) == 0 && len(mustNot) == 1:
		return node{q: mustNot[0], neg: true}
	case len(must) == 0:
		return node{q: query.NewDisjunctionQuery(mustNot), neg: true}
	}
	b := query.NewBooleanQuery(nil, nil, nil)
	b.AddMust(must...)
	b.AddMustNot(mustNot...)
	return node{q: b}
}

// appendFlat appends q to qs, splicing in the parts of a conjunction (and)
// or disjunction (!and) of the same sort, which means the same thing.
func appendFlat(qs []query.Query, q query.Query, and bool) []query.Query {
	if c, ok := q.(*query.ConjunctionQuery); ok && and {
		return append(qs, c.Conjuncts...)
	}
	if d, ok := q.(*query.DisjunctionQuery); ok && !and && d.Min == 0 {
		return append(qs, d.Disjuncts...)
	}
	return append(qs, q)
}

// parseUnary parses NOT, '-' and '+' prefixes and the clause they apply to.
// Every prefix and every parenthesis passes through it, so it is where the
// depth of nesting is counted.
func (p *parser) parseUnary(t target) (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return node{}, p.errAt(p.pos, "query is nested more than %d levels deep", maxDepth)
	}
	start := p.pos
	if p.keyword() == "NOT" {
		p.pos += len("NOT")
		p.skipSpace()
		if p.atClauseEnd() {
			return node{}, p.errAt(start, "NOT needs a query after it")
		}
		n, err := p.parseUnary(t)
		n.neg = !n.neg
		return n, err
	}
	if c := p.peek(); c == '-' || c == '+' {
		p.pos++
		if p.eof() || p.spaceAt(p.pos) > 0 || p.peek() == ')' {
			return node{}, p.errAt(start, "%q needs a query right after it, without a space", c)
		}
		n, err := p.parseUnary(t)
		if c == '-' {
			n.neg = !n.neg
		}
		return n, err
	}
	return p.parsePrimary(t)
}

// parsePrimary parses one clause: a group, a phrase, or a word, each with an
// optional "name:" in front.
func (p *parser) parsePrimary(t target) (node, error) {
	start := p.pos
	if name, ok := p.scanFieldName(); ok {
		f, known := p.fields[strings.ToLower(name)]
		if !known {
			return node{}, p.unknownField(start, name)
		}
		if p.eof() || p.spaceAt(p.pos) > 0 || p.peek() == ')' {
			return node{}, p.errAt(p.pos, "missing value after %q", name+":")
		}
		if c := p.peek(); f.Kind == Text && (c == '-' || c == '+') {
			// The analyser would drop the sign and search for the word.
			return node{}, p.errAt(p.pos, "%q in a text value neither excludes nor requires: "+
				"put it before the field (%c%s:...) or quote the value", c, c, name)
		}
		t = target{name: name, f: f, explicit: true}
	}
	if p.peek() == '(' {
		return p.parseGroup(t)
	}
	q, err := p.parseValue(t)
	return node{q: q}, err
}

// parseGroup parses "( ... )"; t is the field for the words inside.
func (p *parser) parseGroup(t target) (node, error) {
	open := p.pos
	p.pos++
	n, empty, err := p.parseOr(t)
	if err != nil {
		return node{}, err
	}
	p.skipSpace()
	if p.eof() {
		return node{}, p.errAt(open, "unbalanced parenthesis: '(' is never closed")
	}
	if empty {
		return node{}, p.errAt(open, "empty parentheses")
	}
	p.pos++ // ')'
	return n, nil
}

func (p *parser) unknownField(pos int, name string) *Error {
	if len(p.names) == 0 {
		return p.errAt(pos, "unknown field %q: this search has no fields; put text containing ':' in quotes", name)
	}
	return p.errAt(pos, "unknown field %q: fields are %s; put text containing ':' in quotes",
		name, strings.Join(p.names, ", "))
}
