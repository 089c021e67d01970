package config

import (
	"path/filepath"

	"github.com/holdfast/holdfast/archive"
	"time"
)

// Defaults: every key the file may leave out takes one of these.
const (
	DefaultNodeID        = "node1"
	DefaultDataDir       = "/var/lib/holdfast"
	DefaultHTTPListen    = "127.0.0.1:8080"
	DefaultMaxBodyBytes  = 64 * MiB
	DefaultMaxFieldBytes = 1 * MiB
	DefaultRaftListen    = "127.0.0.1:7000"
	DefaultStorageKind   = StorageS3
	DefaultS3Endpoint    = "127.0.0.1:9000"
	DefaultS3Bucket      = "holdfast"
	DefaultSpoolMaxBytes = 10 * GiB
	DefaultSegmentBytes  = 16 * MiB
	DefaultSegmentAge    = Duration(30 * time.Second)
	DefaultRetention     = "7y"
	DefaultRetainFloor   = Duration(24 * time.Hour)
	DefaultSweepEvery    = Duration(time.Hour)
	DefaultSMTPMaxBytes  = Size(50 << 20)
	DefaultLogLevel      = "info"
	DefaultLogFormat     = "json"
	// Edge limits (http.*, sources.*).
	DefaultReadTimeout        = Duration(2 * time.Minute)
	DefaultReadHeaderTimeout  = Duration(10 * time.Second)
	DefaultIdleTimeout        = Duration(2 * time.Minute)
	DefaultMaxConns           = 1024
	DefaultMaxRecipients      = 1000
	DefaultReplayCacheEntries = 100_000
	DefaultDingTalkSignWindow = Duration(time.Hour)

	DefaultHandshakeTimeout     = Duration(5 * time.Second)
	DefaultMaxHandshakes        = 128
	DefaultMaxHandshakesPerAddr = 16
	DefaultAuditRetain          = "10y"
)

// Storage kinds, the values of storage.kind.
const (
	StorageS3 = "s3" // an S3-compatible bucket with Object Lock
	StorageFS = "fs" // a local directory (single machine, tests)
)

// Config is the whole configuration file. Its YAML keys are the product's
// contract with users (DESIGN.md, "Config file").
type Config struct {
	Node      Node      `yaml:"node"`
	HTTP      HTTP      `yaml:"http"`
	SMTP      SMTP      `yaml:"smtp"`
	Sources   Sources   `yaml:"sources"`
	Cluster   Cluster   `yaml:"cluster"`
	Storage   Storage   `yaml:"storage"`
	Spool     Spool     `yaml:"spool"`
	Segment   Segment   `yaml:"segment"`
	Retention Retention `yaml:"retention"`
	Auth      Auth      `yaml:"auth"`
	Log       Log       `yaml:"log"`
	Search    Search    `yaml:"search"`
	Audit     Audit     `yaml:"audit"`
}

// Node names this daemon and where it keeps its local state.
type Node struct {
	ID      string `yaml:"id"`       // unique in the cluster: [A-Za-z0-9_.-]{1,64}
	DataDir string `yaml:"data_dir"` // spool, raft log and index live below it
}

// HTTP is the API listener.
type HTTP struct {
	Listen        string `yaml:"listen"`          // host:port
	TLSCert       string `yaml:"tls_cert"`        // PEM file; with TLSKey turns on HTTPS
	TLSKey        string `yaml:"tls_key"`         // PEM file
	MaxBodyBytes  Size   `yaml:"max_body_bytes"`  // largest request body
	MaxFieldBytes Size   `yaml:"max_field_bytes"` // largest single field in a message
	// ReadTimeout bounds reading a whole request, body included (a body
	// trickled slower is cut off with 408); ReadHeaderTimeout its headers;
	// IdleTimeout closes idle keep-alive connections.
	ReadTimeout       Duration `yaml:"read_timeout"`
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	// MaxConns caps concurrent connections; more wait in the backlog.
	MaxConns int `yaml:"max_conns"`
	// MaxRecipients caps a message's recipients (400 naming "to").
	MaxRecipients int `yaml:"max_recipients"`
	// MetricsToken, when set, is the bearer token GET /metrics needs (a
	// secret, like cluster.secret: keep it in the environment).
	MetricsToken string `yaml:"metrics_token"`
}

