package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/gateway/spool"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/journal"
)

// routes registers every route in one place.
func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", g.require(RoleIngest, g.handleIngest))
	mux.HandleFunc("POST /v1/sources/{platform}", g.handleSource)
	mux.HandleFunc("GET /v1/messages/{id}", g.requireAny([]string{RoleSupervisor, RoleAuditor}, g.handleGetMessage))
	mux.HandleFunc("GET /v1/search", g.require(RoleSupervisor, g.handleSearch))
	mux.HandleFunc("POST /v1/search", g.require(RoleSupervisor, g.handleSearch))
	mux.HandleFunc("GET /v1/audit", g.require(RoleAuditor, g.handleAudit))
	if g.cluster != nil {
		mux.HandleFunc("GET /v1/cluster", g.require(RoleAdmin, g.handleCluster))
		mux.HandleFunc("POST /v1/cluster/join", g.require(RoleAdmin, g.handleJoin))
		mux.HandleFunc("DELETE /v1/cluster/nodes/{id}", g.require(RoleAdmin, g.handleRemoveNode))
		mux.HandleFunc("POST /v1/cluster/repair", g.require(RoleAdmin, g.handleRepair))
	}
	if g.retention != nil {
		mux.HandleFunc("GET /v1/policies", g.require(RoleAdmin, g.handleGetPolicies))
		mux.HandleFunc("PUT /v1/policies", g.require(RoleAdmin, g.handlePutPolicies))
		mux.HandleFunc("POST /v1/retention/extend", g.require(RoleAdmin, g.handleExtendRetention))
		mux.HandleFunc("POST /v1/holds", g.require(RoleLegal, g.handlePlaceHold))
		mux.HandleFunc("GET /v1/holds", g.require(RoleLegal, g.handleListHolds))
		mux.HandleFunc("GET /v1/holds/{id}", g.require(RoleLegal, g.handleGetHold))
		mux.HandleFunc("POST /v1/holds/{id}/release", g.require(RoleLegal, g.handleReleaseHold))
		mux.HandleFunc("POST /v1/sweeps", g.require(RoleAdmin, g.handleStartSweep))
		mux.HandleFunc("GET /v1/sweeps", g.require(RoleAdmin, g.handleListSweeps))
		mux.HandleFunc("GET /v1/sweeps/{id}", g.require(RoleAdmin, g.handleGetSweep))
	}
	mux.HandleFunc("GET /healthz", g.handleHealthz)
	mux.HandleFunc("GET /readyz", g.handleReadyz)
	mux.HandleFunc("GET /metrics", g.handleMetrics)
	return mux
}

type callerKey struct{}

// require authenticates the request and checks the caller holds role.
func (g *Gateway) require(role string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, e := g.auth.authenticate(r)
		if e != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="holdfast"`)
			writeError(w, e)
			return
		}
		noteCaller(r, c)
		if !c.may(role) {
			writeError(w, &APIError{Status: http.StatusForbidden, Code: CodeForbidden,
				Message: fmt.Sprintf("token %q has role %s; this needs %s", c.Name, c.Role, role)})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	}
}

// accepted is one entry of the ingest answer.
type accepted struct {
	ID        string `json:"id"`
	Version   int    `json:"version"`
	SHA256    string `json:"sha256"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

func (g *Gateway) handleIngest(w http.ResponseWriter, r *http.Request) {
	body, e := g.readBody(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	ndjson := false
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			writeError(w, &APIError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupported, Message: "unreadable Content-Type " + strconv.Quote(ct)})
			return
		case mt == "application/x-ndjson" || mt == "application/jsonl" || mt == "application/x-jsonlines":
			ndjson = true
		case mt != "application/json" && mt != "text/plain":
			writeError(w, &APIError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupported,
				Message: "Content-Type must be application/json or application/x-ndjson, not " + mt})
			return
		}
	}
	now := g.cfg.Now().UTC()
	decoded, err := journal.DecodeJSON(body, ndjson, g.limits(), now)
	if err != nil {
		g.metrics.messagesRejected.add(1)
		writeError(w, journalError(err))
		return
	}
	recs, e := g.accept(r.Context(), decoded, now, r.URL.Query().Get("ack") == "stored")
	if e != nil {
		writeAcceptError(w, e)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"accepted": acceptedOf(recs)})
}

// writeAcceptError answers a refused ingest; a 503 says when to retry.
func writeAcceptError(w http.ResponseWriter, e *APIError) {
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(DefaultRetryAfter))
	}
	writeError(w, e)
}

// acceptedOf is the "accepted" list of an ingest answer.
func acceptedOf(recs []*record) []accepted {
	out := make([]accepted, len(recs))
	for i, rc := range recs {
		out[i] = accepted{ID: rc.msg.ID, Version: rc.msg.Version, SHA256: rc.msg.SHA256, Duplicate: rc.duplicate}
	}
	return out
}

