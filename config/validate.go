package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// Errors.
var (
	// ErrInvalid is what every problem with the file's content unwraps to,
	// whether found while decoding or by Validate.
	ErrInvalid = errors.New("invalid config")
)

// FieldError is one bad setting. Key is its dotted YAML path, such as
// "segment.max_bytes" or "auth.tokens[1].role"; Reason says what is wrong.
type FieldError struct {
	Key    string
	Reason string
}

// Error returns "config: <key>: <reason>".
func (e *FieldError) Error() string {
	if e.Key == "" {
		return "config: " + e.Reason
	}
	return "config: " + e.Key + ": " + e.Reason
}

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Limits Validate enforces.
const (
	MinSegmentBytes = 64 * KiB
	MaxSegmentBytes = 5 * GiB // the largest single S3 PUT
	MinSegmentAge   = Duration(100 * time.Millisecond)
	MaxSegmentAge   = Duration(24 * time.Hour)
	MinRetainFloor  = Duration(time.Second)
	MinSweepEvery   = Duration(time.Second)
	MinSecretLen    = 16
)

// roles are the token roles the API knows.
var roles = []string{"ingest", "supervisor", "legal", "admin", "auditor"}

// Validate checks every setting and returns a *FieldError for the first
// problem found, or nil.
func (c *Config) Validate() error {
	for _, check := range []func() error{
		c.validateNode, c.validateListeners, c.validateStorage,
		c.validateSizes, c.validateRetention, c.validateAuth, c.validateLog,
		c.validateSearch,
		c.validateEdge,
		c.validateAudit,
		c.validateReservedTenants,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func bad(key, format string, args ...any) *FieldError {
	return &FieldError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

func (c *Config) validateNode() error {
	if !validNodeID(c.Node.ID) {
		return bad("node.id", "%q: want 1 to 64 of A-Z a-z 0-9 _ . -", c.Node.ID)
	}
	if c.Node.DataDir == "" {
		return bad("node.data_dir", "required")
	}
	return nil
}

func validNodeID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if r != '_' && r != '.' && r != '-' && (r < '0' || r > '9') && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return true
}

func (c *Config) validateListeners() error {
	if err := checkHostPort("http.listen", c.HTTP.Listen, false); err != nil {
		return err
	}
	switch {
	case c.HTTP.TLSCert != "" && c.HTTP.TLSKey == "":
		return bad("http.tls_key", "required when http.tls_cert is set")
	case c.HTTP.TLSKey != "" && c.HTTP.TLSCert == "":
		return bad("http.tls_cert", "required when http.tls_key is set")
	}
	if c.SMTP.Listen != "" {
		if err := checkHostPort("smtp.listen", c.SMTP.Listen, false); err != nil {
			return err
		}
	}
	if err := c.validateSMTP(); err != nil {
		return err
	}
	if err := checkHostPort("cluster.raft_listen", c.Cluster.RaftListen, true); err != nil {
		return err
	}
	for i, j := range c.Cluster.Join {
		if err := checkJoin(fmt.Sprintf("cluster.join[%d]", i), j); err != nil {
			return err
		}
	}
	if s := c.Cluster.Secret; s != "" && len(s) < MinSecretLen {
		return bad("cluster.secret", "too short: want at least %d characters", MinSecretLen)
	}
	if len(c.Cluster.Join) > 0 && c.Cluster.Secret == "" {
		return bad("cluster.secret", "required to join a cluster: every member authenticates with it")
	}
	t := c.Cluster
	if set := btoi(t.TLSCert != "") + btoi(t.TLSKey != "") + btoi(t.TLSCA != ""); set != 0 && set != 3 {
		return bad("cluster.tls_ca", "mutual TLS needs cluster.tls_cert, cluster.tls_key and cluster.tls_ca together")
	}
	switch {
	case t.HandshakeTimeout <= 0 || time.Duration(t.HandshakeTimeout) > time.Minute:
		return bad("cluster.handshake_timeout", "want more than 0 and at most 1m")
	case t.MaxHandshakes < 1:
		return bad("cluster.max_handshakes", "want at least 1")
	case t.MaxHandshakesPerAddr < 1 || t.MaxHandshakesPerAddr > t.MaxHandshakes:
		return bad("cluster.max_handshakes_per_addr", "want at least 1 and at most cluster.max_handshakes")
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkHostPort checks a listen address. Raft advertises its listen address
// to the other members, so with advertised it must name a host, not all of them.
func checkHostPort(key, addr string, advertised bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad(key, "%q: want host:port", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || advertised && n == 0 {
		return bad(key, "%q: bad port %q", addr, port)
	}
	if advertised {
		if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
			return bad(key, "%q: other nodes must reach this address; name the host instead of all interfaces", addr)
		}
	}
	return nil
}

// checkJoin checks a member's HTTP address: host:port or an http(s) URL.
func checkJoin(key, addr string) error {
	if strings.Contains(addr, "://") {
		return bad(key, "%q: want a member's raft address host:port (its cluster.raft_listen), not a URL", addr)
	}
	return checkHostPort(key, addr, true)
}

func (c *Config) validateStorage() error {
	switch c.Storage.Kind {
	case StorageFS:
		return nil
	case StorageS3:
	default:
		return bad("storage.kind", "%q: want %s or %s", c.Storage.Kind, StorageS3, StorageFS)
	}
	s := c.Storage.S3
	switch {
	case s.Endpoint == "":
		return bad("storage.s3.endpoint", "required")
	case strings.Contains(s.Endpoint, "://"):
		return bad("storage.s3.endpoint", "%q: want host[:port] without a scheme (set secure for HTTPS)", s.Endpoint)
	case strings.ContainsAny(s.Endpoint, "/?# "):
		return bad("storage.s3.endpoint", "%q: want host[:port]", s.Endpoint)
	case s.Bucket == "":
		return bad("storage.s3.bucket", "required")
	}
	if reason := badBucket(s.Bucket); reason != "" {
		return bad("storage.s3.bucket", "%q: %s", s.Bucket, reason)
	}
	switch {
	case s.AccessKey != "" && s.SecretKey == "":
		return bad("storage.s3.secret_key", "required when access_key is set")
	case s.SecretKey != "" && s.AccessKey == "":
		return bad("storage.s3.access_key", "required when secret_key is set")
	}
	return nil
}

// badBucket says why name breaks the S3 bucket naming rules, or returns "".
func badBucket(name string) string {
	if len(name) < 3 || len(name) > 63 {
		return "want 3 to 63 characters"
	}
	for _, r := range name {
		if r != '.' && r != '-' && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return "want only lowercase letters, digits, '.' and '-'"
		}
	}
	first, last := name[0], name[len(name)-1]
	switch {
	case first == '.' || first == '-' || last == '.' || last == '-':
		return "must begin and end with a letter or digit"
	case strings.Contains(name, ".."):
		return "must not contain \"..\""
	case net.ParseIP(name) != nil:
		return "must not look like an IP address"
	case strings.HasPrefix(name, "xn--") || strings.HasPrefix(name, "sthree-"):
		return "must not begin with xn-- or sthree-"
	case strings.HasSuffix(name, "-s3alias") || strings.HasSuffix(name, "--ol-s3"):
		return "must not end with -s3alias or --ol-s3"
	}
	return ""
}

func (c *Config) validateSizes() error {
	h := c.HTTP
	switch {
	case h.MaxBodyBytes <= 0:
		return bad("http.max_body_bytes", "must be positive")
	case h.MaxFieldBytes <= 0 || h.MaxFieldBytes > h.MaxBodyBytes:
		return bad("http.max_field_bytes", "%v: want more than 0 and at most http.max_body_bytes (%v)", h.MaxFieldBytes, h.MaxBodyBytes)
	}
	s := c.Segment
	switch {
	case s.MaxBytes < MinSegmentBytes || s.MaxBytes > MaxSegmentBytes:
		return bad("segment.max_bytes", "%v: want %v to %v", s.MaxBytes, MinSegmentBytes, MaxSegmentBytes)
	case s.MaxAge < MinSegmentAge || s.MaxAge > MaxSegmentAge:
		return bad("segment.max_age", "%v: want %v to %v", s.MaxAge, MinSegmentAge, MaxSegmentAge)
	case c.Spool.MaxBytes < s.MaxBytes:
		return bad("spool.max_bytes", "%v: want at least segment.max_bytes (%v)", c.Spool.MaxBytes, s.MaxBytes)
	case c.Spool.AckStoredTimeout < 0:
		return bad("spool.ack_stored_timeout", "%v: must not be negative (0 means the default, %v)", c.Spool.AckStoredTimeout, DefaultAckStoredTimeout)
	}
	return nil
}

func (c *Config) validateSMTP() error {
	m := c.SMTP
	switch {
	case m.MaxBytes < 1<<10:
		return bad("smtp.max_bytes", "%v: want at least 1KiB", m.MaxBytes)
	case (m.TLSCert == "") != (m.TLSKey == ""):
		return bad("smtp.tls_key", "smtp.tls_cert and smtp.tls_key go together")
	case len(m.Users) > 0 && m.TLSCert == "":
		return bad("smtp.users", "AUTH needs STARTTLS: set smtp.tls_cert and smtp.tls_key")
	}
	for i, a := range m.Allow {
		if _, err := netip.ParsePrefix(a); err != nil {
			if _, err := netip.ParseAddr(a); err != nil {
				return bad(fmt.Sprintf("smtp.allow[%d]", i), "%q: want an IP address or a CIDR such as 10.0.0.0/8", a)
			}
		}
	}
	for i, u := range m.Users {
		if u.Name == "" || !isSHA256Hex(u.PasswordSHA256) {
			return bad(fmt.Sprintf("smtp.users[%d]", i), "want a name and password_sha256 (64 lowercase hex digits)")
		}
	}
	return nil
}

func (c *Config) validateRetention() error {
	r := c.Retention
	if r.Floor < MinRetainFloor {
		return bad("retention.floor", "%v: want at least %v", r.Floor, MinRetainFloor)
	}
	if err := checkRetain("retention.default", r.Default, r.Floor); err != nil {
		return err
	}
	switch r.DirectChat {
	case "", archive.DirectLongest, archive.DirectShortest:
	default:
		return bad("retention.direct_chat", "%q: want longest or shortest", r.DirectChat)
	}
	if r.SweepEvery < MinSweepEvery {
		return bad("retention.sweep_every", "%v: want at least %v", r.SweepEvery, MinSweepEvery)
	}
	for i, p := range r.Policies {
		if p.Tenant == archive.ReservedTenant {
			return bad(fmt.Sprintf("retention.policies[%d].tenant", i), "%q is the audit trail's tenant: no policy can name it; "+
				"audit records are kept for audit.retain, and at least as long as any message", p.Tenant)
		}
	}
	return CheckPolicies("retention.policies", r.Policies, r.Floor)
}

// validateAudit checks audit.retain: a period from retention.floor to
// MaxRetain, or forever.
func (c *Config) validateAudit() error {
	p := c.Audit.Retain
	if p.IsZero() {
		return bad("audit.retain", "required")
	}
	if err := checkRetain("audit.retain", p, c.Retention.Floor); err != nil {
		return err
	}
	if !p.IsForever() && p.longerThan(MaxRetain) {
		return bad("audit.retain", "%v: longer than 100 years; write forever to keep for ever", p)
	}
	return nil
}

// CheckPolicies validates a policy list, as the config file or PUT
// /v1/policies gives it: unique names, a scope-free policy allowed, and
// every period from floor to MaxRetain, or forever. Errors name
// key[i].field.
func CheckPolicies(prefix string, ps []Policy, floor Duration) error {
	names := map[string]int{}
	for i, p := range ps {
		key := fmt.Sprintf("%s[%d]", prefix, i)
		switch {
		case p.Name == "":
			return bad(key+".name", "required")
		case p.Name == archive.DefaultPolicy:
			return bad(key+".name", "%q is the name of retention.default", p.Name)
		case len(p.Name) > 128:
			return bad(key+".name", "longer than 128 bytes")
		}
		if j, dup := names[p.Name]; dup {
			return bad(key+".name", "%q: already used by %s[%d]", p.Name, prefix, j)
		}
		names[p.Name] = i
		if p.Retain.IsZero() {
			return bad(key+".retain", "required")
		}
		if err := checkRetain(key+".retain", p.Retain, floor); err != nil {
			return err
		}
		if !p.Retain.IsForever() && p.Retain.longerThan(MaxRetain) {
			return bad(key+".retain", "%v: longer than 100 years; write forever to keep for ever", p.Retain)
		}
	}
	return nil
}

// checkRetain checks that period p can never be shorter than floor.
func checkRetain(key string, p Period, floor Duration) error {
	if !p.shorterThan(time.Duration(floor)) {
		return nil
	}
	hint := ""
	if p.dur%time.Hour != 0 {
		hint = ` ("m" is minutes; months are "mo")`
	}
	return bad(key, "%v: shorter than retention.floor (%v)%s", p, floor, hint)
}

func (c *Config) validateAuth() error {
	names, hashes := map[string]int{}, map[string]int{}
	for i, t := range c.Auth.Tokens {
		key := fmt.Sprintf("auth.tokens[%d]", i)
		switch j, dup := names[t.Name]; {
		case t.Name == "":
			return bad(key+".name", "required")
		case dup:
			return bad(key+".name", "%q: already used by auth.tokens[%d]", t.Name, j)
		}
		names[t.Name] = i
		if !slices.Contains(roles, t.Role) {
			return bad(key+".role", "%q: want one of %s", t.Role, strings.Join(roles, ", "))
		}
		if !isSHA256Hex(t.TokenSHA256) {
			return bad(key+".token_sha256", "want the token's SHA-256 as 64 lowercase hex digits")
		}
		if j, dup := hashes[t.TokenSHA256]; dup {
			return bad(key+".token_sha256", "same token as auth.tokens[%d]", j)
		}
		hashes[t.TokenSHA256] = i
	}
	return nil
}

func isSHA256Hex(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

func (c *Config) validateLog() error {
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q: want trace, debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		return bad("log.format", "%q: want json or text", c.Log.Format)
	}
	return nil
}
