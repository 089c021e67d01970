package config

import (
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

func TestAuditRetainDefaultsToTenYears(t *testing.T) {
	if got := Default().Audit.Retain.String(); got != "10y" {
		t.Fatalf("default audit.retain %s, want 10y", got)
	}
	cfg, err := LoadBytes([]byte("audit: {retain: forever}\n"), nil)
	if err != nil || !cfg.Audit.Retain.IsForever() {
		t.Fatalf("audit.retain forever: %+v, %v", cfg.Audit, err)
	}
}

func TestAuditRetainValidated(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"audit: {retain: 1h}\n", "shorter than retention.floor"},
		{"audit: {retain: 0s}\n", "required"},
		{"audit: {retain: 200y}\n", "longer than 100 years"},
	} {
		_, err := LoadBytes([]byte(tt.yaml), nil)
		wantFieldError(t, err, "audit.retain", tt.want)
	}
}

// A policy in the file cannot name the audit trail's tenant (issue 11,
// finding 3): the error names the field and says what to use instead.
func TestPolicyCannotNameAuditTenant(t *testing.T) {
	_, err := LoadBytes([]byte(`retention:
  policies:
    - {name: fine, tenant: acme, retain: 7y}
    - {name: shred, tenant: _audit, retain: 7y}
`), nil)
	wantFieldError(t, err, "retention.policies[1].tenant", "audit trail", "audit.retain")
}

// Config.Rules stamps audit records with audit.retain when it is the
// longest, and with the longest policy in force otherwise, whatever
// policy would match a message of the tenant.
func TestRulesKeepAuditRecordsLongest(t *testing.T) {
	cfg := Default()
	cfg.Retention.Floor = Duration(time.Second)
	sent := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	audit := &archive.Message{Tenant: archive.ReservedTenant, SentAt: sent}
	msg := &archive.Message{Tenant: "acme", SentAt: sent, From: archive.Participant{ID: "u"}}
	for _, tt := range []struct {
		set       []archive.Policy
		name      string
		until     time.Time
		msgPolicy string
	}{
		{[]archive.Policy{{Name: "all", Retain: "2s"}}, archive.AuditPolicy, sent.AddDate(10, 0, 0), "all"},
		{[]archive.Policy{{Name: "traders", Tenant: "acme", Retain: "15y"}}, "traders", sent.AddDate(15, 0, 0), "traders"},
		{[]archive.Policy{{Name: "keep", Platform: "email", Retain: "forever"}}, "keep", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), archive.DefaultPolicy},
	} {
		rules, err := cfg.Rules(archive.PolicySet{Policies: tt.set})
		if err != nil {
			t.Fatal(err)
		}
		if name, until := rules.Resolve(audit); name != tt.name || !until.Equal(tt.until) {
			t.Errorf("%v: audit record kept by %s until %v, want %s until %v", tt.set, name, until, tt.name, tt.until)
		}
		if name, _ := rules.Resolve(msg); name != tt.msgPolicy {
			t.Errorf("%v: message kept by %s, want %s", tt.set, name, tt.msgPolicy)
		}
	}
}