// accept versions, stamps and spools decoded records: the one way in for
// every source (HTTP, webhooks, SMTP). With stored set it returns only
// once storage has the records. The records come back with their ids and
// versions; nothing is accepted when it fails.
func (g *Gateway) accept(ctx context.Context, decoded []journal.Record, now time.Time, stored bool) ([]*record, *APIError) {
	if e := admit(ctx, decoded); e != nil {
		return nil, e
	}
	rules, e := g.currentRules()
	if e != nil {
		return nil, e
	}
	recs := make([]*record, len(decoded))
	for i, d := range decoded {
		recs[i] = &record{line: d.Line, msg: d.Message, blobs: d.Blobs, explicit: d.ExplicitVersion}
	}
	if e := g.ledger.assign(recs, func(m *archive.Message) { stamp(m, rules, now) }); e != nil {
		return nil, e
	}
	last, e := g.spoolRecords(ctx, recs)
	if e != nil {
		return nil, e
	}
	if stored {
		// Duplicates too: their earlier copies may still be spooled.
		if e := g.waitRecordsStored(ctx, recs, last); e != nil {
			return nil, e
		}
		g.ledger.adoptStored(recs) // another node's copy may be the one stored
	}
	return recs, nil
}

// stamp fills what holdfast decides for a new version: reception time,
// retention and policy, and the hash that seals it.
func stamp(m *archive.Message, rules *archive.Rules, now time.Time) {
	m.ReceivedAt = now
	rules.Stamp(m, now)
	m.Seal()
}

// spoolRecords appends the new records of a request to the spool in one
// group-committed write and records them in the ledger. It returns the
// highest LSN written (0 when everything was a duplicate).
func (g *Gateway) spoolRecords(ctx context.Context, recs []*record) (uint64, *APIError) {
	var data [][]byte
	var fresh []*record
	var dups int64
	for _, rc := range recs {
		if rc.duplicate {
			dups++
			continue
		}
		for _, b := range rc.blobs {
			data = append(data, attachmentRecord(b, rc.msg.RetainUntil))
		}
		line, err := messageRecord(&rc.msg, rc.event)
		if err != nil {
			g.ledger.release(recs)
			return 0, &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "could not encode message"}
		}
		data = append(data, line)
		fresh = append(fresh, rc)
	}
	g.metrics.messagesDuplicate.add(dups)
	if len(data) == 0 {
		return 0, nil
	}
	first, last, err := g.spool.Append(ctx, data)
	if err != nil {
		g.ledger.release(recs)
		switch {
		case errors.Is(err, spool.ErrFull):
			g.spoolFull.Store(true)
			g.metrics.spoolFullRejects.add(1)
			return 0, &APIError{Status: http.StatusServiceUnavailable, Code: CodeSpoolFull,
				Message: "the spool is full while storage catches up; nothing was accepted, retry later"}
		default:
			g.log.WithError(err).Error("append to spool")
			return 0, &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
				Message: "the spool could not accept the messages; nothing was accepted, retry later"}
		}
	}
	g.spoolFull.Store(false)
	// Each message record is the last of its own records in the batch.
	lsns := make([]uint64, len(fresh))
	lsn := last + 1 - uint64(len(data))
	for i, rc := range fresh {
		lsn += uint64(len(rc.blobs))
		lsns[i] = lsn
		lsn++
	}
	if err := g.ledger.commit(fresh, lsns); err != nil {
		// The records are durable in the spool and re-enter the ledger
		// from it at the next start: the ack still holds. The ledger
		// checkpoint stops short of them until then.
		g.log.WithError(err).Error("record accepted messages in ledger")
		if g.applied.freeze(first) {
			g.log.WithField("checkpoint", g.applied.upTo()).Warn("ledger checkpoint frozen until restart, which replays the spool from it")
		}
	} else {
		g.applied.mark(first, last)
	}
	g.metrics.messagesAccepted.add(int64(len(fresh)))
	return last, nil
}

func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *APIError) {
	body, err := io.ReadAll(http.MaxBytesReader(rawWriter(w), r.Body, g.cfg.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &APIError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("body is larger than %d bytes (http.max_body_bytes); send fewer messages per request", g.cfg.MaxBodyBytes)}
	case err != nil:
		return nil, g.readBodyError(err)
	}
	return body, nil
}

