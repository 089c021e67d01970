package config

import (
	"errors"
	"testing"
	"time"
)

func TestValidateEdge(t *testing.T) {
	for _, tt := range []struct {
		key    string
		change func(c *Config)
	}{
		{"http.read_timeout", func(c *Config) { c.HTTP.ReadTimeout = 0 }},
		{"http.read_header_timeout", func(c *Config) { c.HTTP.ReadHeaderTimeout = Duration(time.Millisecond) }},
		{"http.read_header_timeout", func(c *Config) { c.HTTP.ReadHeaderTimeout = c.HTTP.ReadTimeout + 1 }},
		{"http.idle_timeout", func(c *Config) { c.HTTP.IdleTimeout = 0 }},
		{"http.max_conns", func(c *Config) { c.HTTP.MaxConns = 0 }},
		{"http.max_recipients", func(c *Config) { c.HTTP.MaxRecipients = 0 }},
		{"http.metrics_token", func(c *Config) { c.HTTP.MetricsToken = "short" }},
		{"sources.replay_cache_entries", func(c *Config) { c.Sources.ReplayCacheEntries = 10 }},
		{"sources.dingtalk.sign_window", func(c *Config) { c.Sources.DingTalk.SignWindow = 0 }},
		{"sources.dingtalk.sign_window", func(c *Config) { c.Sources.DingTalk.SignWindow = Duration(48 * time.Hour) }},
		{"sources.slack.sign_window", func(c *Config) { c.Sources.Slack.SignWindow = Duration(time.Hour) }},
		{"smtp.require_auth", func(c *Config) { c.SMTP.Listen, c.SMTP.RequireAuth = "127.0.0.1:2525", true }},
		{"smtp.allow", func(c *Config) { c.SMTP.RequireAuth, c.SMTP.Allow = true, []string{"10.0.0.0/8"} }},
	} {
		c := withTokens()
		tt.change(&c)
		var fe *FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Key != tt.key {
			t.Errorf("Validate() = %v; want a *FieldError for %s", err, tt.key)
		}
	}
	c := withTokens()
	c.HTTP.MetricsToken, c.Sources.DingTalk.SignWindow = "a-long-metrics-token", Duration(5*time.Minute)
	if err := c.Validate(); err != nil {
		t.Fatalf("valid edge settings: %v", err)
	}
}

func TestLoadEdgeKeys(t *testing.T) {
	c, err := LoadBytes([]byte(`
http: {listen: "127.0.0.1:8080", read_timeout: 30s, max_conns: 64, max_recipients: 500, metrics_token: "${TOK}"}
sources: {dingtalk: {app_secret: x, sign_window: 10m}, replay_cache_entries: 5000}
smtp: {require_auth: true}
`), func(k string) (string, bool) { return "scrape-token-0123456789", k == "TOK" })
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.ReadTimeout != Duration(30*time.Second) || c.HTTP.MaxConns != 64 || c.HTTP.MaxRecipients != 500 ||
		c.HTTP.MetricsToken != "scrape-token-0123456789" || c.Sources.DingTalk.SignWindow != Duration(10*time.Minute) ||
		c.Sources.ReplayCacheEntries != 5000 || !c.SMTP.RequireAuth || c.HTTP.ReadHeaderTimeout != DefaultReadHeaderTimeout {
		t.Fatalf("loaded %+v %+v %+v", c.HTTP, c.Sources, c.SMTP)
	}
}
