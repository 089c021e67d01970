package config

import (
	"bytes"
	"encoding"
	"fmt"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the YAML file at path onto Default, expanding ${VAR} from the
// process environment, and validates the result. See LoadBytes.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return LoadBytes(b, os.LookupEnv)
}

// LoadBytes decodes the YAML document b onto Default and validates it.
//
// Every scalar value may use ${VAR}, ${VAR:-default} (used when VAR is unset
// or empty) and $$ for a literal $; a ${VAR} that env does not know is an
// error. A nil env means os.LookupEnv. Expansion happens inside each parsed
// value, so comments are never expanded and a variable's text is never read
// as YAML: a secret may contain '#' or ': ' safely. An expanded value is
// read as its key's type, quoted or not: secure: "${S3_SECURE}" is a
// boolean, and an empty expansion leaves a non-string key at its default.
// Inside flow style ({...} or [...]) a value using ${...} must be quoted,
// since YAML reads its braces as the mapping's.
//
// A key the Config does not have, a value of the wrong shape and a bad size,
// duration or period are *FieldError naming the dotted key and the line.
func LoadBytes(b []byte, env func(string) (string, bool)) (Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	cfg := Default()
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		hint := ""
		if bytes.Contains(b, []byte("${")) {
			hint = " (inside {...} or [...], quote a value that uses ${...})"
		}
		return Config{}, &yamlError{err, hint}
	}
	if len(doc.Content) > 0 { // an empty file or only comments means all defaults
		w := walker{env: env, expanded: map[*yaml.Node]bool{}}
		if err := w.walk(doc.Content[0], reflect.TypeOf(cfg), ""); err != nil {
			return Config{}, err
		}
		if err := doc.Decode(&cfg); err != nil {
			return Config{}, &yamlError{err, ""}
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// yamlError is a document the yaml package rejects: not YAML at all, or a
// value walk let through that still does not decode. yaml's message already
// carries the line.
type yamlError struct {
	err  error
	hint string
}

func (e *yamlError) Error() string   { return "config: " + e.err.Error() + e.hint }
func (e *yamlError) Unwrap() []error { return []error{e.err, ErrInvalid} }

// textUnmarshaler is the type of the scalar types' pointers: Size, Duration, Period.
var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// walker checks a parsed document against the Config type before decoding,
// so every problem is reported with its dotted key: unknown and duplicate
// keys (what yaml's KnownFields would catch, but with a path), values of the
// wrong shape, and unparsable sizes, durations and periods. On the way it
// expands ${VAR} in every scalar value, once per node.
type walker struct {
	env      func(string) (string, bool)
	expanded map[*yaml.Node]bool
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode {
		if err := w.expand(n, t, path); err != nil {
			return err
		}
		if n.ShortTag() == "!!null" {
			return nil // yaml leaves the default in place
		}
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		if n.Kind != yaml.ScalarNode {
			return fieldErr(path, n, "want a single value, not a mapping or list")
		}
		v := reflect.New(t).Interface().(encoding.TextUnmarshaler)
		if err := v.UnmarshalText([]byte(n.Value)); err != nil {
			return fieldErr(path, n, err.Error())
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fieldErr(path, n, "want a mapping of keys to values")
		}
		return w.mapping(n, t, path, map[string]int{})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fieldErr(path, n, "want a list")
		}
		for i, c := range n.Content {
			if err := w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	default:
		if n.Kind != yaml.ScalarNode {
			return fieldErr(path, n, "want a single value, not a mapping or list")
		}
		return nil // yaml itself checks booleans and numbers
	}
}

// mapping walks a mapping onto struct type t; seen holds the keys met so far
// with their lines, across "<<" merges.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string, seen map[string]int) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			if err := w.merge(v, t, path); err != nil {
				return err
			}
			continue
		}
		key := join(path, k.Value)
		f, ok := fieldByKey(t, k.Value)
		if !ok {
			return fieldErr(key, k, "unknown key")
		}
		if line, dup := seen[k.Value]; dup {
			return fieldErr(key, k, fmt.Sprintf("already set on line %d", line))
		}
		seen[k.Value] = k.Line
		if err := w.walk(v, f.Type, key); err != nil {
			return err
		}
	}
	return nil
}

// merge walks the value of a "<<" key: a mapping, or a list of them.
func (w *walker) merge(v *yaml.Node, t reflect.Type, path string) error {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		// Merged keys may be overridden by the mapping itself, so they get a fresh seen.
		return w.mapping(v, t, path, map[string]int{})
	case yaml.SequenceNode:
		for _, c := range v.Content {
			if err := w.merge(c, t, path); err != nil {
				return err
			}
		}
		return nil
	}
	return fieldErr(path, v, "<< wants a mapping or a list of mappings")
}

// fieldByKey finds the field of struct t whose yaml key is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if f.IsExported() && name != "-" && name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldErr is a FieldError for key at node n's line.
func fieldErr(key string, n *yaml.Node, reason string) *FieldError {
	return &FieldError{Key: key, Reason: fmt.Sprintf("%s (line %d)", reason, n.Line)}
}

// expand replaces ${VAR}, ${VAR:-default} and $$ in scalar n's value, for
// a field of type t. Once expanded, a value is what its field makes of the
// text, however it was quoted: a string field gets the text as it is; any
// other field gets it the way yaml reads an unquoted value ("true", "8080",
// "16MiB"), and an empty one leaves the default in place.
func (w *walker) expand(n *yaml.Node, t reflect.Type, path string) error {
	if w.expanded[n] || !strings.Contains(n.Value, "$") {
		return nil
	}
	w.expanded[n] = true
	s, err := expandEnv(n.Value, w.env)
	if err != nil {
		return fieldErr(path, n, err.Error())
	}
	if s != n.Value {
		n.Value = s
		if t.Kind() == reflect.String {
			n.Tag = "!!str"
		} else {
			n.Tag, n.Style = "", 0
		}
	}
	return nil
}

// expandEnv expands s as LoadBytes describes. A '$' before anything but
// '{' or '$' is kept as it is.
func expandEnv(s string, env func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			s = s[i+1:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", s[i:])
		}
		name, def, hasDef := strings.Cut(s[i+2:i+end], ":-")
		if !isEnvName(name) {
			return "", fmt.Errorf("bad variable name in %q", s[i:i+end+1])
		}
		v, ok := env(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set (use ${%s:-default} for a default)", name, name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

// isEnvName reports whether s is a shell variable name.
func isEnvName(s string) bool {
	for i, r := range s {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}
