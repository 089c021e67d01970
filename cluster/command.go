package cluster

import (
	"encoding/json"
	"fmt"

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
	default:
		return fmt.Errorf("%w: unknown command op %q", ErrInvalid, c.Op)
	}
}
