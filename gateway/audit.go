package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/journal"
)

// Audit events are archived through the same pipeline as messages — the
// same spool, the same WORM segments, the same index — as records of their
// own tenant and platform, so the audit trail is as immutable and as
// searchable as what it audits.
const (
	// AuditTenant is the tenant of audit records; ordinary searches never
	// see it, and no source may write it.
	AuditTenant = journal.AuditTenant
	// AuditPlatform is the platform of audit records.
	AuditPlatform = journal.AuditPlatform
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
	// Escaped names the fields (as "target", "query.q") whose value was
	// not valid UTF-8 and is recorded Go-quoted instead ("\xff\xfe"),
	// so that the record keeps every byte and stays valid UTF-8.
	Escaped []string `json:"escaped,omitempty"`

	// Chain, Seq and Prev link the record into its node's hash chain
	// (auditchain.go): the chain's id, the record's number in it from 1,
	// and the sha256 of the record before ("" for the first). Set by the
	// chain, not by callers.
	Chain string `json:"chain"`
	Seq   uint64 `json:"seq"`
	Prev  string `json:"prev"`
}

// auditor chains this node's audit events.
type auditor struct {
	chain *auditChain
}

// audit archives ev. The caller's action must not proceed, or its result
// must not be returned, when this fails: an unaudited read is not allowed.
func (g *Gateway) audit(ctx context.Context, ev AuditEvent) error {
	ev.Time = g.cfg.Now().UTC()
	ev.Node = g.cfg.NodeID
	ev.escape()
	return g.auditor.chain.append(ctx, ev, auditWriter{g})
}

// auditRecord is one built audit record: its sha256 and id are known
// before it is spooled (accept seals it again, to the same hash).
type auditRecord struct {
	rec journal.Record
	id  string
	sha string
}

// auditWriter builds and spools the gateway's audit records.
type auditWriter struct{ g *Gateway }

func (w auditWriter) now() time.Time { return w.g.cfg.Now().UTC() }

// build makes the record of ev: ev's JSON is its raw payload, so its
// sha256 covers the chain link.
func (w auditWriter) build(ev AuditEvent, now time.Time) (auditRecord, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return auditRecord{}, fmt.Errorf("encode audit event: %w", err)
	}
	m := archive.Message{
		Platform: AuditPlatform, Tenant: AuditTenant, Action: archive.ActionSend,
		SourceID:     auditSourceID(ev.Chain, ev.Seq),
		Conversation: archive.Conversation{ID: ev.Action, Kind: archive.KindChannel, Name: "audit: " + ev.Action},
		From:         archive.Participant{ID: ev.Actor, Name: ev.Role},
		SentAt:       ev.Time, Type: "audit", Text: ev.summary(),
	}
	m.SetRaw(raw)
	sealed := m
	sealed.ReceivedAt = now
	sealed.Seal()
	return auditRecord{rec: journal.Record{Line: 1, Message: m}, id: sealed.ID, sha: sealed.SHA256}, nil
}

// spool accepts recs as the audit trail, the one writer of its tenant.
func (w auditWriter) spool(ctx context.Context, recs []auditRecord, now time.Time) error {
	decoded := make([]journal.Record, len(recs))
	for i := range recs {
		decoded[i] = recs[i].rec
	}
	got, e := w.g.accept(withAuditWriter(ctx), decoded, now, false)
	if e != nil {
		return e
	}
	for i, rc := range got {
		if rc.msg.SHA256 != recs[i].sha || rc.duplicate {
			// A bug: the chain now links a hash that is not stored.
			w.g.log.WithFields(logrus.Fields{"id": rc.msg.ID, "sha256": rc.msg.SHA256, "chained": recs[i].sha}).
				Error("audit record stored with another hash than its chain link")
		}
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
