package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/holdfast/holdfast/gateway/smtpd"
	"github.com/holdfast/holdfast/journal"
)

// Source is a platform's webhook as the gateway serves it.
type Source struct {
	journal.Source
	// Tenant is the tenant its records are archived under.
	Tenant string
	// Signed is true when the platform's signature check is configured:
	// the signature authenticates the delivery, no token is needed.
	// Otherwise an ingest-role token is required.
	Signed bool
}

// handleSource serves POST /v1/sources/{platform}: the platform's native
// payloads, checked with its own signature where it has one.
func (g *Gateway) handleSource(w http.ResponseWriter, r *http.Request) {
	src, ok := g.sources[r.PathValue("platform")]
	if !ok {
		writeError(w, &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no source " + strconv.Quote(r.PathValue("platform"))})
		return
	}
	if src.Signed {
		g.receive(w, r, src)
		return
	}
	g.require(RoleIngest, func(w http.ResponseWriter, r *http.Request) { g.receive(w, r, src) })(w, r)
}

func (g *Gateway) receive(w http.ResponseWriter, r *http.Request, src Source) {
	body, e := g.readBody(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	now := g.cfg.Now().UTC()
	lim := g.limits()
	lim.MaxRawBytes = 0
	res, err := src.Decode(journal.Request{Header: r.Header, Body: body, Now: now, Tenant: src.Tenant, Limits: lim})
	if err == nil && res.Signature != nil {
		err = g.replay.Check(src.Platform(), *res.Signature, body, now)
	}
	switch {
	case errors.Is(err, journal.ErrReplay):
		g.metrics.messagesRejected.add(1)
		g.metrics.webhookReplays.add(1)
		g.log.WithField("source", src.Platform()).WithField("remote", r.RemoteAddr).Warn("webhook signature replayed with a different body; nothing archived")
		writeError(w, &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "this signature was already used for a different body: a replayed delivery is not archived"})
		return
	case errors.Is(err, journal.ErrSignature):
		g.metrics.messagesRejected.add(1)
		g.log.WithField("source", src.Platform()).WithField("remote", r.RemoteAddr).Warn("webhook signature check failed; nothing archived")
		writeError(w, &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: err.Error()})
		return
	case err != nil:
		g.metrics.messagesRejected.add(1)
		writeError(w, journalError(err))
		return
	case res.Reply != nil:
		writeJSON(w, http.StatusOK, res.Reply)
		return
	}
	ans := map[string]any{}
	for k, v := range res.Meta {
		ans[k] = v
	}
	var recs []*record
	if len(res.Records) > 0 {
		var e *APIError
		if recs, e = g.accept(r.Context(), res.Records, now, r.URL.Query().Get("ack") == "stored"); e != nil {
			writeAcceptError(w, e)
			return
		}
	}
	ans["accepted"] = acceptedOf(recs)
	writeJSON(w, http.StatusAccepted, ans)
}

// Accept archives records that arrived outside HTTP (the SMTP listener):
// it returns once they are in the spool, fsync'd, so a 250 may follow. A
// full spool is reported as smtpd.ErrFull (451, the sender retries).
func (g *Gateway) Accept(ctx context.Context, recs []journal.Record) error {
	_, e := g.accept(ctx, recs, g.cfg.Now().UTC(), false)
	switch {
	case e == nil:
		return nil
	case e.Code == CodeSpoolFull:
		return fmt.Errorf("%w: %s", smtpd.ErrFull, e.Message)
	}
	return e
}
