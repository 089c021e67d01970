package config

import "time"

// Defaults of the search budget (search:).
const (
	DefaultSearchTimeout        = Duration(10 * time.Second)
	DefaultMaxQueryBytes        = 8 * KiB
	DefaultMaxClauses           = 256
	DefaultMaxWildcards         = 10
	DefaultMaxPatternChars      = 64
	DefaultMaxPatternWords      = 4096
	DefaultMaxPatternWildcards  = 4
	DefaultMaxSearchesPerCaller = 4
	MinSearchTimeout            = Duration(100 * time.Millisecond)
	MaxSearchTimeout            = Duration(time.Hour)
	MaxMaxQueryBytes            = 1 * MiB
	MaxMaxClauses               = 10_000
	MaxMaxWildcards             = 1_000
	MaxMaxPatternChars          = 1_000
	MaxMaxPatternWords          = 1_000_000
	MaxMaxPatternWildcards      = 64
	MaxMaxSearchesPerCaller     = 1_000
)

// Search bounds what one search (GET/POST /v1/search, /v1/audit) may cost:
// a query over a limit is refused with 400 naming it, a search running past
// Timeout is stopped and answered 504, and a caller with
// MaxConcurrentPerCaller searches running gets 429 and Retry-After.
type Search struct {
	// Timeout is how long a search may run; bleve is stopped then.
	Timeout Duration `yaml:"timeout"`
	// MaxQueryBytes is the longest query string.
	MaxQueryBytes Size `yaml:"max_query_bytes"`
	// MaxClauses is how many values (words, phrases, patterns, ranges) a
	// query may search for.
	MaxClauses int `yaml:"max_clauses"`
	// MaxWildcards is how many words with '*' or '?' a query may hold.
	MaxWildcards int `yaml:"max_wildcards"`
	// MaxPatternChars is the longest such word, in characters.
	MaxPatternChars int `yaml:"max_pattern_chars"`
	// MaxPatternWildcards is how many '*' and '?' one such word may hold.
	MaxPatternWildcards int `yaml:"max_pattern_wildcards"`
	// MaxPatternWords is how many indexed words one pattern may match in
	// a monthly partition.
	MaxPatternWords int `yaml:"max_pattern_words"`
	// MaxConcurrentPerCaller is how many searches one token may have
	// running at once.
	MaxConcurrentPerCaller int `yaml:"max_concurrent_per_caller"`
}

// defaultSearch is Search with every default.
func defaultSearch() Search {
	return Search{
		Timeout: DefaultSearchTimeout, MaxQueryBytes: DefaultMaxQueryBytes, MaxClauses: DefaultMaxClauses,
		MaxWildcards: DefaultMaxWildcards, MaxPatternChars: DefaultMaxPatternChars, MaxPatternWildcards: DefaultMaxPatternWildcards,
		MaxPatternWords: DefaultMaxPatternWords, MaxConcurrentPerCaller: DefaultMaxSearchesPerCaller,
	}
}

func (c *Config) validateSearch() error {
	s := c.Search
	for _, n := range []struct {
		key   string
		v, hi int
	}{
		{"search.max_clauses", s.MaxClauses, MaxMaxClauses},
		{"search.max_wildcards", s.MaxWildcards, MaxMaxWildcards},
		{"search.max_pattern_chars", s.MaxPatternChars, MaxMaxPatternChars},
		{"search.max_pattern_wildcards", s.MaxPatternWildcards, MaxMaxPatternWildcards},
		{"search.max_pattern_words", s.MaxPatternWords, MaxMaxPatternWords},
		{"search.max_concurrent_per_caller", s.MaxConcurrentPerCaller, MaxMaxSearchesPerCaller},
	} {
		if n.v < 1 || n.v > n.hi {
			return bad(n.key, "%d: want 1 to %d", n.v, n.hi)
		}
	}
	switch {
	case s.Timeout < MinSearchTimeout || s.Timeout > MaxSearchTimeout:
		return bad("search.timeout", "%v: want %v to %v", s.Timeout, MinSearchTimeout, MaxSearchTimeout)
	case s.MaxQueryBytes < 1 || s.MaxQueryBytes > MaxMaxQueryBytes:
		return bad("search.max_query_bytes", "%v: want 1B to %v", s.MaxQueryBytes, MaxMaxQueryBytes)
	}
	return nil
}
