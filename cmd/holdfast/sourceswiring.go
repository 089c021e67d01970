package main

import (
	"time"

	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/gateway"
	"github.com/holdfast/holdfast/journal"
)

// webhookSources builds the platform webhooks of POST /v1/sources/...
// from sources.<platform>. A platform whose secret is set authenticates
// deliveries by its signature; the others need an ingest token.
func webhookSources(c config.Sources) map[string]gateway.Source {
	out := map[string]gateway.Source{}
	add := func(s journal.Source, cfg config.Source, signed bool) {
		out[s.Platform()] = gateway.Source{Source: s, Tenant: cfg.Tenant, Signed: signed}
	}
	add(journal.WeCom{}, c.WeCom, false)
	add(journal.DingTalk{AppSecret: c.DingTalk.AppSecret, SignWindow: time.Duration(c.DingTalk.SignWindow)}, c.DingTalk, c.DingTalk.AppSecret != "")
	add(journal.Zoom{SecretToken: c.Zoom.SecretToken}, c.Zoom, c.Zoom.SecretToken != "")
	add(journal.Slack{SigningSecret: c.Slack.SigningSecret}, c.Slack, c.Slack.SigningSecret != "")
	add(journal.Teams{HomeTenantID: c.Teams.HomeTenantID}, c.Teams, false)
	return out
}
