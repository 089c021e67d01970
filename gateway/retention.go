package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/cluster"
	"github.com/holdfast/holdfast/index"
)

// Retention is the replicated retention state: policies, legal holds and
// sweeps. *cluster.Node satisfies it.
type Retention interface {
	Policies() (cluster.PolicyRecord, bool, error)
	SetPolicies(ctx context.Context, set archive.PolicySet, source, by string) error
	PlaceHold(ctx context.Context, h archive.Hold) (archive.Hold, error)
	ReleaseHold(ctx context.Context, id, by, reason string) (archive.Hold, error)
	Holds() ([]archive.Hold, error)
	Hold(id string) (archive.Hold, error)
	ActiveHolds() ([]archive.Hold, error)
	HoldSegments(id, after string, limit int) ([]cluster.HoldSegment, error)
	HeldBy(key string) ([]string, error)
	HeldSegments() ([]string, error)
	StartSweep(ctx context.Context, dryRun bool, trigger, by string) (cluster.Sweep, error)
	Sweeps(limit int) ([]cluster.Sweep, error)
	Sweep(id string) (cluster.Sweep, error)
	Segment(key string) (archive.Segment, bool, error)
	RecordRetention(ctx context.Context, keys []string, until time.Time, by string) error
}

// Audited retention actions.
const (
	AuditSetPolicies     = "set_policies"
	AuditPlaceHold       = "place_hold"
	AuditReleaseHold     = "release_hold"
	AuditStartSweep      = "start_sweep"
	AuditSweepReport     = "sweep_report"
	AuditExtendRetention = "extend_retention"
	AuditReadHolds       = "read_holds"
	AuditReadSweeps      = "read_sweeps"
	AuditReadPolicies    = "read_policies"
)

// rulesCache compiles the replicated policy set once per revision.
type rulesCache struct {
	mu       sync.Mutex
	revision int
	rules    archive.Rules
}

// currentRules returns the rules that stamp new messages: the replicated
// set when there is one, the configured one otherwise.
func (g *Gateway) currentRules() (*archive.Rules, *APIError) {
	if g.retention == nil {
		return &g.baseRules, nil
	}
	rec, ok, err := g.retention.Policies()
	if err != nil {
		g.log.WithError(err).Error("read retention policies")
		return nil, &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "the retention policies cannot be read, so no retention can be stamped; retry later"}
	}
	if !ok {
		return &g.baseRules, nil
	}
	c := &g.rules
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revision != rec.Revision {
		rules, err := g.cfg.CompilePolicies(rec.Set)
		if err != nil {
			g.log.WithError(err).WithField("revision", rec.Revision).Error("replicated retention policies do not compile")
			return nil, &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
				Message: "the retention policies in force are invalid on this node; nothing was accepted"}
		}
		c.revision, c.rules = rec.Revision, rules
	}
	r := c.rules
	return &r, nil
}

// policiesAnswer is GET /v1/policies.
type policiesAnswer struct {
	archive.PolicySet
	Source   string    `json:"source"`
	Revision int       `json:"revision"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at,omitzero"`
	Default  string    `json:"default"`
	Floor    string    `json:"floor"`
}

func (g *Gateway) handleGetPolicies(w http.ResponseWriter, r *http.Request) {
	ans := policiesAnswer{PolicySet: g.cfg.BasePolicies, Source: "config", Default: fmt.Sprint(g.cfg.Retention), Floor: g.cfg.RetentionFloor.String()}
	if rec, ok, err := g.retention.Policies(); err != nil {
		writeError(w, internal(g, err, "read policies"))
		return
	} else if ok {
		ans.PolicySet, ans.Source, ans.Revision, ans.By, ans.At = rec.Set, rec.Source, rec.Revision, rec.By, rec.At
	}
	if ans.Policies == nil {
		ans.Policies = []archive.Policy{}
	}
	if !g.auditOK(w, r, AuditReadPolicies, "", nil, http.StatusOK) {
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (g *Gateway) handlePutPolicies(w http.ResponseWriter, r *http.Request) {
	var set archive.PolicySet
	if e := decodeBody(r, "request body", &set); e != nil {
		writeError(w, e)
		return
	}
	if i, ok := set.ReservedPolicy(); ok {
		writeError(w, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: fmt.Sprintf("policies[%d].tenant", i),
			Message: fmt.Sprintf("%q is the audit trail's tenant: no policy can name it; audit records are kept for audit.retain, and at least as long as any message", archive.ReservedTenant)})
		return
	}
	if _, err := g.cfg.CompilePolicies(set); err != nil {
		writeError(w, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Message: err.Error()})
		return
	}
	c := callerOf(r)
	if !g.auditOK(w, r, AuditSetPolicies, "policies", map[string]any{"policies": set}, http.StatusOK) {
		return
	}
	if err := g.retention.SetPolicies(r.Context(), set, "api", c.Name); err != nil {
		writeError(w, retentionError(g, err, "set policies"))
		return
	}
	g.handleGetPolicies(w, r)
}

