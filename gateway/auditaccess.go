package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// requireAny is require for a route that more than one role may use; the
// handler then decides what each may see.
func (g *Gateway) requireAny(roles []string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, e := g.auth.authenticate(r)
		if e != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="holdfast"`)
			writeError(w, e)
			return
		}
		for _, role := range roles {
			if c.may(role) {
				h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
				return
			}
		}
		writeError(w, &APIError{Status: http.StatusForbidden, Code: CodeForbidden,
			Message: fmt.Sprintf("token %q has role %s; this needs %s", c.Name, c.Role, strings.Join(roles, " or "))})
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