// SMTP is the journaling listener.
type SMTP struct {
	Listen string `yaml:"listen"` // host:port; empty turns SMTP off
	// MaxBytes is the largest message accepted (552 beyond it).
	MaxBytes Size `yaml:"max_bytes"`
	// Allow lists client addresses or CIDRs that may deliver without
	// AUTH; Users may deliver with AUTH PLAIN (after STARTTLS).
	Allow []string   `yaml:"allow"`
	Users []SMTPUser `yaml:"users"`
	// TLSCert and TLSKey turn on STARTTLS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Tenant is the tenant journaled mail is archived under.
	Tenant string `yaml:"tenant"`
	// RequireAuth refuses delivery without AUTH from every address,
	// loopback and Allow included: only Users may deliver.
	RequireAuth bool `yaml:"require_auth"`
}

// SMTPUser is an account of the SMTP listener.
type SMTPUser struct {
	Name           string `yaml:"name"`
	PasswordSHA256 string `yaml:"password_sha256"` // 64 lowercase hex digits
}

// Sources configure the platform webhooks (POST /v1/sources/...).
type Sources struct {
	WeCom    Source `yaml:"wecom"`
	DingTalk Source `yaml:"dingtalk"`
	Zoom     Source `yaml:"zoom"`
	Slack    Source `yaml:"slack"`
	Teams    Source `yaml:"teams"`
	// ReplayCacheEntries bounds the signatures the webhook replay cache
	// remembers (a signature seen once is refused with another body).
	ReplayCacheEntries int `yaml:"replay_cache_entries"`
}

// Source is one platform's webhook settings: its tenant and the secret
// its signature check needs (the platform's own name for it).
type Source struct {
	Tenant        string `yaml:"tenant"`
	SigningSecret string `yaml:"signing_secret"` // slack
	SecretToken   string `yaml:"secret_token"`   // zoom
	AppSecret     string `yaml:"app_secret"`     // dingtalk
	// HomeTenantID is the organisation's Microsoft Entra tenant (teams):
	// users of other tenants are marked external.
	HomeTenantID string `yaml:"home_tenant_id"`
	// SignWindow is how far a signed timestamp may be from now
	// (dingtalk; the platform's own window is an hour).
	SignWindow Duration `yaml:"sign_window"`
}

// Cluster is the Raft membership of this node.
type Cluster struct {
	RaftListen string   `yaml:"raft_listen"` // host:port other nodes reach this node's Raft on
	Join       []string `yaml:"join"`        // existing members' raft addresses (their raft_listen), host:port
	Secret     string   `yaml:"secret"`      // shared by the members; required with peers
	// Mutual TLS between members, when all three are set: this node's
	// certificate and key, and the CA that signed every member's.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	TLSCA   string `yaml:"tls_ca"`
	// Inbound handshakes: each must finish within HandshakeTimeout; at most
	// MaxHandshakes are in progress, MaxHandshakesPerAddr from one address
	// (an IPv6 /64). Past a cap the oldest of the busiest address is dropped.
	HandshakeTimeout     Duration `yaml:"handshake_timeout"`
	MaxHandshakes        int      `yaml:"max_handshakes"`
	MaxHandshakesPerAddr int      `yaml:"max_handshakes_per_addr"`
}

// Storage chooses and configures the WORM object store.
type Storage struct {
	Kind string `yaml:"kind"` // StorageS3 or StorageFS
	S3   S3     `yaml:"s3"`
	FS   FS     `yaml:"fs"`
}

// S3 is an S3-compatible bucket; it must have Object Lock enabled.
type S3 struct {
	Endpoint  string `yaml:"endpoint"` // host[:port], no scheme (see Secure)
	Bucket    string `yaml:"bucket"`
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	Secure    bool   `yaml:"secure"` // HTTPS to the endpoint
	Region    string `yaml:"region"`
}

// FS is the local-directory object store.
type FS struct {
	Dir string `yaml:"dir"` // empty means <data_dir>/objects, see Resolve
}

// Spool is the local fsync'd queue in front of storage.
type Spool struct {
	MaxBytes Size `yaml:"max_bytes"` // beyond it ingest answers 503 / SMTP 451
	// AckStoredTimeout bounds how long ?ack=stored waits for storage to
	// confirm a request's records before answering 503 + Retry-After.
	AckStoredTimeout Duration `yaml:"ack_stored_timeout"`
}

// DefaultAckStoredTimeout is spool.ack_stored_timeout.
const DefaultAckStoredTimeout = Duration(30 * time.Second)

// Segment says when the open segment is sealed and stored.
type Segment struct {
	MaxBytes Size     `yaml:"max_bytes"`
	MaxAge   Duration `yaml:"max_age"`
}

