package cluster

import (
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
	// state yet. It is ignored when state exists.
	Bootstrap bool

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
	}
	if err != nil {
		return fmt.Errorf("cluster config: %w", err)
	}
	return nil
}