// holdRequest is POST /v1/holds.
type holdRequest struct {
	Matter        string   `json:"matter"`
	Reason        string   `json:"reason"`
	Tenants       []string `json:"tenants"`
	Custodians    []string `json:"custodians"`
	Conversations []string `json:"conversations"`
	Query         string   `json:"query"`
	From          string   `json:"from"`
	To            string   `json:"to"`
}

func (g *Gateway) handlePlaceHold(w http.ResponseWriter, r *http.Request) {
	var req holdRequest
	if e := decodeBody(r, "request body", &req); e != nil {
		writeError(w, e)
		return
	}
	h, e := g.holdFrom(r.Context(), req)
	if e != nil {
		writeError(w, e)
		return
	}
	h.CreatedBy = callerOf(r).Name
	if !g.auditOK(w, r, AuditPlaceHold, h.Matter, map[string]any{"hold": req}, http.StatusCreated) {
		return
	}
	h, err := g.retention.PlaceHold(r.Context(), h)
	if err != nil {
		writeError(w, retentionError(g, err, "place hold"))
		return
	}
	writeJSON(w, http.StatusCreated, g.holdView(h))
}

// holdFrom validates a hold request.
func (g *Gateway) holdFrom(ctx context.Context, req holdRequest) (archive.Hold, *APIError) {
	bad := func(field, msg string) *APIError {
		return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: field, Message: msg}
	}
	h := archive.Hold{Matter: strings.TrimSpace(req.Matter), Reason: strings.TrimSpace(req.Reason), Criteria: archive.HoldCriteria{
		Tenants: req.Tenants, Custodians: req.Custodians, Conversations: req.Conversations, Query: strings.TrimSpace(req.Query)}}
	switch {
	case h.Matter == "":
		return h, bad("matter", "a hold needs the matter it is for")
	case h.Reason == "":
		return h, bad("reason", "a hold needs a reason")
	}
	var err error
	if h.Criteria.From, err = parseBound(req.From, false); err != nil {
		return h, bad("from", err.Error())
	}
	if h.Criteria.To, err = parseBound(req.To, true); err != nil {
		return h, bad("to", err.Error())
	}
	if h.Criteria.Empty() {
		return h, bad("custodians", "a hold needs at least one criterion: custodians, conversations, query, from or to")
	}
	if h.Criteria.Query != "" && g.searcher != nil {
		// A malformed query is refused now, not found by the hold job.
		sctx, cancel := g.searchContext(ctx)
		_, err := g.searcher.Search(sctx, index.Request{Query: h.Criteria.Query, Size: 1})
		cancel()
		if err != nil {
			e := g.budgetError(ctx, err) // over a search limit: say which
			if e == nil {
				e = searchError(err)
			}
			e.Field = "query"
			return h, e
		}
	}
	return h, nil
}

// holdView is a hold as the API shows it.
type holdView struct {
	archive.Hold
	// Covering lists the segments the hold still covers (detail only).
	Covering []cluster.HoldSegment `json:"covering,omitempty"`
}

func (g *Gateway) holdView(h archive.Hold) holdView { return holdView{Hold: h} }

func (g *Gateway) handleListHolds(w http.ResponseWriter, r *http.Request) {
	holds, err := g.retention.Holds()
	if err != nil {
		writeError(w, internal(g, err, "list holds"))
		return
	}
	out := make([]holdView, len(holds))
	for i, h := range holds {
		out[i] = g.holdView(h)
	}
	if !g.auditOK(w, r, AuditReadHolds, "", nil, http.StatusOK) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"holds": out})
}

