package gateway

import "net/http"

// requireAny is require for a route that more than one role may use; the
// handler then decides what each may see. It hands the request to require
// with the first role the caller holds (or, when it holds none, the first
// role, for require's own refusal), so that every check require makes
// applies here too.
func (g *Gateway) requireAny(roles []string, h http.HandlerFunc) http.HandlerFunc {
	byRole := make(map[string]http.HandlerFunc, len(roles))
	for _, role := range roles {
		byRole[role] = g.require(role, h)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		role := roles[0]
		if c, e := g.auth.authenticate(r); e == nil {
			for _, ro := range roles {
				if c.may(ro) {
					role = ro
					break
				}
			}
		}
		byRole[role](w, r)
	}
}

// mayRead reports whether c may read records of tenant: the audit trail
// is the auditor's alone, everything else the supervisor's (admin holds
// both roles).
func (c caller) mayRead(tenant string) bool {
	if tenant == AuditTenant {
		return c.may(RoleAuditor)
	}
	return c.may(RoleSupervisor)
}
