package config

import "time"

// Bounds of the edge limits Validate enforces.
const (
	MinHTTPTimeout     = Duration(time.Second)
	MaxSignWindow      = Duration(24 * time.Hour)
	MinReplayCacheSize = 1000
)

// validateEdge checks the HTTP edge limits, the webhook replay cache and
// the SMTP authentication switch.
func (c *Config) validateEdge() error {
	h := c.HTTP
	for _, t := range [...]struct {
		key string
		v   Duration
	}{{"http.read_timeout", h.ReadTimeout}, {"http.read_header_timeout", h.ReadHeaderTimeout}, {"http.idle_timeout", h.IdleTimeout}} {
		if t.v < MinHTTPTimeout {
			return bad(t.key, "%v: want at least %v", t.v, MinHTTPTimeout)
		}
	}
	for name, src := range map[string]Source{"wecom": c.Sources.WeCom, "zoom": c.Sources.Zoom, "slack": c.Sources.Slack, "teams": c.Sources.Teams} {
		if src.SignWindow != 0 {
			return bad("sources."+name+".sign_window", "only sources.dingtalk.sign_window is configurable (Slack and Zoom fix theirs at 5 minutes; WeCom and Teams sign nothing)")
		}
	}
	switch {
	case h.ReadHeaderTimeout > h.ReadTimeout:
		return bad("http.read_header_timeout", "%v: want at most http.read_timeout (%v)", h.ReadHeaderTimeout, h.ReadTimeout)
	case h.MaxConns < 1:
		return bad("http.max_conns", "%d: want at least 1", h.MaxConns)
	case h.MaxRecipients < 1:
		return bad("http.max_recipients", "%d: want at least 1", h.MaxRecipients)
	case h.MetricsToken != "" && len(h.MetricsToken) < MinSecretLen:
		return bad("http.metrics_token", "too short: want at least %d characters", MinSecretLen)
	case c.Sources.ReplayCacheEntries < MinReplayCacheSize:
		return bad("sources.replay_cache_entries", "%d: want at least %d", c.Sources.ReplayCacheEntries, MinReplayCacheSize)
	case c.Sources.DingTalk.SignWindow < MinHTTPTimeout || c.Sources.DingTalk.SignWindow > MaxSignWindow:
		return bad("sources.dingtalk.sign_window", "%v: want %v to %v (DingTalk's own window is 1h)", c.Sources.DingTalk.SignWindow, MinHTTPTimeout, MaxSignWindow)
	case c.SMTP.RequireAuth && c.SMTP.Listen != "" && len(c.SMTP.Users) == 0:
		return bad("smtp.require_auth", "no smtp.users: nobody could deliver")
	case c.SMTP.RequireAuth && len(c.SMTP.Allow) > 0:
		return bad("smtp.allow", "smtp.require_auth refuses delivery without AUTH: leave allow empty")
	}
	return nil
}
