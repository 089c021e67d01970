package config

import (
	"fmt"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// PolicySet is the retention policies of the file as the cluster
// replicates them.
func (r Retention) PolicySet() archive.PolicySet {
	set := archive.PolicySet{Policies: make([]archive.Policy, len(r.Policies)), DirectChat: r.DirectChat}
	for i, p := range r.Policies {
		set.Policies[i] = archive.Policy{
			Name: p.Name, Tenant: p.Tenant, Platform: p.Platform, Department: p.Department,
			User: p.User, Conversation: p.Conversation, Retain: p.Retain.String(),
		}
	}
	return set
}

// Rules parses a replicated policy set into the rules that stamp new
// messages, with r's default and floor. It validates set as the config file
// is validated; errors name policies[i].field.
func (r Retention) Rules(set archive.PolicySet) (archive.Rules, error) {
	ps := make([]Policy, len(set.Policies))
	rules := archive.Rules{Default: r.Default, Floor: time.Duration(r.Floor), Policies: make([]archive.RulePolicy, len(set.Policies))}
	for i, p := range set.Policies {
		period, err := ParsePeriod(p.Retain)
		if err != nil {
			return archive.Rules{}, bad(fmt.Sprintf("policies[%d].retain", i), "%q: %v", p.Retain, err)
		}
		ps[i] = Policy{Name: p.Name, Tenant: p.Tenant, Platform: p.Platform, Department: p.Department,
			User: p.User, Conversation: p.Conversation, Retain: period}
		rules.Policies[i] = archive.RulePolicy{Policy: p, Period: period}
	}
	if err := CheckPolicies("policies", ps, r.Floor); err != nil {
		return archive.Rules{}, err
	}
	switch set.DirectChat {
	case "", archive.DirectLongest:
	case archive.DirectShortest:
		rules.DirectShortest = true
	default:
		return archive.Rules{}, bad("direct_chat", "%q: want longest or shortest", set.DirectChat)
	}
	return rules, nil
}

// Rules is Retention.Rules with the audit trail's retention (audit.retain)
// added: what stamps new messages and audit records on this node.
func (c *Config) Rules(set archive.PolicySet) (archive.Rules, error) {
	rules, err := c.Retention.Rules(set)
	if err != nil {
		return rules, err
	}
	rules.Audit = c.Audit.Retain
	return rules, nil
}
