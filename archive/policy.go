package archive

import "time"

// DefaultPolicy is the policy name stamped on a message no policy matches.
const DefaultPolicy = "default"

// The audit trail's retention. Its records are kept at least as long as
// the longest retention in force for any message, and at least Rules.Audit:
// no policy can shorten them.
const (
	// ReservedTenant is the tenant of the audit trail. No retention policy
	// may name it (PolicySet.ReservedPolicy).
	ReservedTenant = "_audit"
	// AuditPolicy is the policy name stamped on an audit record kept for
	// Rules.Audit.
	AuditPolicy = "audit.retain"
)

// Direct-chat rules: which party's retention a 1:1 chat keeps.
const (
	// DirectLongest keeps the longer of both parties' retention (as
	// Microsoft Purview does: retention wins). The default.
	DirectLongest = "longest"
	// DirectShortest keeps the shorter, as Zoom does for 1:1 chats.
	DirectShortest = "shortest"
)

// Policy is a retention rule as it is replicated and shown: its scope is
// every non-empty field, ANDed. Tenant, Platform and Conversation scope the
// message; User and Department scope a participant (the sender or a
// recipient), so that a message is kept as long as its participants'
// policies say (see Rules.Resolve).
type Policy struct {
	Name         string `json:"name"`
	Tenant       string `json:"tenant,omitempty"`
	Platform     string `json:"platform,omitempty"`
	Department   string `json:"department,omitempty"`
	User         string `json:"user,omitempty"`
	Conversation string `json:"conversation,omitempty"`
	// Retain is the period as people write it: "3y", "90d", "forever".
	Retain string `json:"retain"`
}

// PolicySet is the whole set of retention policies in force: what PUT
// /v1/policies replaces and the cluster replicates.
type PolicySet struct {
	Policies []Policy `json:"policies"`
	// DirectChat is DirectLongest (when empty) or DirectShortest.
	DirectChat string `json:"direct_chat,omitempty"`
}

// ReservedPolicy returns the position of the first policy that names
// ReservedTenant, and false when none does: such a set is refused (the
// config file, PUT /v1/policies), since the audit trail's retention is not
// a policy's to set.
func (s PolicySet) ReservedPolicy() (int, bool) {
	for i, p := range s.Policies {
		if p.Tenant == ReservedTenant {
			return i, true
		}
	}
	return 0, false
}

// RulePolicy is a Policy with its period parsed.
type RulePolicy struct {
	Policy
	Period Period
}

// Rules decide the retention of a new message. The zero value is unusable:
// Default must be set.
type Rules struct {
	Policies []RulePolicy
	// Default applies to a participant no policy matches.
	Default Period
	// DirectShortest applies the shortest of both parties' retention to
	// a 1:1 chat; otherwise the longest.
	DirectShortest bool
	// Floor is the least time after reception any record is kept.
	Floor time.Duration
	// Audit is the least period an audit record (tenant ReservedTenant)
	// is kept, whatever the policies say; nil: only the longest period in
	// force applies to them.
	Audit Period
}

// choice is a period with the policy it comes from, compared by the date it
// gives for one message.
type choice struct {
	name  string
	until time.Time
}

// Resolve returns the policy that decides m's retention and the date it
// gives, before the floor. Every participant (the sender and each
// recipient) is kept as long as the longest policy that matches them,
// or Default when none does, as in Microsoft Purview; a message keeps the
// longest of its participants' — or, for a 1:1 chat under DirectShortest,
// the shorter of its two parties'. Ties go to the policy listed first.
//
// An audit record (tenant ReservedTenant) is kept until AuditUntil instead,
// whatever its participants.
func (r *Rules) Resolve(m *Message) (name string, until time.Time) {
	if m.Tenant == ReservedTenant {
		return r.audit(m.SentAt)
	}
	parties := make([]Participant, 0, 1+len(m.To))
	parties = append(parties, m.From)
	parties = append(parties, m.To...)
	var best choice
	direct := r.DirectShortest && m.Conversation.Kind == KindDirect && len(parties) == 2
	for i, p := range parties {
		c := r.forParticipant(m, p)
		switch {
		case i == 0:
			best = c
		case direct && c.until.Before(best.until):
			best = c
		case !direct && c.until.After(best.until):
			best = c
		}
	}
	return best.name, best.until
}

// AuditUntil is the least retain-until of an audit record made at t: the
// latest of Audit, Default and every policy in force (whatever its scope)
// after t, before the floor. The sweeper checks audit segments against it.
func (r *Rules) AuditUntil(t time.Time) time.Time {
	_, until := r.audit(t)
	return until
}

func (r *Rules) audit(t time.Time) (string, time.Time) {
	best := choice{name: DefaultPolicy}
	if r.Default != nil {
		best.until = r.Default.AddTo(t)
	}
	for i := range r.Policies {
		if u := r.Policies[i].Period.AddTo(t); u.After(best.until) {
			best = choice{r.Policies[i].Name, u}
		}
	}
	if r.Audit != nil {
		if u := r.Audit.AddTo(t); !u.Before(best.until) {
			best = choice{AuditPolicy, u}
		}
	}
	return best.name, best.until
}

// forParticipant is the longest policy matching m for participant p.
func (r *Rules) forParticipant(m *Message, p Participant) choice {
	best := choice{name: DefaultPolicy}
	found := false
	for i := range r.Policies {
		rp := &r.Policies[i]
		if !rp.matches(m, p) {
			continue
		}
		if u := rp.Period.AddTo(m.SentAt); !found || u.After(best.until) {
			best, found = choice{rp.Name, u}, true
		}
	}
	if !found {
		best.until = r.Default.AddTo(m.SentAt)
	}
	return best
}

func (rp *RulePolicy) matches(m *Message, p Participant) bool {
	return (rp.Tenant == "" || rp.Tenant == m.Tenant) &&
		(rp.Platform == "" || rp.Platform == m.Platform) &&
		(rp.Conversation == "" || rp.Conversation == m.Conversation.ID) &&
		(rp.User == "" || rp.User == p.ID) &&
		(rp.Department == "" || rp.Department == p.Department)
}

// Stamp sets m's RetainUntil and Policy: the date Resolve gives, raised to
// at least Floor after now.
func (r *Rules) Stamp(m *Message, now time.Time) {
	name, until := r.Resolve(m)
	m.Policy, m.RetainUntil = name, AtLeastFloor(until, r.Floor, now)
}
