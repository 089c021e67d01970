package archive

import (
	"testing"
	"time"
)

// years is a Period of whole years.
type years int

func (y years) AddTo(t time.Time) time.Time { return t.AddDate(int(y), 0, 0) }

func TestReservedPolicy(t *testing.T) {
	set := PolicySet{Policies: []Policy{{Name: "a", Tenant: "acme"}, {Name: "b"}, {Name: "shred", Tenant: ReservedTenant}}}
	if i, ok := set.ReservedPolicy(); !ok || i != 2 {
		t.Fatalf("ReservedPolicy() = %d, %v; want 2, true", i, ok)
	}
	if _, ok := (PolicySet{Policies: set.Policies[:2]}).ReservedPolicy(); ok {
		t.Fatal("a set without _audit names it")
	}
}

// An audit record keeps the longest of Audit, Default and every policy,
// whatever their scope; a policy that matches it (one set before policies
// could not name _audit) can only lengthen that, never shorten it.
func TestAuditRecordsKeepTheLongest(t *testing.T) {
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	short := RulePolicy{Policy: Policy{Name: "shred", Tenant: ReservedTenant}, Period: years(0)}
	long := RulePolicy{Policy: Policy{Name: "traders", Department: "rates"}, Period: years(12)}
	for _, tt := range []struct {
		rules Rules
		name  string
		years int
	}{
		{Rules{Default: years(7), Audit: years(10)}, AuditPolicy, 10},
		{Rules{Default: years(7), Audit: years(10), Policies: []RulePolicy{short}}, AuditPolicy, 10},
		{Rules{Default: years(7), Audit: years(10), Policies: []RulePolicy{short, long}}, "traders", 12},
		{Rules{Default: years(7), Policies: []RulePolicy{short}}, DefaultPolicy, 7}, // no Audit: the longest in force
		{Rules{Default: years(10), Audit: years(10)}, AuditPolicy, 10},              // a tie goes to Audit
	} {
		m := &Message{Tenant: ReservedTenant, SentAt: sent, From: Participant{ID: "admin", Department: "rates"}}
		tt.rules.Stamp(m, sent)
		if m.Policy != tt.name || !m.RetainUntil.Equal(sent.AddDate(tt.years, 0, 0)) {
			t.Errorf("%+v: stamped %s until %v, want %s for %d years", tt.rules, m.Policy, m.RetainUntil, tt.name, tt.years)
		}
		if got := tt.rules.AuditUntil(sent); !got.Equal(sent.AddDate(tt.years, 0, 0)) {
			t.Errorf("AuditUntil = %v, want %d years", got, tt.years)
		}
	}
}
