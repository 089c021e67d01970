package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Quarantine: a node whose indexer found a segment corrupt (its bytes do
// not match the catalogued sha256, or a record cannot be decoded) records
// it here, through raft, and indexes on past it, so that one bad object
// never stops a node's index. A repair (RepairSegment) clears the record
// and gives the segment a new catalog seq: every node's indexer then reads
// it again.

// bucketQuarantine maps segment key + 0 + node id to the JSON Quarantine
// that node recorded.
var bucketQuarantine = []byte("quarantine")

// maxReasonLen bounds the reason a quarantine record keeps.
const maxReasonLen = 1024

// Quarantine is one node's record of a segment it could not index.
type Quarantine struct {
	// Segment is the segment's key; Seq its catalog seq when quarantined.
	Segment string `json:"segment"`
	Seq     uint64 `json:"seq"`
	// Node is the node whose indexer quarantined it, At when (that
	// node's clock), Reason why.
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// applyQuarantine applies OpSegmentQuarantined and OpQuarantineCleared;
// known is false for any other op.
func (w *catalogWriter) applyQuarantine(c *wireCommand) (res *applyResult, known bool, err error) {
	switch c.Op {
	case OpSegmentQuarantined:
		res, err = w.quarantine(c)
	case OpQuarantineCleared:
		res, err = w.clearQuarantines(c)
	default:
		return nil, false, nil
	}
	return res, true, err
}

// quarantine records that node c.By quarantined each live segment of
// c.Keys; a segment unknown or already expired is left alone.
func (w *catalogWriter) quarantine(c *wireCommand) (*applyResult, error) {
	b := w.tx.Bucket(bucketQuarantine)
	res := &applyResult{}
	for _, key := range c.Keys {
		v := w.segments.Get([]byte(key))
		if v == nil || isExpired(v) {
			continue
		}
		q := Quarantine{Segment: key, Seq: getU64(w.tx.Bucket(bucketSeqOf).Get([]byte(key))), Node: c.By, Reason: c.Reason, At: c.At}
		if err := putJSON(b, pairKey(key, c.By), q); err != nil {
			return nil, err
		}
		res.changed = true
	}
	return res, nil
}

// clearQuarantines removes the quarantine records of c.Keys: those of node
// c.Node, or every node's when c.Node is empty. With c.Requeue (a repair)
// each live segment also gets a new seq, so that every indexer reads it
// again; a segment no node quarantined rejects the command then, with
// ErrNotFound, and nothing changes.
func (w *catalogWriter) clearQuarantines(c *wireCommand) (*applyResult, error) {
	b := w.tx.Bucket(bucketQuarantine)
	if c.Requeue {
		for _, key := range c.Keys {
			if len(quarantinedBy(w.tx, key)) == 0 {
				return &applyResult{err: fmt.Errorf("%w: segment %s is not quarantined", ErrNotFound, key)}, nil
			}
		}
	}
	res := &applyResult{}
	for _, key := range c.Keys {
		rows := [][]byte{pairKey(key, c.Node)}
		if c.Node == "" {
			rows = rows[:0]
			for _, node := range quarantinedBy(w.tx, key) {
				rows = append(rows, pairKey(key, node))
			}
		}
		for _, row := range rows {
			if b.Get(row) == nil {
				continue
			}
			if err := b.Delete(row); err != nil {
				return nil, err
			}
			res.changed = true
		}
		if c.Requeue {
			if err := w.requeue(key); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// requeue gives live segment key the next seq.
func (w *catalogWriter) requeue(key string) error {
	v := w.segments.Get([]byte(key))
	if v == nil || isExpired(v) {
		return nil
	}
	if err := w.deleteSeqOf(key); err != nil {
		return err
	}
	w.lastSeq++
	if err := w.tx.Bucket(bucketSeqOf).Put([]byte(key), u64(w.lastSeq)); err != nil {
		return err
	}
	return w.seq.Put(u64(w.lastSeq), []byte(key))
}

// quarantinedBy returns the nodes that quarantined segment key.
func quarantinedBy(tx *bolt.Tx, key string) []string {
	b := tx.Bucket(bucketQuarantine)
	if b == nil {
		return nil
	}
	var nodes []string
	prefix := pairKey(key, "")
	c := b.Cursor()
	for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		nodes = append(nodes, string(k[len(prefix):]))
	}
	return nodes
}

// QuarantineSegment records, through raft, that this node's indexer cannot
// index segment key and why; the indexer then goes on past it. It may be
// called on any node.
func (n *Node) QuarantineSegment(ctx context.Context, key, reason string) error {
	if len(reason) > maxReasonLen {
		reason = strings.ToValidUTF8(reason[:maxReasonLen], "")
	}
	err := n.apply(ctx, Command{Op: OpSegmentQuarantined, commandBody: commandBody{
		Keys: []string{key}, Reason: reason, By: n.cfg.NodeID, At: n.cfg.now().UTC()}})
	if err != nil {
		return fmt.Errorf("quarantine segment %s: %w", key, err)
	}
	return nil
}

// ClearQuarantine records that this node indexed segment key after all,
// removing its own quarantine record of it.
func (n *Node) ClearQuarantine(ctx context.Context, key string) error {
	err := n.apply(ctx, Command{Op: OpQuarantineCleared, commandBody: commandBody{
		Keys: []string{key}, Node: n.cfg.NodeID, By: n.cfg.NodeID, At: n.cfg.now().UTC()}})
	if err != nil {
		return fmt.Errorf("clear quarantine of %s: %w", key, err)
	}
	return nil
}

// RepairSegment clears every node's quarantine of segment key and gives it
// a new catalog seq, so that every node's indexer reads it again (and
// quarantines it again if it is still corrupt). by names who asked.
// ErrNotFound when no node quarantined it.
func (n *Node) RepairSegment(ctx context.Context, key, by string) error {
	if by == "" {
		by = n.cfg.NodeID
	}
	err := n.apply(ctx, Command{Op: OpQuarantineCleared, commandBody: commandBody{
		Keys: []string{key}, Requeue: true, By: by, At: n.cfg.now().UTC()}})
	if err != nil {
		return fmt.Errorf("repair segment %s: %w", key, err)
	}
	return nil
}

// IsQuarantined reports whether this node has segment key quarantined, in
// the local catalog.
func (n *Node) IsQuarantined(key string) bool {
	var found bool
	_ = n.fsm.view(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketQuarantine).Get(pairKey(key, n.cfg.NodeID)) != nil
		return nil
	})
	return found
}

// Quarantined returns every quarantine record, by segment key then node,
// from the local catalog.
func (n *Node) Quarantined() ([]Quarantine, error) {
	var out []Quarantine
	err := n.fsm.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQuarantine).ForEach(func(_, v []byte) error {
			var q Quarantine
			if err := json.Unmarshal(v, &q); err != nil {
				return err
			}
			out = append(out, q)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list quarantined segments: %w", err)
	}
	return out, nil
}
