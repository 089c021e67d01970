package querystring

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrLimit is matched, through errors.Is, by every *LimitError: the query
// is well formed but costs more than Options.Limits allow.
var ErrLimit = errors.New("query over limit")

// Names of the limits, as LimitError.Limit reports them. They are the keys
// of the daemon's search configuration (search.max_query_bytes, ...).
const (
	LimitQueryBytes   = "max_query_bytes"
	LimitClauses      = "max_clauses"
	LimitWildcards    = "max_wildcards"
	LimitPatternChars = "max_pattern_chars"
	LimitPatternWilds = "max_pattern_wildcards"
)

// Limits bound what one query may ask of the index. A zero field means no
// limit. What a search costs grows with each of them: every clause is a
// searcher over the index, and every pattern walks a field's whole
// dictionary (its leading wildcard) through an automaton whose size grows
// with the pattern.
type Limits struct {
	// MaxBytes is the longest query, in bytes.
	MaxBytes int
	// MaxClauses is the most values a query may search for: each word,
	// phrase, pattern, range or comparison is one, wherever it stands.
	MaxClauses int
	// MaxWildcards is the most words with '*' or '?' a query may hold
	// (name:* included; the lone * that matches everything is free).
	MaxWildcards int
	// MaxPatternChars is the most characters in one such word.
	MaxPatternChars int
	// MaxPatternWildcards is the most '*' and '?' in one such word: the
	// automaton of "*a?b?c?..." grows exponentially with them (31 of them
	// took more than 20 s on 100,000 messages, 5 under a second).
	MaxPatternWildcards int
}

// LimitError reports a query that is over one of its Limits.
type LimitError struct {
	Limit string // which limit: LimitQueryBytes, LimitClauses, ...
	Max   int    // the limit's value
	Got   int    // what the query has (at least: counting stops at Max+1)
	Pos   int    // 0-based byte offset of the clause that went over
	Msg   string // what is over, in a sentence a user can act on

	char int
}

// Error returns "query: at character N: MSG".
func (e *LimitError) Error() string {
	n := e.char
	if n == 0 {
		n = e.Pos + 1
	}
	return fmt.Sprintf("query: at character %d: %s", n, e.Msg)
}

// Is makes errors.Is(err, ErrLimit) true for every *LimitError.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// limitError builds a *LimitError at byte offset pos of s.
func limitError(s string, pos int, limit string, max, got int, format string, args ...any) *LimitError {
	pos = min(max0(pos), len(s))
	return &LimitError{Limit: limit, Max: max, Got: got, Pos: pos,
		Msg: fmt.Sprintf(format, args...), char: utf8.RuneCountInString(s[:pos]) + 1}
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// checkLength refuses a query longer than Limits.MaxBytes before any of it
// is read.
func (l Limits) checkLength(s string) error {
	if l.MaxBytes > 0 && len(s) > l.MaxBytes {
		return &LimitError{Limit: LimitQueryBytes, Max: l.MaxBytes, Got: len(s), Pos: l.MaxBytes,
			Msg: fmt.Sprintf("the query is %d bytes long; the limit (%s) is %d: search for fewer or shorter terms",
				len(s), LimitQueryBytes, l.MaxBytes), char: utf8.RuneCountInString(safePrefix(s, l.MaxBytes)) + 1}
	}
	return nil
}

// safePrefix is s cut at n bytes, backed off to a character boundary.
func safePrefix(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// clause counts one value searched for, at byte offset pos.
func (p *parser) clause(pos int) error {
	p.clauses++
	if m := p.limits.MaxClauses; m > 0 && p.clauses > m {
		return limitError(p.s, pos, LimitClauses, m, p.clauses,
			"the query searches for more than %d values (%s): split it into several searches or narrow it with filters", m, LimitClauses)
	}
	return nil
}

// pattern counts one word with wildcards and checks its length.
func (p *parser) pattern(w word) error {
	p.wildcards++
	if m := p.limits.MaxWildcards; m > 0 && p.wildcards > m {
		return limitError(p.s, w.pos, LimitWildcards, m, p.wildcards,
			"the query has more than %d words with '*' or '?' (%s): each one reads every indexed word of its field; "+
				"use fewer, or whole words", m, LimitWildcards)
	}
	if m, n := p.limits.MaxPatternChars, utf8.RuneCountInString(w.text); m > 0 && n > m {
		return limitError(p.s, w.pos, LimitPatternChars, m, n,
			"the pattern is %d characters long; the limit (%s) is %d: shorten it, or search the word without '*' or '?'",
			n, LimitPatternChars, m)
	}
	if m, n := p.limits.MaxPatternWildcards, strings.Count(w.text, "*")+strings.Count(w.text, "?"); m > 0 && n > m {
		return limitError(p.s, w.pos, LimitPatternWilds, m, n,
			"the pattern has %d '*' and '?'; the limit (%s) is %d: use fewer", n, LimitPatternWilds, m)
	}
	return nil
}

// ideograph counts a single Chinese or Japanese character at pos, which is
// searched as patterns ("?卡" walks the whole dictionary), against
// MaxWildcards.
func (p *parser) ideograph(pos int) error {
	p.wildcards++
	if m := p.limits.MaxWildcards; m > 0 && p.wildcards > m {
		return limitError(p.s, pos, LimitWildcards, m, p.wildcards,
			"the query has more than %d words with '*' or '?' (%s), counting each Chinese or Japanese character "+
				"that stands alone, which is searched as a pattern since the index holds such text in pairs: "+
				"search longer words, or fewer", m, LimitWildcards)
	}
	return nil
}

// onlyWildcards reports whether a pattern has nothing but '*' and '?' in
// it: it would match every word of its field, at the cost of reading each.
func onlyWildcards(pattern string) bool {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '*' && pattern[i] != '?' {
			return false
		}
	}
	return true
}
