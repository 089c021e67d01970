package gateway

import (
	"context"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Denials — 401, 403 and 404 — are audited, but never one record per
// request: a flood of bad tokens must not become a flood of storage
// writes. Each refused request is counted under (caller, route, status);
// once per window (a minute) the owned flusher goroutine writes one audit
// record per key with its count, and Shutdown writes what is left.

// AuditDenied is the action of an aggregated denial record.
const AuditDenied = "denied"

// Admin actions on the cluster's membership.
const (
	AuditReadCluster = "read_cluster"
	AuditJoin        = "join"
	AuditRemoveNode  = "remove_node"
)

// Defaults of the denial aggregator.
const (
	// DefaultDenialWindow is how long denials are counted before their
	// records are written.
	DefaultDenialWindow = time.Minute
	// maxDenialKeys bounds the distinct keys of one window; beyond it
	// denials are counted under their route with the caller "*" (many
	// callers), so that memory and writes stay bounded too.
	maxDenialKeys = 1000
)

// denialKey is what one aggregated record stands for.
type denialKey struct {
	// Actor is the token's name, or "" when unauthenticated.
	Actor, Role string
	// Remote is the client address (its host).
	Remote string
	// Route is the matched route pattern ("POST /v1/holds"), or the
	// method and "(no route)".
	Route  string
	Status int
}

// denialCount is a key's count in the current window.
type denialCount struct {
	n           int
	first, last time.Time
}

// denials counts refused requests until they are flushed.
type denials struct {
	mu     sync.Mutex
	counts map[denialKey]*denialCount
}

func newDenials() *denials { return &denials{counts: map[denialKey]*denialCount{}} }

// add counts one denial at now.
func (d *denials) add(k denialKey, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.counts[k]
	if !ok && len(d.counts) >= maxDenialKeys {
		k.Actor, k.Role, k.Remote = "*", "", "*"
		c, ok = d.counts[k]
	}
	if !ok {
		c = &denialCount{first: now}
		d.counts[k] = c
	}
	c.n++
	c.last = now
}

// take removes and returns every count, in a stable order.
func (d *denials) take() ([]denialKey, []denialCount) {
	d.mu.Lock()
	counts := d.counts
	d.counts = map[denialKey]*denialCount{}
	d.mu.Unlock()
	keys := make([]denialKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.Actor != b.Actor {
			return a.Actor < b.Actor
		}
		if a.Remote != b.Remote {
			return a.Remote < b.Remote
		}
		return a.Status < b.Status
	})
	out := make([]denialCount, len(keys))
	for i, k := range keys {
		out[i] = *counts[k]
	}
	return keys, out
}

// putBack re-adds counts that could not be written, for the next flush.
func (d *denials) putBack(k denialKey, c denialCount) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.counts[k]; ok {
		cur.n += c.n
		cur.first = c.first
		return
	}
	d.counts[k] = &c
}

// flushDenials writes one audit record per counted key. A record the trail
// cannot take now (a full spool) is kept for the next flush.
func (g *Gateway) flushDenials(ctx context.Context) {
	keys, counts := g.denials.take()
	for i, k := range keys {
		c := counts[i]
		actor, role := k.Actor, k.Role
		if actor == "" {
			// No token, or not one holdfast knows: the address is who.
			actor, role = "anonymous", "none"
		}
		ev := AuditEvent{Actor: actor, Role: role, Remote: k.Remote, Action: AuditDenied, Target: k.Route,
			Status: k.Status, Count: c.n,
			Query: map[string]any{"first": c.first.UTC().Format(time.RFC3339Nano), "last": c.last.UTC().Format(time.RFC3339Nano)}}
		if err := g.audit(ctx, ev); err != nil {
			g.log.WithError(err).WithField("route", k.Route).WithField("count", c.n).Warn("could not audit denials yet; kept for the next flush")
			g.denials.putBack(k, c)
		}
	}
}

// runDenialFlusher flushes the denials at the end of every window until
// ctx ends. Shutdown makes the last flush.
func (g *Gateway) runDenialFlusher(ctx context.Context) {
	window := g.cfg.DenialWindow
	for {
		now := g.cfg.Now()
		wait := now.Truncate(window).Add(window).Sub(now)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
			g.flushDenials(ctx)
		}
	}
}

// isDenial says whether a response status refuses the caller: 401, 403 and
// 404, and 429 (a caller over its searches in flight), whose flood must not
// become a flood of audit writes either.
func isDenial(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusTooManyRequests:
		return true
	}
	return false
}

// selfAudited are the routes that audit each of their outcomes, a 404
// included, in a record of their own.
var selfAudited = map[string]bool{"GET /v1/messages/{id}": true}

// requestAudit carries who the caller was out of require, to the
// middleware that audits a denial.
type requestAudit struct{ caller caller }

type requestAuditKey struct{}

// auditDenials wraps the API: every 401, 403 and 404 it answers is counted
// for the denial audit.
func (g *Gateway) auditDenials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ra := &requestAudit{}
		r = r.WithContext(context.WithValue(r.Context(), requestAuditKey{}, ra))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if !isDenial(sw.status) || (sw.status == http.StatusNotFound && selfAudited[r.Pattern]) {
			return
		}
		route := r.Pattern
		if route == "" {
			route = r.Method + " (no route)"
		}
		remote := r.RemoteAddr
		if host, _, err := net.SplitHostPort(remote); err == nil {
			remote = host
		}
		g.denials.add(denialKey{Actor: ra.caller.Name, Role: ra.caller.Role, Remote: remote, Route: route, Status: sw.status}, g.cfg.Now())
	})
}

// noteCaller records the authenticated caller of r for auditDenials.
func noteCaller(r *http.Request, c caller) {
	if ra, ok := r.Context().Value(requestAuditKey{}).(*requestAudit); ok {
		ra.caller = c
	}
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rawWriter is the server's own ResponseWriter under a statusWriter:
// http.MaxBytesReader tells it, and only it, to close the connection after
// a body that is too large.
func rawWriter(w http.ResponseWriter) http.ResponseWriter {
	if sw, ok := w.(*statusWriter); ok {
		return sw.ResponseWriter
	}
	return w
}
