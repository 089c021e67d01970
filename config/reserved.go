package config

// reservedTenant is the audit trail's tenant: only holdfast writes it, so
// no source may be configured to archive under it.
const reservedTenant = "_audit"

// validateReservedTenants refuses a source or the SMTP listener set to
// archive under the audit trail's tenant, which ingest would refuse for
// every message.
func (c *Config) validateReservedTenants() error {
	for _, f := range [...]struct{ key, tenant string }{
		{"smtp.tenant", c.SMTP.Tenant}, {"sources.wecom.tenant", c.Sources.WeCom.Tenant},
		{"sources.dingtalk.tenant", c.Sources.DingTalk.Tenant}, {"sources.zoom.tenant", c.Sources.Zoom.Tenant},
		{"sources.slack.tenant", c.Sources.Slack.Tenant}, {"sources.teams.tenant", c.Sources.Teams.Tenant},
	} {
		if f.tenant == reservedTenant {
			return bad(f.key, "tenant %s is reserved for holdfast's own audit trail", reservedTenant)
		}
	}
	return nil
}