func (g *Gateway) handleGetHold(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h, err := g.retention.Hold(id)
	if err != nil {
		writeError(w, retentionError(g, err, "read hold"))
		return
	}
	v := g.holdView(h)
	if v.Covering, err = g.retention.HoldSegments(id, "", 10000); err != nil {
		writeError(w, internal(g, err, "list hold segments"))
		return
	}
	if !g.auditOK(w, r, AuditReadHolds, id, nil, http.StatusOK) {
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (g *Gateway) handleReleaseHold(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if e := decodeBody(r, "request body", &req); e != nil {
			writeError(w, e)
			return
		}
	}
	if _, err := g.retention.Hold(id); err != nil {
		writeError(w, retentionError(g, err, "read hold"))
		return
	}
	if !g.auditOK(w, r, AuditReleaseHold, id, map[string]any{"reason": req.Reason}, http.StatusOK) {
		return
	}
	h, err := g.retention.ReleaseHold(r.Context(), id, callerOf(r).Name, req.Reason)
	if err != nil {
		writeError(w, retentionError(g, err, "release hold"))
		return
	}
	writeJSON(w, http.StatusOK, g.holdView(h))
}

func (g *Gateway) handleStartSweep(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DryRun bool `json:"dry_run"`
	}
	if r.ContentLength != 0 {
		if e := decodeBody(r, "request body", &req); e != nil {
			writeError(w, e)
			return
		}
	}
	if v := r.URL.Query().Get("dry_run"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "dry_run", Message: "dry_run must be true or false"})
			return
		}
		req.DryRun = b
	}
	if !g.auditOK(w, r, AuditStartSweep, "", map[string]any{"dry_run": req.DryRun}, http.StatusAccepted) {
		return
	}
	s, err := g.retention.StartSweep(r.Context(), req.DryRun, cluster.TriggerAPI, callerOf(r).Name)
	if err != nil {
		writeError(w, retentionError(g, err, "start sweep"))
		return
	}
	writeJSON(w, http.StatusAccepted, s)
}

func (g *Gateway) handleListSweeps(w http.ResponseWriter, r *http.Request) {
	sweeps, err := g.retention.Sweeps(100)
	if err != nil {
		writeError(w, internal(g, err, "list sweeps"))
		return
	}
	if sweeps == nil {
		sweeps = []cluster.Sweep{}
	}
	if !g.auditOK(w, r, AuditReadSweeps, "", nil, http.StatusOK) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sweeps": sweeps})
}

