// Package cluster owns holdfast's Raft cluster and the catalog it
// replicates.
//
// The catalog records every sealed, uploaded and verified segment
// (archive.Segment). Writes are Raft commands: SealSegments returns only
// once its command is committed by a quorum and applied to the local
// catalog. Reads (Segment, SegmentsAfter, SegmentCount) are served from the
// local catalog without a Raft round trip; followers of the catalog (the
// indexer, the locator) page through it in apply order with SegmentsAfter
// and wait on Changed. LeaderLastSeq gives a read that must be strong the
// point it has to catch up to.
//
// The finite state machine is thin and deterministic (STYLE §5): Apply
// decodes a small versioned Command, writes it to the catalog in one bbolt
// transaction and broadcasts Changed. It does no network I/O. The catalog
// lives on disk in fsm.db, next to the Raft log (raft.db) and the snapshots
// directory, so memory stays bounded however many segments there are. A
// node that joins, or falls too far behind, receives a snapshot (the
// catalog file, streamed) and then the log; Restore fires Changed.
//
// # Membership
//
// A cluster starts as one node bootstrapped alone (Config.Bootstrap). Each
// further node starts with no state and Config.Join naming existing members:
// it asks them, over the cluster RPC, for the leader to add it as a voter,
// retrying until it is added. A node restarted with its data directory
// rejoins by itself. Join, Remove and Members manage and show the
// membership from any node.
//
// # Transport
//
// Raft and a small RPC share the Config.RaftListen address (transport.go).
// Every connection is authenticated with the cluster secret
// (Config.Secret) by an HMAC-SHA256 challenge-response over nonces from
// both sides (handshake.go), optionally inside mutual TLS (Config.TLS),
// before raft or the RPC reads a byte; a peer that fails is dropped with a
// warning naming its address. The same handshake runs an X25519 exchange
// keyed with the secret, and every frame after it is sealed with
// AES-256-GCM under that connection's keys (seal.go): a frame altered,
// replayed or reordered on the path closes the connection unread.
// Handshakes have a deadline and caps per source address and in total; at
// a cap the oldest of the busiest address is dropped (admit.go), so a flood
// of half-open connections displaces only itself. An empty secret is
// allowed only for a single node bootstrapped alone, which then accepts no
// peer at all.
//
// # Leader work from any node
//
// SealSegments, LeaderLastSeq, Join and Remove work on any node: a
// follower forwards them to the leader over the RPC (rpc.go, forward.go)
// and, for a write, waits until it has applied it itself, so that a node
// reads its own writes. While no leader is known they fail with
// ErrNoLeader within about one election. Work that only the leader may do
// (retention sweeps, hold application) registers with RunWhileLeader
// (jobs.go).
package cluster

import "errors"

// Errors returned by Node, tested with errors.Is.
var (
	// ErrNotLeader means leader work reached a node that is not (or stopped
	// being) the leader. Node's methods forward such work to the leader
	// themselves; it surfaces, wrapped in ErrNoLeader, when the leader kept
	// changing. SealSegments is idempotent, so retrying is safe.
	ErrNotLeader = errors.New("cluster: not the leader")
	// ErrNoLeader means no leader is known or reachable: an election is
	// under way, or a quorum is lost. The outcome of a write is unknown;
	// retrying later is safe.
	ErrNoLeader = errors.New("cluster: no leader")
	// ErrClosed means the node has been closed.
	ErrClosed = errors.New("cluster: node closed")
	// ErrConflict means a segment key is already in the catalog with a
	// different sha256. Nothing of the conflicting command was applied.
	ErrConflict = errors.New("cluster: segment key already recorded with a different sha256")
	// ErrTimeout means a write was not committed and applied within
	// Config.ApplyTimeout. It may still be applied later; retrying is safe.
	ErrTimeout = errors.New("cluster: timed out waiting for raft")
	// ErrInvalid means a segment lacks a key or a sha256, or its key is too
	// long to be an object key; or a command or a membership request is
	// malformed.
	ErrInvalid = errors.New("cluster: invalid segment or request")
	// ErrRejected means the catalog refused a retention or hold command
	// because of the state it found: a sweep is already running, the hold
	// is not active. Every node refuses it alike; nothing was applied.
	ErrRejected = errors.New("cluster: rejected by the catalog")
	// ErrNotFound means no hold or sweep has the id asked for.
	ErrNotFound = errors.New("cluster: not found")
	// ErrUnknownMember means Remove named a server that is not in the
	// raft configuration.
	ErrUnknownMember = errors.New("cluster: no such member")
	// ErrNoSecret means the node has no Config.Secret, so it can neither
	// accept nor reach other members.
	ErrNoSecret = errors.New("cluster: no cluster secret configured")
)
