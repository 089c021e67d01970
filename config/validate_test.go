package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	sha1 = "02bfc7a1df7fa377395024741f4a6d3a54ce6c2f6a30a61bf1d3c1817fd465b5"
	sha2 = "bb691648c6adb81dc34dcf2278c75a0d3ff256d2464036ec233bf831df016c16"
)

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Retention.Default.String() != "7y" || c.Segment.MaxBytes != 16*MiB || c.Spool.MaxBytes != 10*GiB ||
		c.Segment.MaxAge != Duration(30*time.Second) || c.Storage.Kind != "s3" || c.SMTP.Listen != "" ||
		c.HTTP.MaxBodyBytes != 64*MiB || c.HTTP.MaxFieldBytes != MiB || c.Storage.S3.Bucket != "holdfast" {
		t.Errorf("Default() = %+v", c)
	}
}

// withTokens is a valid config with two tokens and two policies, so the
// table below can break one thing at a time.
func withTokens() Config {
	c := Default()
	c.Auth.Tokens = []Token{{"journal", "ingest", sha1}, {"legal", "legal", sha2}}
	c.Retention.Policies = []Policy{
		{Name: "a", Platform: "wecom", Retain: Period{years: 10}},
		{Name: "b", Platform: "email", Retain: Period{forever: true}},
	}
	return c
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		key    string
		change func(c *Config)
	}{
		{"node.id", func(c *Config) { c.Node.ID = "" }},
		{"node.id", func(c *Config) { c.Node.ID = "node 1" }},
		{"node.id", func(c *Config) { c.Node.ID = strings.Repeat("n", 65) }},
		{"node.data_dir", func(c *Config) { c.Node.DataDir = "" }},
		{"http.listen", func(c *Config) { c.HTTP.Listen = "" }},
		{"http.listen", func(c *Config) { c.HTTP.Listen = "8080" }},
		{"http.listen", func(c *Config) { c.HTTP.Listen = "localhost:http" }},
		{"http.listen", func(c *Config) { c.HTTP.Listen = "localhost:65536" }},
		{"http.tls_key", func(c *Config) { c.HTTP.TLSCert = "cert.pem" }},
		{"http.tls_cert", func(c *Config) { c.HTTP.TLSKey = "key.pem" }},
		{"smtp.listen", func(c *Config) { c.SMTP.Listen = "2525" }},
		{"cluster.raft_listen", func(c *Config) { c.Cluster.RaftListen = "" }},
		{"cluster.raft_listen", func(c *Config) { c.Cluster.RaftListen = ":7000" }},
		{"cluster.raft_listen", func(c *Config) { c.Cluster.RaftListen = "0.0.0.0:7000" }},
		{"cluster.raft_listen", func(c *Config) { c.Cluster.RaftListen = "[::]:7000" }},
		{"cluster.raft_listen", func(c *Config) { c.Cluster.RaftListen = "10.0.0.1:0" }},
		{"cluster.join[1]", func(c *Config) { c.Cluster.Join = []string{"node2:8080", "node3"} }},
		{"cluster.join[0]", func(c *Config) { c.Cluster.Join = []string{"ftp://node2:8080"} }},
		{"cluster.join[0]", func(c *Config) { c.Cluster.Join = []string{"https://node2:8443"} }},
		{"cluster.secret", func(c *Config) { c.Cluster.Join = []string{"node2:7000"} }},
		{"cluster.tls_ca", func(c *Config) { c.Cluster.TLSCert, c.Cluster.TLSKey = "c.pem", "k.pem" }},
		{"cluster.secret", func(c *Config) { c.Cluster.Secret = "short" }},
		{"cluster.handshake_timeout", func(c *Config) { c.Cluster.HandshakeTimeout = 0 }},
		{"cluster.handshake_timeout", func(c *Config) { c.Cluster.HandshakeTimeout = Duration(2 * time.Minute) }},
		{"cluster.max_handshakes", func(c *Config) { c.Cluster.MaxHandshakes = 0 }},
		{"cluster.max_handshakes_per_addr", func(c *Config) { c.Cluster.MaxHandshakesPerAddr = 0 }},
		{"cluster.max_handshakes_per_addr", func(c *Config) { c.Cluster.MaxHandshakesPerAddr = 200 }},
		{"storage.kind", func(c *Config) { c.Storage.Kind = "S3" }},
		{"storage.kind", func(c *Config) { c.Storage.Kind = "" }},
		{"storage.s3.endpoint", func(c *Config) { c.Storage.S3.Endpoint = "" }},
		{"storage.s3.endpoint", func(c *Config) { c.Storage.S3.Endpoint = "https://s3.amazonaws.com" }},
		{"storage.s3.endpoint", func(c *Config) { c.Storage.S3.Endpoint = "minio:9000/bucket" }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = "" }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = "ab" }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = strings.Repeat("b", 64) }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = "Holdfast" }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = "hold_fast" }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = "-holdfast" }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = "holdfast." }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = "hold..fast" }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = "192.168.5.4" }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = "xn--holdfast" }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.S3.Bucket = "holdfast-s3alias" }},
		{"storage.s3.secret_key", func(c *Config) { c.Storage.S3.AccessKey = "minio" }},
		{"storage.s3.access_key", func(c *Config) { c.Storage.S3.SecretKey = "minio123" }},
		{"http.max_body_bytes", func(c *Config) { c.HTTP.MaxBodyBytes = 0 }},
		{"http.max_field_bytes", func(c *Config) { c.HTTP.MaxFieldBytes = 0 }},
		{"http.max_field_bytes", func(c *Config) { c.HTTP.MaxFieldBytes = 65 * MiB }},
		{"segment.max_bytes", func(c *Config) { c.Segment.MaxBytes = 64*KiB - 1 }},
		{"segment.max_bytes", func(c *Config) { c.Segment.MaxBytes = 5*GiB + 1 }},
		{"segment.max_age", func(c *Config) { c.Segment.MaxAge = Duration(99 * time.Millisecond) }},
		{"segment.max_age", func(c *Config) { c.Segment.MaxAge = Duration(25 * time.Hour) }},
		{"spool.max_bytes", func(c *Config) { c.Spool.MaxBytes = 16*MiB - 1 }},
		{"retention.floor", func(c *Config) { c.Retention.Floor = Duration(999 * time.Millisecond) }},
		{"retention.default", func(c *Config) { c.Retention.Default = Period{} }},
		{"retention.default", func(c *Config) { c.Retention.Default = Period{dur: 18 * time.Minute} }},
		{"retention.default", func(c *Config) { c.Retention.Floor = Duration(366 * Day); c.Retention.Default = Period{years: 1} }},
		{"retention.policies[1].name", func(c *Config) { c.Retention.Policies[1].Name = "" }},
		{"retention.policies[1].name", func(c *Config) { c.Retention.Policies[1].Name = "a" }},
		{"retention.policies[0].retain", func(c *Config) { c.Retention.Policies[0].Retain = Period{} }},
		{"retention.policies[0].retain", func(c *Config) { c.Retention.Policies[0].Retain = Period{dur: time.Hour} }},
		{"auth.tokens[0].name", func(c *Config) { c.Auth.Tokens[0].Name = "" }},
		{"auth.tokens[1].name", func(c *Config) { c.Auth.Tokens[1].Name = "journal" }},
		{"auth.tokens[1].role", func(c *Config) { c.Auth.Tokens[1].Role = "root" }},
		{"auth.tokens[1].role", func(c *Config) { c.Auth.Tokens[1].Role = "Admin" }},
		{"auth.tokens[0].token_sha256", func(c *Config) { c.Auth.Tokens[0].TokenSHA256 = "" }},
		{"auth.tokens[0].token_sha256", func(c *Config) { c.Auth.Tokens[0].TokenSHA256 = strings.ToUpper(sha1) }},
		{"auth.tokens[0].token_sha256", func(c *Config) { c.Auth.Tokens[0].TokenSHA256 = sha1[:63] }},
		{"auth.tokens[0].token_sha256", func(c *Config) { c.Auth.Tokens[0].TokenSHA256 = sha1[:63] + "g" }},
		{"auth.tokens[1].token_sha256", func(c *Config) { c.Auth.Tokens[1].TokenSHA256 = sha1 }},
		{"log.level", func(c *Config) { c.Log.Level = "verbose" }},
		{"log.level", func(c *Config) { c.Log.Level = "" }},
		{"log.format", func(c *Config) { c.Log.Format = "logfmt" }},
	} {
		c := withTokens()
		if err := c.Validate(); err != nil {
			t.Fatalf("base config: %v", err)
		}
		tt.change(&c)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Key != tt.key {
			t.Errorf("Validate() = %v; want a *FieldError for %s", err, tt.key)
			continue
		}
		if !errors.Is(err, ErrInvalid) || err.Error() != "config: "+fe.Key+": "+fe.Reason {
			t.Errorf("Validate() = %q; want it ErrInvalid and formatted config: key: reason", err)
		}
	}
}