func (g *Gateway) handleGetSweep(w http.ResponseWriter, r *http.Request) {
	s, err := g.retention.Sweep(r.PathValue("id"))
	if err != nil {
		writeError(w, retentionError(g, err, "read sweep"))
		return
	}
	if !g.auditOK(w, r, AuditReadSweeps, s.ID, nil, http.StatusOK) {
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// AuditRetainUntil is the least retain-until of an audit record made at t
// under the rules in force on this node (archive.Rules.AuditUntil): the
// leader's sweeper never deletes an audit segment before it.
func (g *Gateway) AuditRetainUntil(t time.Time) (time.Time, error) {
	rules, e := g.currentRules()
	if e != nil {
		return time.Time{}, e
	}
	return rules.AuditUntil(t), nil
}

// AuditSweep puts a finished sweep's report in the audit trail: the
// leader's sweeper calls it (cluster.Retention.Report).
func (g *Gateway) AuditSweep(ctx context.Context, s cluster.Sweep) error {
	var report map[string]any
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &report); err != nil {
		return err
	}
	hits := uint64(s.Deleted.Messages)
	status := http.StatusOK
	if s.State == cluster.SweepFailed {
		status = http.StatusInternalServerError
	}
	return g.audit(ctx, AuditEvent{Actor: "holdfast:" + g.cfg.NodeID, Role: "system", Remote: "local",
		Action: AuditSweepReport, Target: s.ID, Query: report, Hits: &hits, Status: status})
}

// extendRequest is POST /v1/retention/extend: keep the messages the
// criteria match until a later date.
type extendRequest struct {
	holdRequest
	Until string `json:"until"`
}

// handleExtendRetention extends the Object Lock retention of every segment
// holding a matching message version to until, and records it in the
// catalog. A segment is one object, so its other messages are kept as long:
// retention wins. Records are never shortened.
func (g *Gateway) handleExtendRetention(w http.ResponseWriter, r *http.Request) {
	var req extendRequest
	if e := decodeBody(r, "request body", &req); e != nil {
		writeError(w, e)
		return
	}
	if req.Matter == "" {
		req.Matter = "retention extension"
	}
	if req.Reason == "" {
		req.Reason = "-"
	}
	h, e := g.holdFrom(r.Context(), req.holdRequest)
	if e != nil {
		writeError(w, e)
		return
	}
	until, err := time.Parse(time.RFC3339, req.Until)
	if err != nil || !until.After(g.cfg.Now()) {
		writeError(w, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "until",
			Message: "until must be a future RFC 3339 time such as 2040-01-01T00:00:00Z"})
		return
	}
	if g.searcher == nil {
		writeError(w, &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "this node has no index to find the messages"})
		return
	}
	if !g.auditOK(w, r, AuditExtendRetention, "", map[string]any{"criteria": req.holdRequest, "until": req.Until}, http.StatusOK) {
		return
	}
	found, err := g.MatchSegments(r.Context(), h.Criteria, nil)
	if err != nil {
		writeError(w, internal(g, err, "find segments to extend"))
		return
	}
	var keys []string
	extended := 0
	for key := range found {
		seg, ok, err := g.retention.Segment(key)
		if err != nil {
			writeError(w, internal(g, err, "read segment"))
			return
		}
		if !ok || seg.Expired || !until.After(seg.RetainUntil) {
			continue
		}
		if err := g.store.ExtendRetention(r.Context(), key, seg.VersionID, until); err != nil {
			writeError(w, &APIError{Status: http.StatusBadGateway, Code: CodeUnavailable,
				Message: fmt.Sprintf("storage refused to extend %s (%v); %d segments were extended before it", key, err, extended)})
			return
		}
		keys = append(keys, key)
		extended++
	}
	if err := g.retention.RecordRetention(r.Context(), keys, until, callerOf(r).Name); err != nil {
		writeError(w, retentionError(g, err, "record extension"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"segments_matched": len(found), "segments_extended": extended, "until": until.UTC()})
}

// heldFilter limits a search to the segments legal holds cover.
func (g *Gateway) heldFilter(req *index.Request) *APIError {
	if g.retention == nil {
		req.Segments = []string{}
		return nil
	}
	keys, err := g.retention.HeldSegments()
	if err != nil {
		return internal(g, err, "list held segments")
	}
	req.Segments = append([]string{}, keys...)
	return nil
}

// hitView is a search hit with the holds that cover it.
type hitView struct {
	index.Hit
	Holds []string `json:"holds,omitempty"`
}

func (g *Gateway) hitViews(hits []index.Hit) []hitView {
	out := make([]hitView, len(hits))
	held := map[string][]string{}
	for i, h := range hits {
		out[i].Hit = h
		if g.retention == nil {
			continue
		}
		ids, ok := held[h.Segment]
		if !ok {
			ids, _ = g.retention.HeldBy(h.Segment)
			held[h.Segment] = ids
		}
		out[i].Holds = ids
	}
	return out
}

// auditOK writes the audit event of a retention action before it is done;
// when the trail cannot take it the action is refused (and false returned).
func (g *Gateway) auditOK(w http.ResponseWriter, r *http.Request, action, target string, query map[string]any, status int) bool {
	ev := newAuditEvent(r, action)
	ev.Target, ev.Query, ev.Status = target, query, status
	if err := g.audit(r.Context(), ev); err != nil {
		writeAuditFailure(w, err)
		return false
	}
	return true
}

// decodeBody decodes a JSON request body (at most 1 MiB) strictly; what
// names it in the error.
func decodeBody(r *http.Request, what string, v any) *APIError {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Message: what + ": " + err.Error()}
	}
	return nil
}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

func internal(g *Gateway, err error, what string) *APIError {
	g.log.WithError(err).Error(what)
	return &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: what + " failed"}
}

// retentionError maps an error of the replicated retention state to an
// answer.
func retentionError(g *Gateway, err error, what string) *APIError {
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: err.Error()}
	case errors.Is(err, cluster.ErrRejected):
		return &APIError{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()}
	case errors.Is(err, cluster.ErrInvalid):
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: what + ": the cluster has no leader right now; retry"}
	}
	return internal(g, err, what)
}
