package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"
)

// Defaults for the tuning knobs of Config. The timeouts are hashicorp/raft's
// own defaults, sized for a three-node cluster on a LAN under disk load; a
// single node on loopback (tests) may set them much lower.
const (
	// DefaultSnapshotThreshold is how many log entries accumulate before
	// raft snapshots the catalog and compacts its log.
	DefaultSnapshotThreshold = 8192
	// DefaultSnapshotInterval is how often raft checks the threshold.
	DefaultSnapshotInterval = 2 * time.Minute
	// DefaultApplyTimeout bounds how long a write waits to be committed and
	// applied.
	DefaultApplyTimeout = 10 * time.Second
	// DefaultHeartbeatTimeout is how long a follower waits without contact
	// from the leader before it starts an election.
	DefaultHeartbeatTimeout = time.Second
	// DefaultElectionTimeout is how long a candidate waits for votes.
	DefaultElectionTimeout = time.Second
	// DefaultLeaderLeaseTimeout is how long a leader stays leader without
	// hearing from a quorum.
	DefaultLeaderLeaseTimeout = 500 * time.Millisecond
	// DefaultTrailingLogs is how many log entries raft keeps after a
	// snapshot, so that a follower a little behind catches up from the log
	// rather than from a whole snapshot (raft's own default).
	DefaultTrailingLogs = 10240
	// DefaultHandshakeTimeout bounds the TLS and secret handshakes of a
	// cluster connection, inbound and outbound.
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultMaxHandshakes bounds the inbound connections being
	// authenticated at once.
	DefaultMaxHandshakes = 128
	// DefaultMaxHandshakesPerAddr bounds those of one source address (an
	// IPv6 /64). A member has a few at a time at most.
	DefaultMaxHandshakesPerAddr = 16
)

// Config configures a Node. The zero value of every tuning knob means its
// Default… constant.
type Config struct {
	// NodeID is this node's stable raft server id.
	NodeID string
	// RaftListen is the host:port raft listens on; the advertised address is
	// the same, so the host must be an address peers can reach (not 0.0.0.0).
	// Port 0 picks a free port (tests).
	RaftListen string
	// Dir holds the raft log and stable store (raft.db), the snapshots and
	// the catalog (fsm.db).
	Dir string
	// Bootstrap bootstraps a single-node cluster when Dir holds no raft
	// state yet. It is ignored when state exists, and when Join is set.
	Bootstrap bool
	// Join lists the raft addresses (host:port) of existing members. A node
	// with no raft state and a non-empty Join does not bootstrap: it asks
	// the members, over the cluster RPC, for the leader to add it as a
	// voter, retrying with backoff until it is added or Close. A node with
	// raft state ignores Join: it rejoins on its own.
	Join []string
	// Secret is the cluster's shared secret: every raft and RPC connection
	// between members starts with an HMAC-SHA256 challenge-response on it,
	// and a peer that does not know it is dropped before raft reads a byte.
	// With an X25519 exchange it keys that connection's encryption: every
	// frame after the handshake is sealed with AES-256-GCM (seal.go), TLS
	// or not. It never crosses the wire. Every member must have the same one.
	//
	// An empty Secret is allowed only for a single node bootstrapped alone:
	// such a node accepts no cluster connection at all, cannot be joined,
	// and Open refuses it with Join set or with other members in its raft
	// configuration.
	Secret string
	// TLS, when set, wraps every cluster connection in mutual TLS before the
	// secret handshake. The same config serves both ends: Certificates (or
	// GetCertificate and GetClientCertificate) is this node's certificate,
	// which must be valid for both server and client authentication;
	// RootCAs verifies the peers' certificates, and ClientCAs defaults to
	// RootCAs. Client certificates are always required and verified. When
	// ServerName is empty, the host of the address dialled is verified.
	TLS *tls.Config
	// Progress, when set, reports how far this node's followers of the
	// catalog (its index) have got, as a catalog Seq; other members see it
	// in Members, so an operator sees every node's lag in one place.
	Progress func() uint64
	// Now is the clock of hold, sweep and policy records and of sweep
	// cutoffs; nil is time.Now. Tests move it to expire records.
	Now func() time.Time

	// SnapshotThreshold: see DefaultSnapshotThreshold.
	SnapshotThreshold uint64
	// SnapshotInterval: see DefaultSnapshotInterval.
	SnapshotInterval time.Duration
	// ApplyTimeout: see DefaultApplyTimeout.
	ApplyTimeout time.Duration
	// HeartbeatTimeout: see DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// ElectionTimeout: see DefaultElectionTimeout.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout: see DefaultLeaderLeaseTimeout.
	LeaderLeaseTimeout time.Duration
	// TrailingLogs: see DefaultTrailingLogs.
	TrailingLogs uint64
	// ClaimWindow: see DefaultClaimWindow.
	ClaimWindow time.Duration
	// ClaimTakeover: see DefaultClaimTakeover.
	ClaimTakeover time.Duration
	// HandshakeTimeout: see DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxHandshakes and MaxHandshakesPerAddr: see DefaultMaxHandshakes and
	// DefaultMaxHandshakesPerAddr. When one is reached, a new connection
	// displaces the oldest pending handshake of the address with the most
	// (admit.go): a flood displaces itself, never a member.
	MaxHandshakes        int
	MaxHandshakesPerAddr int
}

