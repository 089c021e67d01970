package journal

import "github.com/holdfast/holdfast/archive"

// The audit trail's records are the only ones of tenant AuditTenant or
// platform AuditPlatform: holdfast writes them itself, and Finish refuses
// either name from every source (the JSON API, webhooks, SMTP, imports),
// so that nothing a sender posts can pose as, or add a version to, an
// audit record.
const (
	// AuditTenant is the tenant of audit records (the tenant no retention
	// policy may name either).
	AuditTenant = archive.ReservedTenant
	// AuditPlatform is the platform of audit records.
	AuditPlatform = "holdfast"
)

// reserved refuses the audit trail's tenant and platform.
func reserved(tenant, platform string, line int) *Error {
	switch {
	case tenant == AuditTenant:
		return badField(line, "tenant", "tenant %s is reserved for holdfast's own audit trail", AuditTenant)
	case platform == AuditPlatform:
		return badField(line, "platform", "platform %s is reserved for holdfast's own audit trail", AuditPlatform)
	}
	return nil
}

// invalidUTF8 refuses a record with a string that is not valid UTF-8,
// naming the field: its hash would not survive being stored and read back.
func invalidUTF8(f string, line int) *Error {
	return &Error{Kind: KindEncoding, Field: f, Line: line, Msg: f + " is not valid UTF-8"}
}