// Settings that look odd but are right must pass.
func TestValidateAccepts(t *testing.T) {
	for _, change := range []func(c *Config){
		func(c *Config) { c.Storage.Kind = StorageFS; c.Storage.S3 = S3{} }, // s3 settings unused
		func(c *Config) { c.HTTP.Listen = ":0" },                            // any port, all interfaces
		func(c *Config) { c.HTTP.Listen = "[::1]:8080"; c.SMTP.Listen = "0.0.0.0:25" },
		func(c *Config) { c.HTTP.TLSCert, c.HTTP.TLSKey = "c.pem", "k.pem" },
		func(c *Config) {
			c.Cluster.Join, c.Cluster.Secret = []string{"node2:7000", "10.0.0.4:7000"}, strings.Repeat("s", 16)
		},
		func(c *Config) { c.Cluster.TLSCert, c.Cluster.TLSKey, c.Cluster.TLSCA = "c.pem", "k.pem", "ca.pem" },
		func(c *Config) { c.Cluster.Secret = strings.Repeat("s", 16) },
		func(c *Config) { c.Storage.S3.Bucket = "my.holdfast-archive.2024" },
		func(c *Config) { c.Storage.S3.AccessKey, c.Storage.S3.SecretKey = "minio", "minio123" },
		func(c *Config) { c.Segment.MaxBytes, c.Spool.MaxBytes = 5*GiB, 5*GiB },
		func(c *Config) { c.Segment.MaxBytes = 64 * KiB; c.Segment.MaxAge = Duration(100 * time.Millisecond) },
		func(c *Config) { c.Retention.Default = Period{days: 1}; c.Retention.Floor = Duration(Day) },
		func(c *Config) { c.Retention.Default = Period{forever: true} },
		func(c *Config) { c.Log = Log{Level: "debug", Format: "text"} },
		func(c *Config) { c.Node.ID = "eu-west-1.node_02" },
	} {
		c := withTokens()
		change(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("Validate() = %v; want nil", err)
		}
	}
}

func TestValidateHints(t *testing.T) {
	c := Default()
	c.Retention.Default = Period{dur: 18 * time.Minute}
	err := c.Validate()
	if want := `config: retention.default: 18m0s: shorter than retention.floor (1d) ("m" is minutes; months are "mo")`; err == nil || err.Error() != want {
		t.Errorf("Validate() = %v; want %s", err, want)
	}
}

func TestResolveAndDirs(t *testing.T) {
	c := Default()
	c.Node.DataDir = "/srv/hf"
	c.Resolve()
	for _, tt := range []struct{ got, want string }{
		{c.Storage.FS.Dir, filepath.Join("/srv/hf", "objects")},
		{c.SpoolDir(), filepath.Join("/srv/hf", "spool")},
		{c.RaftDir(), filepath.Join("/srv/hf", "raft")},
		{c.IndexDir(), filepath.Join("/srv/hf", "index")},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q; want %q", tt.got, tt.want)
		}
	}
	c.Storage.FS.Dir = "/mnt/worm"
	c.Resolve()
	if c.Storage.FS.Dir != "/mnt/worm" {
		t.Errorf("Resolve replaced a set fs.dir with %q", c.Storage.FS.Dir)
	}
}
