package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mustWriteConfig writes text to a config file in a temporary directory.
func mustWriteConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "holdfast.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantFieldError fails t unless err is a *FieldError for key whose message
// contains every one of want.
func wantFieldError(t *testing.T, err error, key string, want ...string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v; want a *FieldError for %s", err, key)
	}
	if fe.Key != key {
		t.Errorf("error = %v; want key %s", err, key)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error = %v; want it to contain %q", err, w)
		}
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
	}
}

func TestLoadFull(t *testing.T) {
	t.Setenv("HOLDFAST_S3_ACCESS_KEY", "minio")
	t.Setenv("HOLDFAST_S3_SECRET_KEY", "minio#secret: x")
	cfg, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.SMTP.Listen = "127.0.0.1:2525"
	want.SMTP.Allow, want.SMTP.Users = []string{}, []SMTPUser{}
	want.Cluster.Join = []string{}
	want.Storage.S3.AccessKey, want.Storage.S3.SecretKey = "minio", "minio#secret: x"
	want.Retention.Policies = []Policy{
		{Name: "wecom-traders", Tenant: "acme", Platform: "wecom", Department: "trading", Retain: mustPeriod(t, "10y")},
		{Name: "email-journal", Platform: "email", Retain: mustPeriod(t, "7y6mo")},
	}
	want.Auth.Tokens = []Token{
		{Name: "journal", Role: "ingest", TokenSHA256: "02bfc7a1df7fa377395024741f4a6d3a54ce6c2f6a30a61bf1d3c1817fd465b5"},
		{Name: "legal", Role: "legal", TokenSHA256: "bb691648c6adb81dc34dcf2278c75a0d3ff256d2464036ec233bf831df016c16"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load(full.yaml) =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestLoadEmptyIsDefault(t *testing.T) {
	for _, text := range []string{"", "# only a comment\n", "node:\n", "spool: {max_bytes: }\n"} {
		cfg, err := LoadBytes([]byte(text), nil)
		if err != nil || !reflect.DeepEqual(cfg, Default()) {
			t.Errorf("LoadBytes(%q) = %+v, %v; want Default()", text, cfg, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("error = %v; want fs.ErrNotExist and not ErrInvalid", err)
	}
}

func TestLoadEnv(t *testing.T) {
	t.Setenv("HF_ID", "node7")
	t.Setenv("HF_SECURE", "true")
	t.Setenv("HF_PORT", "9001")
	t.Setenv("HF_EMPTY", "")
	t.Setenv("HF_SEG", "32MiB")
	t.Setenv("HF_WEIRD", "a: b # c")
	path := mustWriteConfig(t, `
# ${HF_UNSET_IN_COMMENT} is never expanded here
node: {id: "${HF_ID}", data_dir: "/data/${HF_ID}"}
http: {listen: "127.0.0.1:$HF_PORT"}
storage:
  s3:
    endpoint: minio:${HF_PORT}
    secure: "${HF_SECURE}"
    access_key: ${HF_WEIRD}
    secret_key: "${HF_PORT}"
    region: ${HF_REGION:-us-east-1}
    bucket: ${HF_EMPTY:-fallback}
segment: {max_bytes: "${HF_SEG}"}
spool: {max_bytes: "${HF_EMPTY}"}
log:
  format: text$$
`)
	_, err := Load(path)
	wantFieldError(t, err, "http.listen", `"127.0.0.1:$HF_PORT": bad port "$HF_PORT"`)

	text, _ := os.ReadFile(path)
	text = []byte(strings.Replace(string(text), "$HF_PORT\"", "${HF_PORT}\"", 1))
	text = []byte(strings.Replace(string(text), "text$$", "text", 1))
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s3 := cfg.Storage.S3
	for _, c := range []struct{ got, want any }{
		{cfg.Node.ID, "node7"},
		{cfg.Node.DataDir, "/data/node7"},
		{cfg.HTTP.Listen, "127.0.0.1:9001"},
		{s3.Endpoint, "minio:9001"},
		{s3.Secure, true},          // quoted, still a boolean
		{s3.AccessKey, "a: b # c"}, // never read as YAML
		{s3.SecretKey, "9001"},     // a string key keeps the text
		{s3.Region, "us-east-1"},   // unset: the default after :-
		{s3.Bucket, "fallback"},    // empty: the default after :-
		{cfg.Segment.MaxBytes, 32 * MiB},
		{cfg.Spool.MaxBytes, DefaultSpoolMaxBytes}, // empty: the key's default
	} {
		if c.got != c.want {
			t.Errorf("got %v; want %v", c.got, c.want)
		}
	}

	t.Setenv("HF_LOG", "log: {format: $$}")
	cfg, err = LoadBytes([]byte("log:\n  format: $${HF_LOG}\n"), nil)
	wantFieldError(t, err, "log.format", `"${HF_LOG}": want json or text`)
}

func TestLoadEnvErrors(t *testing.T) {
	t.Setenv("HF_MAXAGE", "forty")
	for _, tt := range []struct{ text, key, want string }{
		{"storage:\n  s3:\n    secret_key: ${HF_NOT_SET}\n", "storage.s3.secret_key", "HF_NOT_SET is not set (use ${HF_NOT_SET:-default} for a default) (line 3)"},
		{"node:\n  id: ${HF_NOT_SET}x\n", "node.id", "HF_NOT_SET is not set"},
		{"node: {id: \"${1BAD}\"}\n", "node.id", "bad variable name"},
		{"node: {id: \"${}\"}\n", "node.id", "bad variable name"},
		{"node: {id: \"${HF_ID\"}\n", "node.id", "unclosed ${"},
		{"segment: {max_age: \"${HF_MAXAGE}\"}\n", "segment.max_age", `duration "forty"`},
		{"cluster: {join: [a:1, \"${HF_NOT_SET}\"]}\n", "cluster.join[1]", "HF_NOT_SET"},
		{"log:\n  format: ${HF_NOT_SET:-text}\n  level: ${HF_NOT_SET}\n", "log.level", "(line 3)"},
	} {
		_, err := LoadBytes([]byte(tt.text), os.LookupEnv)
		wantFieldError(t, err, tt.key, tt.want)
	}
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"A": "x", "E": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"${A}", "x"},
		{"<${A}${A}>", "<xx>"},
		{"${E}", ""},
		{"${E:-d}", "d"},
		{"${U:-d e}", "d e"},
		{"${U:-}", ""},
		{"${A:-d}", "x"},
		{"$$", "$"},
		{"$${A}", "${A}"},
		{"a$b$", "a$b$"},
		{"100$", "100$"},
	} {
		got, err := expandEnv(tt.in, lookup)
		if err != nil || got != tt.want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestLoadKeyErrors(t *testing.T) {
	for _, tt := range []struct{ text, key, want string }{
		{"nodes: {id: a}\n", "nodes", "unknown key (line 1)"},
		{"segment:\n  max_age: 30s\n  max_byts: 16MiB\n", "segment.max_byts", "unknown key (line 3)"},
		{"auth:\n  tokens:\n    - name: a\n      rol: ingest\n", "auth.tokens[0].rol", "unknown key (line 4)"},
		{"storage: {s3: {bucket_name: x}}\n", "storage.s3.bucket_name", "unknown key"},
		{"log: {level: info}\nlog: {level: debug}\n", "log", "already set on line 1 (line 2)"},
		{"node: node1\n", "node", "want a mapping"},
		{"cluster: {join: a:1}\n", "cluster.join", "want a list"},
		{"http: {listen: [a, b]}\n", "http.listen", "want a single value"},
		{"segment: {max_bytes: {a: 1}}\n", "segment.max_bytes", "want a single value"},
		{"segment: {max_bytes: 16XB}\n", "segment.max_bytes", `unknown unit "XB" (use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB) (line 1)`},
		{"retention: {default: 18months}\n", "retention.default", `unknown unit "months"`},
		{"- a\n", "", "want a mapping"},
	} {
		_, err := LoadBytes([]byte(tt.text), nil)
		wantFieldError(t, err, tt.key, tt.want)
	}
}

func TestLoadYAMLErrors(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"node: {id: a\n", "config: yaml: line 1: did not find expected ',' or '}'"},
		{"storage: {s3: {secure: maybe}}", "config: yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `maybe` into bool"},
		{"segment: {max_bytes: ${X}}", "quote a value that uses ${...}"},
	} {
		_, err := LoadBytes([]byte(tt.text), nil)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadBytes(%q) error = %v; want one containing %q that is ErrInvalid", tt.text, err, tt.want)
		}
	}
}

// Anchors and merge keys work, and an alias is expanded only once.
func TestLoadAnchors(t *testing.T) {
	t.Setenv("HF_PLATFORM", "slack")
	text := `
retention:
  policies:
    - &base {name: a, platform: "${HF_PLATFORM}", retain: 1y}
    - <<: *base
      name: b
    - *base
`
	_, err := LoadBytes([]byte(text), nil)
	wantFieldError(t, err, "retention.policies[2].name", `"a": already used by retention.policies[0]`)
	text = strings.Replace(text, "    - *base\n", "", 1)
	cfg, err := LoadBytes([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Retention.Policies
	if len(p) != 2 || p[1].Name != "b" || p[1].Platform != "slack" || p[1].Retain != mustPeriod(t, "1y") {
		t.Errorf("policies = %+v", p)
	}
	_, err = LoadBytes([]byte("log:\n  <<: {levle: info}\n"), nil)
	wantFieldError(t, err, "log.levle", "unknown key")
}

// Load validates what it decoded.
func TestLoadValidates(t *testing.T) {
	_, err := LoadBytes([]byte("segment: {max_age: 48h}\n"), nil)
	wantFieldError(t, err, "segment.max_age", "2d: want 100ms to 1d")
	cfg, err := LoadBytes([]byte("segment: {max_age: 1m}\n"), nil)
	if err != nil || cfg.Segment.MaxAge != Duration(time.Minute) {
		t.Errorf("got %v, %v", cfg.Segment.MaxAge, err)
	}
}
