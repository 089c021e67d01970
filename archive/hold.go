package archive

import (
	"slices"
	"time"
)

// Hold states.
const (
	// HoldActive: the hold covers every matching message, now and later.
	HoldActive = "active"
	// HoldReleasing: released; its segments' legal holds are being
	// turned off where no other hold covers them.
	HoldReleasing = "releasing"
	// HoldReleased: released, and every legal hold it set that no other
	// hold needs is off.
	HoldReleased = "released"
)

// HoldCriteria say which message versions a legal hold covers: every
// non-empty criterion must match (a custodian is the sender or a
// recipient; several custodians or conversations are alternatives).
type HoldCriteria struct {
	Tenants       []string `json:"tenants,omitempty"`
	Custodians    []string `json:"custodians,omitempty"`
	Conversations []string `json:"conversations,omitempty"`
	// Query is in the search query language; only the index can match
	// it.
	Query string `json:"query,omitempty"`
	// From and To bound sent_at to [From, To).
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
}

// Empty reports whether c has no criterion: it would hold everything.
func (c *HoldCriteria) Empty() bool {
	return len(c.Tenants) == 0 && len(c.Custodians) == 0 && len(c.Conversations) == 0 &&
		c.Query == "" && c.From.IsZero() && c.To.IsZero()
}

// Matches reports whether m matches c, and whether that answer is final:
// a criterion with a Query can only be decided by the index, so Matches
// answers final=false for it (unless another criterion already excludes
// m).
func (c *HoldCriteria) Matches(m *Message) (match, final bool) {
	switch {
	case len(c.Tenants) > 0 && !slices.Contains(c.Tenants, m.Tenant):
		return false, true
	case len(c.Conversations) > 0 && !slices.Contains(c.Conversations, m.Conversation.ID):
		return false, true
	case !c.From.IsZero() && m.SentAt.Before(c.From):
		return false, true
	case !c.To.IsZero() && !m.SentAt.Before(c.To):
		return false, true
	case len(c.Custodians) > 0 && !hasParticipant(m, c.Custodians):
		return false, true
	case c.Query != "":
		return false, false
	}
	return true, true
}

func hasParticipant(m *Message, ids []string) bool {
	if slices.Contains(ids, m.From.ID) {
		return true
	}
	for _, p := range m.To {
		if slices.Contains(ids, p.ID) {
			return true
		}
	}
	return false
}

// Hold is a legal hold as the cluster records it.
type Hold struct {
	ID       string       `json:"id"`
	Matter   string       `json:"matter"`
	Reason   string       `json:"reason"`
	Criteria HoldCriteria `json:"criteria"`
	State    string       `json:"state"`
	// CreatedBy and ReleasedBy name the tokens that placed and released
	// the hold.
	CreatedBy     string    `json:"created_by"`
	CreatedAt     time.Time `json:"created_at"`
	ReleasedBy    string    `json:"released_by,omitempty"`
	ReleasedAt    time.Time `json:"released_at,omitzero"`
	ReleaseReason string    `json:"release_reason,omitempty"`
	// Segments and Messages count the segments the hold covers and the
	// matching message versions inside them. After release they keep
	// what the hold covered when it was released.
	Segments int `json:"segments"`
	Messages int `json:"messages"`
	// CoveredSeq is the catalog seq through which every segment has been
	// checked against the criteria: the hold is complete once it reaches
	// the catalog's last seq.
	CoveredSeq uint64 `json:"covered_seq"`
}
