package cluster

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// The claim table in the catalog: how the FSM applies OpVersionsClaimed
// and answers what it decided (see claims.go).

// claimDay is the UTC day number of t, never below 0.
func claimDay(t time.Time) uint64 {
	if d := t.Unix() / 86400; d > 0 {
		return uint64(d)
	}
	return 0
}

// claimDay is one day's bucket of claims and its shards, opened as
// lookups reach them.
type claimDayBucket struct {
	b      *bolt.Bucket
	shards [256]*bolt.Bucket
	opened [256]bool
}

// shard returns the day's shard for key, nil when it has none (yet).
func (d *claimDayBucket) shard(key []byte) *bolt.Bucket {
	if !d.opened[key[0]] {
		d.shards[key[0]], d.opened[key[0]] = d.b.Bucket(key[:1]), true
	}
	return d.shards[key[0]]
}

// claimTables is the claim buckets of one transaction.
type claimTables struct {
	days     []*claimDayBucket // newest first
	segs     *bolt.Bucket
	handles  *bolt.Bucket
	segments *bolt.Bucket // the catalog's bucketSegments
}

// find returns the handle and version of the claim with key, 0 when none.
func (t *claimTables) find(key []byte) (handle uint64, version int, in *bolt.Bucket) {
	for _, d := range t.days {
		b := d.shard(key)
		if b == nil {
			continue
		}
		if v := b.Get(key); v != nil {
			h, n := binary.Uvarint(v)
			ver, _ := binary.Uvarint(v[n:])
			return h, int(ver), b
		}
	}
	return 0, 0, nil
}

// segment decodes a handle's record: the time of its last claim command,
// flags, how many versions that command round found held by other
// segments, and the segment key.
func (t *claimTables) segment(handle uint64) (at int64, flags byte, lost uint32, key []byte) {
	v := t.segs.Get(u64(handle))
	if len(v) < 13 {
		return 0, 0, 0, nil
	}
	return int64(binary.BigEndian.Uint64(v)), v[8], binary.BigEndian.Uint32(v[9:]), v[13:]
}

func encodeClaimSegment(at int64, flags byte, lost uint32, key []byte) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 13+len(key)), uint64(at))
	b = binary.BigEndian.AppendUint32(append(b, flags), lost)
	return append(b, key...)
}

func encodeClaim(handle uint64, version int) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(make([]byte, 0, 8), handle), uint64(version))
}

// claimVersions applies an OpVersionsClaimed: it drops the days of claims
// past the window, renews (or creates) the claiming segment's handle, and
// records each claim not already held by another segment, taking over the
// claims of a segment that has neither reached the catalog nor claimed
// again for TakeoverAfter.
func (w *catalogWriter) claimVersions(c *wireCommand) (*applyResult, error) {
	if err := checkClaimCommand(c); err != nil {
		return &applyResult{err: err}, nil
	}
	root, err := w.tx.CreateBucketIfNotExists(bucketClaims)
	if err != nil {
		return nil, err
	}
	t := claimTables{segments: w.segments}
	if t.segs, err = w.tx.CreateBucketIfNotExists(bucketClaimSegments); err != nil {
		return nil, err
	}
	if t.handles, err = w.tx.CreateBucketIfNotExists(bucketClaimHandles); err != nil {
		return nil, err
	}
	day := max(claimDay(c.At), getU64(w.meta.Get(metaClaimDay)))
	if err := w.meta.Put(metaClaimDay, u64(day)); err != nil {
		return nil, err
	}
	if from, err := pruneClaimDays(root, day, uint64(c.ClaimDays)); err != nil {
		return nil, err
	} else if from > 0 {
		if err := w.meta.Put(metaClaimKeptFrom, u64(from)); err != nil {
			return nil, err
		}
	}
	if _, err := root.CreateBucketIfNotExists(u64(day)); err != nil {
		return nil, err
	}
	t.days = claimDays(root)
	today := t.days[0] // day's, the newest
	at := c.At.UnixNano()
	seg := []byte(c.ClaimSegment)
	handle := getU64(t.handles.Get(seg))
	if handle == 0 {
		handle = getU64(w.meta.Get(metaClaimHandle)) + 1
		if err := w.meta.Put(metaClaimHandle, u64(handle)); err != nil {
			return nil, err
		}
		if err := t.handles.Put(seg, u64(handle)); err != nil {
			return nil, err
		}
	}
	prevAt, flags, lost, _ := t.segment(handle)
	if prevAt != at {
		lost = 0 // a new round of claims: count afresh
	}
	// A twin accepted up to a day before (a client's retries are minutes
	// apart) was claimed no earlier than that day.
	if from := getU64(w.meta.Get(metaClaimKeptFrom)); from > 0 && !c.ClaimOldest.IsZero() && claimDay(c.ClaimOldest) <= from {
		flags |= claimUnchecked
	}
	robbed := map[uint64]bool{}
	// In key order, for the same reason as the shards.
	claims := slices.Clone(c.Claims)
	slices.SortFunc(claims, func(a, b versionClaim) int { return bytes.Compare(a.Key, b.Key) })
	for _, cl := range claims {
		owner, _, in := t.find(cl.Key)
		switch {
		case owner == 0:
			if in = today.shard(cl.Key); in == nil {
				if in, err = today.b.CreateBucket(cl.Key[:1]); err != nil {
					return nil, err
				}
				today.shards[cl.Key[0]] = in
			}
		case owner == handle:
			continue
		default:
			ownerAt, _, _, ownerKey := t.segment(owner)
			if ownerKey == nil || t.segments.Get(ownerKey) != nil || at-ownerAt < int64(c.TakeoverAfter) {
				lost++
				continue // held: stored, or still expected
			}
			robbed[owner] = true
		}
		if err := in.Put(cl.Key, encodeClaim(handle, cl.Version)); err != nil {
			return nil, err
		}
	}
	if err := t.segs.Put(u64(handle), encodeClaimSegment(at, flags, lost, seg)); err != nil {
		return nil, err
	}
	for owner := range robbed {
		ownerAt, flags, ownerLost, key := t.segment(owner)
		if err := t.segs.Put(u64(owner), encodeClaimSegment(ownerAt, flags|claimRobbed, ownerLost, slices.Clone(key))); err != nil {
			return nil, err
		}
	}
	return &applyResult{}, nil
}

