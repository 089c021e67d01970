package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// Entry is one catalogued segment with its catalog sequence number: an
// archive.CatalogEntry, so that followers such as the index consume the
// catalog without importing this package.
type Entry = archive.CatalogEntry

// DefaultPageLimit is the page size SegmentsAfter uses for a limit <= 0.
const DefaultPageLimit = 1000

// view runs fn in a read transaction on the current catalog.
func (f *fsm) view(fn func(tx *bolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	return f.db.View(fn)
}

// segment looks up one segment by key.
func (f *fsm) segment(key string) (archive.Segment, bool, error) {
	var s archive.Segment
	var found bool
	err := f.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSegments).Get([]byte(key))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &s)
	})
	if err != nil {
		return archive.Segment{}, false, fmt.Errorf("read segment %s: %w", key, err)
	}
	return s, found, nil
}

// count returns the number of recorded segments.
func (f *fsm) count() (int, error) {
	var n uint64
	err := f.view(func(tx *bolt.Tx) error {
		n = getU64(tx.Bucket(bucketMeta).Get(metaCount))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count segments: %w", err)
	}
	return int(n), nil
}

// after returns up to limit entries with Seq > seq, in Seq order, from one
// consistent read transaction.
func (f *fsm) after(seq uint64, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	var out []Entry
	err := f.view(func(tx *bolt.Tx) error {
		segments := tx.Bucket(bucketSegments)
		c := tx.Bucket(bucketSeq).Cursor()
		for k, key := c.Seek(u64(seq + 1)); k != nil && len(out) < limit; k, key = c.Next() {
			v := segments.Get(key)
			if v == nil {
				return fmt.Errorf("seq %d names segment %s, which is not recorded", getU64(k), key)
			}
			e := Entry{Seq: getU64(k)}
			if err := json.Unmarshal(v, &e.Segment); err != nil {
				return fmt.Errorf("decode segment %s: %w", key, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list segments after %d: %w", seq, err)
	}
	return out, nil
}

// retainedUntil returns up to limit keys of segments whose retain_until is
// before t, earliest first: the candidates of a retention sweep.
func (f *fsm) retainedUntil(t time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	end := retainKey(t, "")
	var keys []string
	err := f.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRetain).Cursor()
		for k, _ := c.First(); k != nil && len(keys) < limit && string(k[:8]) < string(end); k, _ = c.Next() {
			keys = append(keys, string(k[8:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list segments retained before %s: %w", t.Format(time.RFC3339), err)
	}
	return keys, nil
}

// SealSegments records sealed segments in the catalog: one raft command per
// maxSegmentsPerCommand segments, all proposed before any is awaited so that
// raft writes them together. It may be called on any node: a follower
// forwards the commands to the leader over the cluster RPC. It returns once
// every command is committed and applied here, on the calling node, so that
// a read here right after sees the segments.
//
// It is idempotent by Key: a segment already recorded with the same sha256
// is left as it is and keeps its Seq. A key recorded with a different
// sha256 fails its command with ErrConflict and nothing of that command is
// applied; the other commands of a large batch are independent. When the
// leader changes mid-call the call is retried once against the new one.
// Other errors (ErrNoLeader when no leader is known or reachable,
// ErrTimeout, a cancelled ctx) leave the outcome unknown: retry with the
// same segments.
func (n *Node) SealSegments(ctx context.Context, segs []archive.Segment) error {
	if len(segs) == 0 {
		return nil
	}
	for i := range segs {
		if err := checkSegment(&segs[i]); err != nil {
			return fmt.Errorf("seal segments: %w", err)
		}
	}
	var cmds []Command
	for chunk := range slices.Chunk(segs, maxSegmentsPerCommand) {
		cmds = append(cmds, Command{Op: OpSegmentSealed, Segments: chunk})
	}
	if err := n.apply(ctx, cmds...); err != nil {
		return fmt.Errorf("seal segments: %w", err)
	}
	return nil
}

// Segment returns the recorded segment with key, from the local catalog.
func (n *Node) Segment(key string) (archive.Segment, bool, error) {
	return n.fsm.segment(key)
}

// SegmentCount returns how many segments the local catalog records.
func (n *Node) SegmentCount() (int, error) {
	return n.fsm.count()
}

// SegmentsAfter returns up to limit entries with Seq > seq in Seq order
// (DefaultPageLimit when limit <= 0), from the local catalog. A follower
// starts at 0 and passes the last Seq it has seen.
func (n *Node) SegmentsAfter(seq uint64, limit int) ([]Entry, error) {
	return n.fsm.after(seq, limit)
}

// LastSeq returns the Seq of the last segment recorded locally, 0 if none.
func (n *Node) LastSeq() uint64 {
	return n.fsm.lastSeq.Load()
}

// Changed returns a channel that is closed the next time Apply (or a
// snapshot restore) changes the local catalog; call it again for the
// following change. To miss nothing, take the channel before reading:
//
//	ch := n.Changed()
//	entries, err := n.SegmentsAfter(last, 0)
//	if len(entries) == 0 { <-ch }
//
// Close closes it for good; readers then get ErrClosed.
func (n *Node) Changed() <-chan struct{} {
	return n.fsm.changes()
}
