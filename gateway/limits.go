package gateway

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/holdfast/holdfast/journal"
)

// Edge limits of the HTTP listener: a client cannot hold a connection
// open by trickling a request, nor open more connections than the cap.
const (
	// DefaultReadTimeout bounds reading a whole request, body included:
	// a 64 MiB body needs about 0.5 MB/s to make it.
	DefaultReadTimeout = 2 * time.Minute
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection idle this long.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxConns caps concurrent connections to the API.
	DefaultMaxConns = 1024
	// DefaultMaxRecipients caps a message's recipients over HTTP, as the
	// SMTP listener caps RCPT TO.
	DefaultMaxRecipients = 1000
)

// initEdge fills the edge defaults and makes the replay cache and the
// denial counts.
func (g *Gateway) initEdge() {
	c := &g.cfg
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = DefaultMaxRecipients
	}
	if c.DenialWindow <= 0 {
		c.DenialWindow = DefaultDenialWindow
	}
	g.replay = journal.NewReplayCache(c.ReplayCacheEntries)
	g.denials = newDenials()
	g.metrics.replayEntries = func() int64 { return int64(g.replay.Len()) }
	g.metrics.replayEvicted = func() int64 { return int64(g.replay.Evicted()) }
}

// httpServer is the API's server with the edge timeouts.
func (g *Gateway) httpServer() *http.Server {
	return &http.Server{
		Handler:           g.auditDenials(g.routes()),
		ReadTimeout:       g.cfg.ReadTimeout,
		ReadHeaderTimeout: g.cfg.ReadHeaderTimeout,
		IdleTimeout:       g.cfg.IdleTimeout,
	}
}

// limits are the field limits of records that arrive over HTTP.
func (g *Gateway) limits() journal.Limits {
	return journal.Limits{MaxFieldBytes: g.cfg.MaxFieldBytes, MaxRawBytes: g.cfg.MaxBodyBytes, MaxRecipients: g.cfg.MaxRecipients}
}

// readBodyError is the answer to a body that could not be read: a
// client too slow for http.read_timeout gets a 408 that says so.
func (g *Gateway) readBodyError(err error) *APIError {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &APIError{Status: http.StatusRequestTimeout, Code: CodeTimeout,
			Message: "the request body did not arrive within " + g.cfg.ReadTimeout.String() + " (http.read_timeout)"}
	}
	return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "could not read the request body"}
}

// CodeTimeout: the request took longer than the server allows.
const CodeTimeout = "timeout"

// metricsAllowed checks the bearer token of GET /metrics when
// http.metrics_token is set.
func (g *Gateway) metricsAllowed(r *http.Request) bool {
	if g.cfg.MetricsToken == "" {
		return true
	}
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(HashToken(secret)), []byte(HashToken(g.cfg.MetricsToken))) == 1
}
