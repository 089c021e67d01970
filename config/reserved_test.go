package config

import (
	"errors"
	"testing"
)

func TestValidateRefusesTheAuditTenantForSources(t *testing.T) {
	for key, set := range map[string]func(*Config){
		"smtp.tenant":          func(c *Config) { c.SMTP.Tenant = "_audit" },
		"sources.slack.tenant": func(c *Config) { c.Sources.Slack.Tenant = "_audit" },
		"sources.teams.tenant": func(c *Config) { c.Sources.Teams.Tenant = "_audit" },
	} {
		c := Default()
		set(&c)
		var fe *FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Key != key {
			t.Errorf("%s = _audit: %v, want an error naming it", key, err)
		}
	}
}
