package config

import (
	"errors"
	"strings"
	"testing"
)

// Every search.* key is checked, and the error names it.
func TestValidateSearch(t *testing.T) {
	for _, tc := range []struct {
		yaml, key string
	}{
		{"search: {timeout: 10ms}", "search.timeout"},
		{"search: {timeout: 2h}", "search.timeout"},
		{"search: {max_query_bytes: 0}", "search.max_query_bytes"},
		{"search: {max_query_bytes: 2MiB}", "search.max_query_bytes"},
		{"search: {max_clauses: 0}", "search.max_clauses"},
		{"search: {max_wildcards: -1}", "search.max_wildcards"},
		{"search: {max_pattern_chars: 0}", "search.max_pattern_chars"},
		{"search: {max_pattern_words: 0}", "search.max_pattern_words"},
		{"search: {max_pattern_wildcards: 65}", "search.max_pattern_wildcards"},
		{"search: {max_concurrent_per_caller: 0}", "search.max_concurrent_per_caller"},
	} {
		c, err := LoadBytes([]byte(tc.yaml), nil)
		if err == nil {
			err = c.Validate()
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Key != tc.key || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v; want one for %s", tc.yaml, err, tc.key)
		}
	}
	c, err := LoadBytes([]byte("search: {timeout: 30s, max_wildcards: 3, max_query_bytes: 4KiB}"), nil)
	if err != nil || c.Validate() != nil {
		t.Fatalf("valid search settings: %v", err)
	}
	if c.Search.Timeout != Duration(30e9) || c.Search.MaxWildcards != 3 || c.Search.MaxQueryBytes != 4*KiB ||
		c.Search.MaxClauses != DefaultMaxClauses {
		t.Errorf("loaded %+v", c.Search)
	}
	if d := Default(); d.Validate() != nil || !strings.Contains(d.Search.Timeout.String(), "10s") {
		t.Errorf("default search settings %+v", d.Search)
	}
}
