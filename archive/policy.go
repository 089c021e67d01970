package archive

import "time"

// DefaultPolicy is the policy name stamped on a message no policy matches.
const DefaultPolicy = "default"

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
func (r *Rules) Resolve(m *Message) (name string, until time.Time) {
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
