package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// CommandVersion is the version of the Command envelope this binary writes
// and the newest it can apply.
const CommandVersion = 1

// Ops a Command can carry. An op is part of the replicated log's format:
// add new ones, never change or reuse one.
const (
	// OpSegmentSealed records sealed segments in the catalog.
	OpSegmentSealed = "segment_sealed"
	// OpPoliciesSet replaces the retention policies.
	OpPoliciesSet = "policies_set"
	// OpHoldPlaced records a new legal hold.
	OpHoldPlaced = "hold_placed"
	// OpHoldCovered records segments a hold covers and how far through
	// the catalog its criteria have been checked.
	OpHoldCovered = "hold_covered"
	// OpHoldReleased starts the release of a hold.
	OpHoldReleased = "hold_released"
	// OpHoldUnheld records segments a releasing hold no longer covers.
	OpHoldUnheld = "hold_unheld"
	// OpSweepStarted starts a retention sweep with a fixed cutoff.
	OpSweepStarted = "sweep_started"
	// OpSweepProgress records what a sweep did to some segments; the
	// deleted ones leave the catalog (SegmentExpired).
	OpSweepProgress = "sweep_progress"
	// OpSweepFinished ends a sweep.
	OpSweepFinished = "sweep_finished"
	// OpSweepAudited records that a finished sweep's report is in the
	// audit trail.
	OpSweepAudited = "sweep_audited"
	// OpRetentionExtended records a later retain-until of segments.
	OpRetentionExtended = "retention_extended"
	// OpVersionsClaimed claims the message versions of a segment about
	// to be stored (claims.go).
	OpVersionsClaimed = "versions_claimed"
	// OpSegmentQuarantined records that a node's indexer found segments
	// corrupt and went on past them.
	OpSegmentQuarantined = "segment_quarantined"
	// OpQuarantineCleared removes quarantine records; with Requeue (a
	// repair) the segments also get a new seq, for every indexer to read
	// them again.
	OpQuarantineCleared = "quarantine_cleared"
)

// maxSegmentsPerCommand caps the segments in one log entry, so that an
// entry stays about 100 KiB however large a caller's batch is: entries are
// what the log cache holds and what one AppendEntries RPC carries 64 of.
const maxSegmentsPerCommand = 256

// maxKeyLen is the longest segment key accepted: S3's object key limit.
const maxKeyLen = 1024

// Command is the envelope of every raft log entry the catalog applies,
// encoded as JSON: {"v":1,"op":"segment_sealed","segments":[...]}.
type Command struct {
	// V is the envelope version, CommandVersion when written.
	V int `json:"v"`
	// Op says what the command does (Op… constants).
	Op string `json:"op"`
	// Segments are the segments of an OpSegmentSealed command.
	Segments []archive.Segment `json:"segments,omitempty"`
	commandBody
}