// decodeAction reads the action of a spooled message line.
func decodeAction(line []byte, m *archive.Message) error {
	var v struct {
		Action archive.Action `json:"action"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return fmt.Errorf("decode spooled message: %w", err)
	}
	m.Action = v.Action
	return nil
}

// storedVersion is one version in GET /v1/messages/{id}.
type storedVersion struct {
	archive.Message
	State   string `json:"state"` // stored | spooled
	Segment string `json:"segment,omitempty"`
	// Holds are the legal holds that cover the version's segment.
	Holds []string `json:"holds,omitempty"`
}

func (g *Gateway) handleGetMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	entries, err := g.locateVersions(id)
	if err != nil {
		g.log.WithError(err).WithField("id", id).Error("locate message")
		writeError(w, &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "could not look the message up"})
		return
	}
	want := -1
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "version", Message: "version must be a non-negative integer"})
			return
		}
		want = n
	}
	var out []storedVersion
	for _, e := range entries {
		if want >= 0 && e.Version != want {
			continue
		}
		v, err := g.readVersion(r.Context(), e)
		if err != nil {
			g.log.WithError(err).WithFields(logrus.Fields{"id": id, "version": e.Version}).Error("read message version")
			writeError(w, &APIError{Status: http.StatusBadGateway, Code: CodeUnavailable,
				Message: fmt.Sprintf("version %d could not be read from storage; retry", e.Version)})
			return
		}
		if g.retention != nil && v.Segment != "" {
			v.Holds, _ = g.retention.HeldBy(v.Segment)
		}
		out = append(out, v)
	}
	// Audit records are the auditor's, messages the supervisor's: to
	// anyone else they do not exist.
	if len(out) > 0 && !callerOf(r).mayRead(out[0].Tenant) {
		out = nil
	}
	ev := newAuditEvent(r, AuditReadMessage)
	ev.Target, ev.Status = id, http.StatusOK
	if len(out) == 0 {
		ev.Status = http.StatusNotFound
	}
	if err := g.audit(r.Context(), ev); err != nil {
		writeAuditFailure(w, err)
		return
	}
	if len(out) == 0 {
		writeError(w, &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no message " + id})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "versions": out})
}

// locateVersions finds every version of id: in this node's ledger when
// this node accepted it, otherwise in the index, which every node builds
// from every segment, so any node answers for any message.
func (g *Gateway) locateVersions(id string) ([]ledgerEntry, error) {
	entries, err := g.ledger.versions(id)
	if err != nil || len(entries) > 0 || g.searcher == nil {
		return entries, err
	}
	hits, err := g.searcher.Versions(id)
	if errors.Is(err, index.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, h := range hits {
		entries = append(entries, ledgerEntry{ID: id, Version: h.Version, SHA256: h.SHA256, Segment: h.Segment, Entry: h.Location})
	}
	return entries, nil
}

// readVersion reads one version from its segment (one ranged GET of its
// frame) or, while it waits for upload, from the spool.
func (g *Gateway) readVersion(ctx context.Context, e ledgerEntry) (storedVersion, error) {
	if e.Segment == "" {
		v, err := g.readSpooled(ctx, e)
		if !errors.Is(err, spool.ErrCompacted) {
			return v, err
		}
		// Uploaded in the meantime: the ledger now knows its segment.
		if e, err = g.ledger.version(e.ID, e.Version); err != nil {
			return storedVersion{}, err
		}
	}
	frame, err := g.store.GetRange(ctx, e.Segment, e.Entry.FrameOffset, e.Entry.FrameLength)
	if err != nil {
		return storedVersion{}, fmt.Errorf("read frame of %s: %w", e.Segment, err)
	}
	m, _, err := g.codec.Record(frame, e.Entry)
	if err != nil {
		return storedVersion{}, err
	}
	return storedVersion{Message: m, State: "stored", Segment: e.Segment}, nil
}

func (g *Gateway) readSpooled(ctx context.Context, e ledgerEntry) (storedVersion, error) {
	recs, err := g.spool.Read(ctx, e.LSN, 1, 1)
	if err != nil {
		return storedVersion{}, fmt.Errorf("read spooled record %d: %w", e.LSN, err)
	}
	_, body, err := decodeSpoolRecord(recs[0].Data)
	if err != nil {
		return storedVersion{}, fmt.Errorf("spooled record %d: %w", e.LSN, err)
	}
	var m archive.Message
	if err := json.Unmarshal(body, &m); err != nil {
		return storedVersion{}, fmt.Errorf("decode spooled record %d: %w", e.LSN, err)
	}
	return storedVersion{Message: m, State: "spooled"}, nil
}

func (g *Gateway) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 while the node can accept ingest: storage is
// reachable or the spool still has room (its last append was not refused).
func (g *Gateway) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	status := map[string]any{"spool_bytes": g.spool.Size(), "spool_max_bytes": g.cfg.SpoolMaxBytes}
	code := http.StatusOK
	status["storage"] = g.uploader.health.describe()
	if since, err := g.uploader.health.state(); err != nil {
		status["storage_unreachable_since"] = since.UTC().Format(time.RFC3339)
	}
	if g.spoolFull.Load() {
		code = http.StatusServiceUnavailable
		status["spool"] = "full"
	}
	writeJSON(w, code, status)
}

func (g *Gateway) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if !g.metricsAllowed(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="holdfast metrics"`)
		writeError(w, &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "/metrics needs Authorization: Bearer <http.metrics_token>"})
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	g.metrics.writeTo(w)
}
