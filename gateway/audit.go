package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/journal"
)

// Audit events are archived through the same pipeline as messages — the
// same spool, the same WORM segments, the same index — as records of their
// own tenant and platform, so the audit trail is as immutable and as
// searchable as what it audits.
const (
	// AuditTenant is the tenant of audit records; ordinary searches never
	// see it.
	AuditTenant = "_audit"
	// AuditPlatform is the platform of audit records.
	AuditPlatform = "holdfast"
)

// Audited actions.
const (
	AuditSearch      = "search"
	AuditReadMessage = "read_message"
	AuditSearchAudit = "search_audit"
)

// AuditEvent is who did what to archived data, when and from where. Its JSON
// is the raw payload of the audit record.
type AuditEvent struct {
	Time   time.Time      `json:"time"`
	Actor  string         `json:"actor"`
	Role   string         `json:"role"`
	Remote string         `json:"remote"`
	Node   string         `json:"node"`
	Action string         `json:"action"`
	Target string         `json:"target,omitempty"`
	Query  map[string]any `json:"query,omitempty"`
	Hits   *uint64        `json:"hits,omitempty"`
	// HitsAtLeast: Hits is a lower bound (the search stopped counting).
	HitsAtLeast bool `json:"hits_at_least,omitempty"`
	Status      int  `json:"status"`
	// Count is how many requests an aggregated record stands for (the
	// denials of one caller and route in one window); 0 for one request.
	Count int `json:"count,omitempty"`
}

// auditor numbers this node's audit events.
type auditor struct {
	seq atomic.Uint64
}

// audit archives ev. The caller's action must not proceed, or its result
// must not be returned, when this fails: an unaudited read is not allowed.
func (g *Gateway) audit(ctx context.Context, ev AuditEvent) error {
	ev.Time = g.cfg.Now().UTC()
	ev.Node = g.cfg.NodeID
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode audit event: %w", err)
	}
	m := archive.Message{
		Platform: AuditPlatform, Tenant: AuditTenant, Action: archive.ActionSend,
		SourceID:     fmt.Sprintf("%s-%d-%d", g.cfg.NodeID, ev.Time.UnixNano(), g.auditor.seq.Add(1)),
		Conversation: archive.Conversation{ID: ev.Action, Kind: archive.KindChannel, Name: "audit: " + ev.Action},
		From:         archive.Participant{ID: ev.Actor, Name: ev.Role},
		SentAt:       ev.Time, Type: "audit", Text: ev.summary(),
	}
	m.SetRaw(raw)
	if _, e := g.accept(ctx, []journal.Record{{Line: 1, Message: m}}, ev.Time, false); e != nil {
		return e
	}
	return nil
}

// summary is the audit record's searchable text.
func (ev AuditEvent) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) %s", ev.Actor, ev.Role, ev.Action)
	if ev.Target != "" {
		fmt.Fprintf(&b, " %s", ev.Target)
	}
	if len(ev.Query) > 0 {
		q, _ := json.Marshal(ev.Query)
		fmt.Fprintf(&b, " %s", q)
	}
	if ev.Hits != nil {
		at := ""
		if ev.HitsAtLeast {
			at = "at least "
		}
		fmt.Fprintf(&b, " → %s%d hits", at, *ev.Hits)
	}
	fmt.Fprintf(&b, " from %s, status %d", ev.Remote, ev.Status)
	if ev.Count > 0 {
		fmt.Fprintf(&b, ", %d times", ev.Count)
	}
	return b.String()
}

// newAuditEvent starts an event for the caller of r.
func newAuditEvent(r *http.Request, action string) AuditEvent {
	c := callerOf(r)
	remote := r.RemoteAddr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	return AuditEvent{Actor: c.Name, Role: c.Role, Remote: remote, Action: action}
}