// commandBody holds the fields of every op but OpSegmentSealed; each op
// uses the few it needs.
type commandBody struct {
	// By and At say who asked for the change and when (the proposer's
	// clock: apply never reads a clock).
	By string    `json:"by,omitempty"`
	At time.Time `json:"at,omitzero"`
	// Policies is the new set of OpPoliciesSet; Source says where it
	// comes from ("api" or "config").
	Policies *archive.PolicySet `json:"policies,omitempty"`
	Source   string             `json:"source,omitempty"`
	// Hold is the hold of OpHoldPlaced.
	Hold *archive.Hold `json:"hold,omitempty"`
	// HoldID names the hold of OpHoldCovered, OpHoldReleased and
	// OpHoldUnheld; Reason is a release's.
	HoldID string `json:"hold_id,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Coverage maps segment keys to the matching message versions inside
	// (OpHoldCovered); CoveredSeq is how far the check went.
	Coverage   map[string]int `json:"coverage,omitempty"`
	CoveredSeq uint64         `json:"covered_seq,omitempty"`
	// Keys are the segments of OpHoldUnheld and OpRetentionExtended.
	Keys []string `json:"keys,omitempty"`
	// Until is the new retain-until of OpRetentionExtended.
	Until time.Time `json:"until,omitzero"`
	// Sweep is the sweep OpSweepStarted starts; SweepID names the sweep
	// of OpSweepProgress and OpSweepFinished.
	Sweep   *Sweep `json:"sweep,omitempty"`
	SweepID string `json:"sweep_id,omitempty"`
	// Results are what a sweep did to segments (OpSweepProgress).
	Results []SweepResult `json:"results,omitempty"`
	// Error is why a sweep ended early (OpSweepFinished).
	Error string `json:"error,omitempty"`
	// ClaimSegment and Claims are an OpVersionsClaimed's segment and the
	// versions it claims; ClaimDays is how many days of claims the catalog
	// keeps and TakeoverAfter how long an unstored claim holds.
	ClaimSegment  string        `json:"claim_segment,omitempty"`
	Claims        claimList     `json:"claims,omitempty"`
	ClaimDays     int           `json:"claim_days,omitempty"`
	TakeoverAfter time.Duration `json:"takeover_after,omitempty"`
	// ClaimOldest is when the oldest claimed version was accepted.
	ClaimOldest time.Time `json:"claim_oldest,omitzero"`
	// Node names the node whose quarantine records OpQuarantineCleared
	// removes ("": every node's); Requeue gives the segments a new seq.
	// The segments are Keys, and Reason is why they were quarantined
	// (OpSegmentQuarantined, whose node is By).
	Node    string `json:"node,omitempty"`
	Requeue bool   `json:"requeue,omitempty"`
}

// encodeCommand encodes c for raft.Apply.
func encodeCommand(c Command) ([]byte, error) {
	c.V = CommandVersion
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode %s command: %w", c.Op, err)
	}
	return b, nil
}

// wireCommand is Command as Apply decodes it: each segment stays the JSON
// the proposer wrote, so the catalog stores the very bytes of the log entry
// (identical on every node whatever binary applies it) and Apply does not
// encode it again.
type wireCommand struct {
	V        int               `json:"v"`
	Op       string            `json:"op"`
	Segments []json.RawMessage `json:"segments"`
	commandBody
}

// decodeCommand decodes a log entry. Every entry was written by
// encodeCommand, so a failure here is a bug or a binary too old for its
// cluster: Apply panics on it rather than guess.
func decodeCommand(data []byte) (wireCommand, error) {
	var c wireCommand
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("decode command: %w", err)
	}
	if c.V < 1 || c.V > CommandVersion {
		return c, fmt.Errorf("command version %d not supported (this binary applies 1..%d)", c.V, CommandVersion)
	}
	return c, nil
}

// checkSegment rejects what no catalog entry may be; the FSM applies the
// same rule deterministically.
func checkSegment(s *archive.Segment) error {
	switch {
	case s.Key == "":
		return fmt.Errorf("segment without key: %w", ErrInvalid)
	case len(s.Key) > maxKeyLen:
		return fmt.Errorf("segment key of %d bytes: %w", len(s.Key), ErrInvalid)
	case s.SHA256 == "":
		return fmt.Errorf("segment %s without sha256: %w", s.Key, ErrInvalid)
	}
	return nil
}

// checkCommand checks an encoded command that another member asks the
// leader to apply: it must be one this binary writes and every node can
// apply, since the FSM panics on an unknown op or version rather than
// guess. It returns an error wrapping ErrInvalid otherwise.
func checkCommand(data []byte) error {
	c, err := decodeCommand(data)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch c.Op {
	case OpSegmentSealed:
		if len(c.Segments) == 0 || len(c.Segments) > maxSegmentsPerCommand {
			return fmt.Errorf("%w: %d segments in one command", ErrInvalid, len(c.Segments))
		}
		for i, raw := range c.Segments {
			var s archive.Segment
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("%w: segment %d: %w", ErrInvalid, i, err)
			}
			if err := checkSegment(&s); err != nil {
				return err
			}
		}
		return nil
	case OpVersionsClaimed:
		return checkClaimCommand(&c)
	case OpSegmentQuarantined, OpQuarantineCleared:
		if len(c.Keys) == 0 || c.By == "" {
			return fmt.Errorf("%w: %s command without keys and by", ErrInvalid, c.Op)
		}
		return nil
	default:
		return checkRetentionCommand(&c)
	}
}
