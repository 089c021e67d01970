package config

import (
	"os"
	"strings"
	"testing"
)

// The examples shipped in systemd/ must load and validate.
func TestSystemdExamplesLoad(t *testing.T) {
	env := map[string]string{
		"HOLDFAST_S3_ACCESS_KEY": "ak", "HOLDFAST_S3_SECRET_KEY": "sk-secret",
		"HOLDFAST_INGEST_TOKEN_SHA256": strings.Repeat("ab", 32), "HOLDFAST_ADMIN_TOKEN_SHA256": strings.Repeat("cd", 32),
		"HOLDFAST_CLUSTER_SECRET": "a-long-cluster-secret",
	}
	for _, f := range []string{"holdfast.yaml", "holdfast-cluster-node1.yaml"} {
		b, err := os.ReadFile("../systemd/" + f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := LoadBytes(b, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Storage.Kind != StorageS3 || c.Auth.Tokens[0].Role != "ingest" {
			t.Fatalf("%s loaded as %+v", f, c)
		}
	}
}