// pruneClaimDays drops the day buckets older than keep days before day.
// When it dropped any it returns the first day kept, else 0.
func pruneClaimDays(root *bolt.Bucket, day, keep uint64) (uint64, error) {
	if day < keep {
		return 0, nil
	}
	horizon := day - keep + 1
	var old [][]byte
	c := root.Cursor()
	for k, _ := c.First(); k != nil && getU64(k) < horizon; k, _ = c.Next() {
		old = append(old, slices.Clone(k))
	}
	for _, k := range old {
		if err := root.DeleteBucket(k); err != nil {
			return 0, fmt.Errorf("drop claims of day %d: %w", getU64(k), err)
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	return horizon, nil
}

// claimDays lists the day buckets under root, newest first.
func claimDays(root *bolt.Bucket) []*claimDayBucket {
	var days []*claimDayBucket
	c := root.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if v == nil {
			days = append(days, &claimDayBucket{b: root.Bucket(k)})
		}
	}
	return days
}

// markIfDuplicated records a newly catalogued segment in bucketDuplicated
// when another segment took over some of its claims, or when it holds a
// version older than the claims kept. It reports whether it did.
func (w *catalogWriter) markIfDuplicated(key []byte) (bool, error) {
	handles, segs := w.tx.Bucket(bucketClaimHandles), w.tx.Bucket(bucketClaimSegments)
	if handles == nil || segs == nil {
		return false, nil
	}
	h := handles.Get(key)
	if h == nil {
		return false, nil
	}
	if v := segs.Get(h); len(v) < 13 || v[8]&(claimRobbed|claimUnchecked) == 0 {
		return false, nil
	}
	b, err := w.tx.CreateBucketIfNotExists(bucketDuplicated)
	if err != nil {
		return false, err
	}
	return true, b.Put(key, nil)
}

// claimOutcomes reads, from the local catalog, what it decided about the
// claims of segment.
//
// When the claim round of time at found every version free or already
// this segment's (the common case) it answers from the segment's handle
// alone, without looking each claim up again.
func (f *fsm) claimOutcomes(segment string, at int64, claims []versionClaim) ([]archive.ClaimOutcome, error) {
	out := make([]archive.ClaimOutcome, len(claims))
	err := f.view(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketClaims)
		t := claimTables{segs: tx.Bucket(bucketClaimSegments), handles: tx.Bucket(bucketClaimHandles), segments: tx.Bucket(bucketSegments)}
		if root == nil || t.segs == nil || t.handles == nil {
			return fmt.Errorf("no claim table in the catalog")
		}
		mine := getU64(t.handles.Get([]byte(segment)))
		if roundAt, _, lost, _ := t.segment(mine); roundAt == at && lost == 0 {
			for i := range out {
				out[i].Won = true
			}
			return nil
		}
		t.days = claimDays(root)
		winners := map[uint64]*archive.Segment{}
		for i, cl := range claims {
			owner, version, _ := t.find(cl.Key)
			if owner == 0 || owner == mine {
				out[i] = archive.ClaimOutcome{Won: true}
				continue
			}
			w, ok := winners[owner]
			if !ok {
				_, _, _, key := t.segment(owner)
				if v := t.segments.Get(key); key != nil && v != nil {
					w = new(archive.Segment)
					if err := json.Unmarshal(v, w); err != nil {
						return fmt.Errorf("decode segment %s: %w", key, err)
					}
				}
				winners[owner] = w
			}
			if w == nil {
				out[i] = archive.ClaimOutcome{Pending: true}
				continue
			}
			out[i] = archive.ClaimOutcome{Winner: *w, Version: version}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read claims of %s: %w", segment, err)
	}
	return out, nil
}