// now reads the configured clock.
func (cfg Config) now() time.Time {
	if cfg.Now != nil {
		return cfg.Now()
	}
	return time.Now()
}

// withDefaults returns cfg with every zero knob set to its default.
func (cfg Config) withDefaults() Config {
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if cfg.SnapshotInterval == 0 {
		cfg.SnapshotInterval = DefaultSnapshotInterval
	}
	if cfg.ApplyTimeout == 0 {
		cfg.ApplyTimeout = DefaultApplyTimeout
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = DefaultElectionTimeout
	}
	if cfg.LeaderLeaseTimeout == 0 {
		cfg.LeaderLeaseTimeout = DefaultLeaderLeaseTimeout
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = DefaultTrailingLogs
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxHandshakes == 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.MaxHandshakesPerAddr == 0 {
		cfg.MaxHandshakesPerAddr = DefaultMaxHandshakesPerAddr
	}
	return cfg
}

// validate names the first bad field. Raft checks the relations between its
// timeouts itself (raft.ValidateConfig).
func (cfg Config) validate() error {
	var err error
	switch {
	case cfg.NodeID == "":
		err = errors.New("empty NodeID")
	case cfg.RaftListen == "":
		err = errors.New("empty RaftListen")
	case cfg.Dir == "":
		err = errors.New("empty Dir")
	case cfg.ApplyTimeout < 0:
		err = errors.New("negative ApplyTimeout")
	case cfg.HandshakeTimeout < 0:
		err = errors.New("negative HandshakeTimeout")
	case cfg.MaxHandshakes < 0 || cfg.MaxHandshakesPerAddr < 0:
		err = errors.New("negative MaxHandshakes or MaxHandshakesPerAddr")
	case len(cfg.Join) > 0 && cfg.Secret == "":
		err = errors.New("Join without a Secret: members authenticate each other with it")
	case cfg.TLS != nil && len(cfg.TLS.Certificates) == 0 &&
		(cfg.TLS.GetCertificate == nil || cfg.TLS.GetClientCertificate == nil):
		err = errors.New("TLS without a certificate for both server and client use")
	case cfg.TLS != nil && cfg.TLS.RootCAs == nil:
		err = errors.New("TLS without RootCAs to verify the members' certificates")
	}
	for i, addr := range cfg.Join {
		if err == nil && addr == "" {
			err = fmt.Errorf("empty Join[%d]", i)
		}
	}
	if err != nil {
		return fmt.Errorf("cluster config: %w", err)
	}
	return nil
}
