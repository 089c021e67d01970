// Package cluster owns holdfast's Raft node and the catalog it replicates.
//
// The catalog records every sealed, uploaded and verified segment
// (archive.Segment). Writes are Raft commands: SealSegments returns only
// once its command is committed by a quorum and applied to the local
// catalog. Reads (Segment, SegmentsAfter, SegmentCount) are served from the
// local catalog without a Raft round trip; followers of the catalog (the
// indexer, the locator) page through it in apply order with SegmentsAfter
// and wait on Changed.
//
// The finite state machine is thin and deterministic (STYLE §5): Apply
// decodes a small versioned Command, writes it to the catalog in one bbolt
// transaction and broadcasts Changed. It does no network I/O. The catalog
// lives on disk in fsm.db, next to the Raft log (raft.db) and the snapshots
// directory, so memory stays bounded however many segments there are.
//
// Today a node bootstraps a single-node cluster. Adding nodes (join,
// forwarding writes to the leader) is a later change; nothing here assumes a
// single node beyond Config.Bootstrap.
package cluster

import "errors"

// Errors returned by Node, tested with errors.Is.
var (
	// ErrNotLeader means the write reached a node that is not (or stopped
	// being) the leader. The command may or may not have been committed;
	// SealSegments is idempotent, so retrying against the leader is safe.
	ErrNotLeader = errors.New("cluster: not the leader")
	// ErrClosed means the node has been closed.
	ErrClosed = errors.New("cluster: node closed")
	// ErrConflict means a segment key is already in the catalog with a
	// different sha256. Nothing of the conflicting command was applied.
	ErrConflict = errors.New("cluster: segment key already recorded with a different sha256")
	// ErrTimeout means a write was not committed and applied within
	// Config.ApplyTimeout. It may still be applied later; retrying is safe.
	ErrTimeout = errors.New("cluster: timed out waiting for raft")
	// ErrInvalid means a segment lacks a key or a sha256, or its key is too
	// long to be an object key.
	ErrInvalid = errors.New("cluster: invalid segment")
)
