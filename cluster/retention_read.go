package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// Reads of the retention part of the local catalog. They see what this
// node has applied: on a follower, possibly a moment behind the leader.

// cachedPolicies is the policy record as read at generation gen.
type cachedPolicies struct {
	gen uint64
	rec PolicyRecord
	ok  bool
}

// Policies returns the replicated policy set; ok is false when none was
// ever set. It is read on every ingest request, so the decoded record is
// cached until the next policy change is applied here.
func (n *Node) Policies() (rec PolicyRecord, ok bool, err error) {
	f := n.fsm
	gen := f.policiesGen.Load()
	if c := f.policies.Load(); c != nil && c.gen == gen {
		return c.rec, c.ok, nil
	}
	err = f.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPolicies).Get(policiesKey)
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return rec, false, fmt.Errorf("read policies: %w", err)
	}
	// Tagged with the generation seen before the read: a change applied
	// meanwhile moved the generation on, so this entry is never served.
	f.policies.Store(&cachedPolicies{gen: gen, rec: rec, ok: ok})
	return rec, ok, nil
}

// Holds returns every hold, oldest first.
func (n *Node) Holds() ([]archive.Hold, error) {
	var out []archive.Hold
	err := n.fsm.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHolds).ForEach(func(_, v []byte) error {
			var h archive.Hold
			if err := json.Unmarshal(v, &h); err != nil {
				return err
			}
			out = append(out, h)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list holds: %w", err)
	}
	slices.SortFunc(out, func(a, b archive.Hold) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Hold returns one hold; ErrNotFound when there is none with id.
func (n *Node) Hold(id string) (archive.Hold, error) {
	var h archive.Hold
	err := n.fsm.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketHolds).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("hold %q: %w", id, ErrNotFound)
		}
		return json.Unmarshal(v, &h)
	})
	return h, err
}

// HoldSegment is one segment a hold covers.
type HoldSegment struct {
	Key      string `json:"key"`
	Messages int    `json:"messages"`
}

// HoldSegments returns up to limit segments hold id still covers, in key
// order after the key after.
func (n *Node) HoldSegments(id, after string, limit int) ([]HoldSegment, error) {
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	var out []HoldSegment
	err := n.fsm.view(func(tx *bolt.Tx) error {
		prefix := pairKey(id, "")
		c := tx.Bucket(bucketHoldSegments).Cursor()
		k, v := c.Seek(pairKey(id, after))
		if after != "" && k != nil && bytes.Equal(k, pairKey(id, after)) {
			k, v = c.Next()
		}
		for ; bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			out = append(out, HoldSegment{Key: string(k[len(prefix):]), Messages: int(getU64(v))})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list segments of hold %s: %w", id, err)
	}
	return out, nil
}

// HeldBy returns the ids of the holds that cover segment key (active or
// still releasing it).
func (n *Node) HeldBy(key string) ([]string, error) {
	var ids []string
	err := n.fsm.view(func(tx *bolt.Tx) error {
		ids = heldBy(tx, key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("holds of segment %s: %w", key, err)
	}
	return ids, nil
}

func heldBy(tx *bolt.Tx, key string) []string {
	var ids []string
	prefix := pairKey(key, "")
	c := tx.Bucket(bucketCoverage).Cursor()
	for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	return ids
}

// HeldSegments returns every segment key that some hold covers.
func (n *Node) HeldSegments() ([]string, error) {
	var keys []string
	err := n.fsm.view(func(tx *bolt.Tx) error {
		var last []byte
		return tx.Bucket(bucketCoverage).ForEach(func(k, _ []byte) error {
			i := bytes.IndexByte(k, 0)
			if i < 0 || bytes.Equal(k[:i], last) {
				return nil
			}
			last = slices.Clone(k[:i])
			keys = append(keys, string(last))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list held segments: %w", err)
	}
	return keys, nil
}

// Sweeps returns up to limit sweeps, newest first.
func (n *Node) Sweeps(limit int) ([]Sweep, error) {
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	var out []Sweep
	err := n.fsm.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSweeps).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var s Sweep
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list sweeps: %w", err)
	}
	return out, nil
}

// Sweep returns one sweep's report; ErrNotFound when there is none.
func (n *Node) Sweep(id string) (Sweep, error) {
	var s Sweep
	err := n.fsm.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSweeps).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("sweep %q: %w", id, ErrNotFound)
		}
		return json.Unmarshal(v, &s)
	})
	return s, err
}

// runningSweep is the id of the sweep under way, or "".
func (f *fsm) runningSweep() (string, error) {
	var id string
	err := f.view(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketMeta).Get(metaRunningSweep))
		return nil
	})
	return id, err
}

// sweepCandidate is an expired segment as a sweep sees it.
type sweepCandidate struct {
	seg    archive.Segment
	done   bool     // this sweep already recorded a result for it
	holds  []string // holds covering it
	cursor []byte   // its retain key, to page on from
	// quarantine names the nodes that quarantined it.
	quarantine []string
}

// expiredAfter returns up to limit segments retained until before cutoff
// whose retain key sorts after the cursor, earliest first, each with what
// sweep id already did to it and the holds that cover it.
func (f *fsm) expiredAfter(sweepID string, cutoff time.Time, cursor []byte, limit int) ([]sweepCandidate, error) {
	end := retainKey(cutoff, "")
	var out []sweepCandidate
	err := f.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRetain).Cursor()
		segments, done := tx.Bucket(bucketSegments), tx.Bucket(bucketSweepSegments)
		k, _ := c.First()
		if cursor != nil {
			k, _ = c.Seek(cursor)
			if k != nil && bytes.Equal(k, cursor) {
				k, _ = c.Next()
			}
		}
		for ; k != nil && len(out) < limit && bytes.Compare(k[:8], end) < 0; k, _ = c.Next() {
			key := string(k[8:])
			sc := sweepCandidate{cursor: slices.Clone(k)}
			if v := segments.Get(k[8:]); v != nil {
				if err := json.Unmarshal(v, &sc.seg); err != nil {
					return fmt.Errorf("decode segment %s: %w", key, err)
				}
			}
			sc.seg.Key = key
			sc.done = done.Get(pairKey(sweepID, key)) != nil
			sc.holds = heldBy(tx, key)
			sc.quarantine = quarantinedBy(tx, key)
			out = append(out, sc)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list expired segments: %w", err)
	}
	return out, nil
}
