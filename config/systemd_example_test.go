package config

import (
	"os"
	"strings"
	"testing"
)

// The example shipped in systemd/ must load and validate.
func TestSystemdExampleLoads(t *testing.T) {
	b, err := os.ReadFile("../systemd/holdfast.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"HOLDFAST_S3_ACCESS_KEY": "ak", "HOLDFAST_S3_SECRET_KEY": "sk-secret",
		"HOLDFAST_INGEST_TOKEN_SHA256": strings.Repeat("ab", 32),
	}
	c, err := LoadBytes(b, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage.Kind != StorageS3 || c.Auth.Tokens[0].Role != "ingest" {
		t.Fatalf("example loaded as %+v", c)
	}
}