// Retention is how long messages are kept.
type Retention struct {
	Default  Period   `yaml:"default"`  // for messages no policy matches
	Floor    Duration `yaml:"floor"`    // no period may be shorter
	Policies []Policy `yaml:"policies"` // the longest matching one wins
	// DirectChat is "longest" (default: a 1:1 chat keeps the longer of
	// both parties' retention) or "shortest" (Zoom's rule).
	DirectChat string `yaml:"direct_chat"`
	// SweepEvery is how often the leader runs a retention sweep.
	SweepEvery Duration `yaml:"sweep_every"`
}

// Policy is a retention rule for the messages its non-empty criteria match.
type Policy struct {
	Name         string `yaml:"name"`
	Tenant       string `yaml:"tenant"`
	Platform     string `yaml:"platform"`
	Department   string `yaml:"department"`
	User         string `yaml:"user"`
	Conversation string `yaml:"conversation"`
	Retain       Period `yaml:"retain"`
}

// Auth lists the API's bearer tokens.
type Auth struct {
	Tokens []Token `yaml:"tokens"`
}

// Token is one API client. Only the token's SHA-256 is configured, never
// the token itself.
type Token struct {
	Name        string `yaml:"name"`
	Role        string `yaml:"role"`         // ingest, supervisor, legal, admin or auditor
	TokenSHA256 string `yaml:"token_sha256"` // 64 lowercase hex digits
}

// Audit is how long the audit trail is kept.
type Audit struct {
	// Retain is the least period an audit record is kept. It is also kept
	// at least as long as the longest retention in force for any message;
	// no retention policy can name the audit tenant.
	Retain Period `yaml:"retain"`
}

// Log configures the daemon's logs.
type Log struct {
	Level  string `yaml:"level"`  // trace, debug, info, warn or error
	Format string `yaml:"format"` // json or text
}

// Default returns the configuration with every default filled in. It is
// valid as it stands.
func Default() Config {
	retain, err := ParsePeriod(DefaultRetention)
	if err != nil {
		panic(err) // DefaultRetention is a constant
	}
	auditRetain, err := ParsePeriod(DefaultAuditRetain)
	if err != nil {
		panic(err) // DefaultAuditRetain is a constant
	}
	return Config{
		Node: Node{ID: DefaultNodeID, DataDir: DefaultDataDir},
		HTTP: HTTP{
			Listen:        DefaultHTTPListen,
			MaxBodyBytes:  DefaultMaxBodyBytes,
			MaxFieldBytes: DefaultMaxFieldBytes,
			ReadTimeout:   DefaultReadTimeout, ReadHeaderTimeout: DefaultReadHeaderTimeout, IdleTimeout: DefaultIdleTimeout,
			MaxConns: DefaultMaxConns, MaxRecipients: DefaultMaxRecipients,
		},
		Sources: Sources{DingTalk: Source{SignWindow: DefaultDingTalkSignWindow}, ReplayCacheEntries: DefaultReplayCacheEntries},
		Cluster: Cluster{RaftListen: DefaultRaftListen, HandshakeTimeout: DefaultHandshakeTimeout,
			MaxHandshakes: DefaultMaxHandshakes, MaxHandshakesPerAddr: DefaultMaxHandshakesPerAddr},
		Storage:   Storage{Kind: DefaultStorageKind, S3: S3{Endpoint: DefaultS3Endpoint, Bucket: DefaultS3Bucket}},
		Spool:     Spool{MaxBytes: DefaultSpoolMaxBytes, AckStoredTimeout: DefaultAckStoredTimeout},
		SMTP:      SMTP{MaxBytes: DefaultSMTPMaxBytes},
		Segment:   Segment{MaxBytes: DefaultSegmentBytes, MaxAge: DefaultSegmentAge},
		Retention: Retention{Default: retain, Floor: DefaultRetainFloor, DirectChat: archive.DirectLongest, SweepEvery: DefaultSweepEvery},
		Log:       Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Search:    defaultSearch(),
		Audit:     Audit{Retain: auditRetain},
	}
}

// Resolve fills in the settings derived from others: an empty storage.fs.dir
// becomes <data_dir>/objects. Call it after the last override, since a
// changed data_dir moves what was derived from it.
func (c *Config) Resolve() {
	if c.Storage.FS.Dir == "" {
		c.Storage.FS.Dir = filepath.Join(c.Node.DataDir, "objects")
	}
}

// SpoolDir is the spool's directory, <data_dir>/spool.
func (c *Config) SpoolDir() string { return filepath.Join(c.Node.DataDir, "spool") }

// RaftDir is the Raft log and snapshot directory, <data_dir>/raft.
func (c *Config) RaftDir() string { return filepath.Join(c.Node.DataDir, "raft") }

// IndexDir is the search index directory, <data_dir>/index.
func (c *Config) IndexDir() string { return filepath.Join(c.Node.DataDir, "index") }
