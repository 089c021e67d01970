package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/holdfast/holdfast/archive"
)

// Version claims: one message version, one record, cluster-wide.
//
// Each node's ledger makes a resend to the same node idempotent, but a
// client that fails over resends to another node, which accepts the same
// version again; both nodes would then store it, with different
// received_at and sha256, and the index (one document per id and version)
// would show one of them only. So before an uploader PUTs a segment it
// claims every version inside through raft (OpVersionsClaimed, one command
// per maxClaimsPerCommand versions, all proposed together). The FSM keeps
// the first claim of each version deterministically; the uploader then
// reads the outcome from its local catalog (ClaimVersions returns once the
// command is applied here):
//
//   - won: the version is this segment's; upload it;
//   - lost to a segment already in the catalog: leave the record out of
//     the segment, and answer for it with the winner's hash and location;
//   - lost to a segment not yet in the catalog: keep the record and claim
//     again later. A claim whose segment has not reached the catalog
//     ClaimTakeover after its last claim command is taken over by the next
//     segment that claims the version, so that a node lost for good between
//     claiming and storing strands nobody; the segment taken from is marked
//     (bucketDuplicated) so that, should it still be stored, the catalog
//     says it repeats versions another segment holds.
//
// A claim is a 16-byte key, sha256(id 0x00 event)[:16] (a collision among
// 10^8 claims has odds below 10^-22), and a value of two uvarints, the
// claiming segment's handle and the version: about 50 bytes in a bbolt
// page, so 10M claims are ~0.5 GB of catalog file and snapshot. The table
// is therefore bounded by time, not by the archive: claims live in one
// bucket per UTC day (of the proposer's clock) and are kept ClaimWindow
// (default 3 days, the longest a node is expected to stay down with
// records in its spool); every claim command drops the days before that.
// At 10M versions a day that is ~1.5–2 GB on disk, held in the page cache,
// not the Go heap. Writes go to the current day's bucket only, so a batch
// dirties at most one page per claim of one day's tree; a lookup reads at
// most ClaimWindow/24h+1 buckets. A version sealed by a second node after
// its twin's claim has been dropped is not caught; the ledger still keeps
// every resend to one node idempotent forever.

// Defaults of the claim table.
const (
	// DefaultClaimWindow is how long the catalog remembers which segment
	// claimed a version.
	DefaultClaimWindow = 72 * time.Hour
	// DefaultClaimTakeover is how long a claim whose segment is not yet in
	// the catalog holds against another segment claiming the version.
	DefaultClaimTakeover = 10 * time.Minute
	// maxClaimsPerCommand caps the claims in one log entry (~40 bytes of
	// JSON each), keeping entries near the size of a segment command.
	maxClaimsPerCommand = 2048
	// claimKeyLen is the length of a claim key.
	claimKeyLen = 16
	// claimRobbed flags a claiming segment whose claims another segment
	// took over.
	claimRobbed = 1
	// claimUnchecked flags a claiming segment holding a version accepted
	// before the oldest day of claims kept: a twin claimed then is gone.
	claimUnchecked = 2
)

// The claim buckets, created on first use.
var (
	// bucketClaims holds one bucket per UTC day, named by the 8-byte day
	// number, holding a bucket per first byte of the claim key, of claim
	// key → uvarint(handle) uvarint(version). The shards keep the nodes a
	// batch inserts into small: bbolt splits a node only at commit, so
	// thousands of keys into one new bucket cost a memmove each.
	bucketClaims = []byte("claims")
	// bucketClaimSegments maps an 8-byte handle to the claiming segment:
	// 8 bytes of last claim time (unix ns), a flag byte, the segment key.
	bucketClaimSegments = []byte("claim_segments")
	// bucketClaimHandles maps a claiming segment's key to its handle.
	bucketClaimHandles = []byte("claim_handles")
	// bucketDuplicated lists segments catalogued after another segment
	// took over some of their claims: segment key → nil.
	bucketDuplicated = []byte("duplicated_segments")

	metaClaimHandle = []byte("last_claim_handle") // last handle assigned
	metaClaimDay    = []byte("claim_day")         // latest claim day seen
	// metaClaimKeptFrom is the first day of claims kept when days were
	// last dropped; 0 while none ever was.
	metaClaimKeptFrom = []byte("claim_kept_from")
)

// versionClaim is one claim of a command.
type versionClaim struct {
	Key     []byte
	Version int
}

// claimList is the claims of a command. The log carries them packed, each
// its 16-byte key then its version as a uvarint, in one base64 string:
// some 23 bytes a claim where JSON objects took 40 and most of the time
// Apply spent decoding.
type claimList []versionClaim

// MarshalJSON packs the claims.
func (l claimList) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(l)*(claimKeyLen+1))
	for _, c := range l {
		b = binary.AppendUvarint(append(b, c.Key...), uint64(c.Version))
	}
	return json.Marshal(b)
}

// UnmarshalJSON unpacks the claims.
func (l *claimList) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	out := make(claimList, 0, len(b)/(claimKeyLen+1))
	for len(b) > 0 {
		if len(b) < claimKeyLen+1 {
			return fmt.Errorf("claims: %d bytes left over", len(b))
		}
		v, n := binary.Uvarint(b[claimKeyLen:])
		if n <= 0 || v > 1<<31 {
			return fmt.Errorf("claims: bad version")
		}
		out = append(out, versionClaim{Key: b[:claimKeyLen:claimKeyLen], Version: int(v)})
		b = b[claimKeyLen+n:]
	}
	*l = out
	return nil
}

// claimKey is the key of one message version in the claim table.
func claimKey(id, event string) []byte {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(event))
	return h.Sum(nil)[:claimKeyLen]
}

func (cfg Config) claimWindow() time.Duration {
	if cfg.ClaimWindow > 0 {
		return cfg.ClaimWindow
	}
	return DefaultClaimWindow
}

func (cfg Config) claimTakeover() time.Duration {
	if cfg.ClaimTakeover > 0 {
		return cfg.ClaimTakeover
	}
	return DefaultClaimTakeover
}

// ClaimVersions claims the versions of segments about to be stored, as
// the package comment on claims describes, all in one raft round, and
// returns one outcome per claim, in order. It may be called on any node
// and is idempotent for a segment key: calling it again (after a crash, or
// while a claim is pending) returns what the catalog decided, and renews
// the segments' claims against takeover. Errors are raft's (ErrNoLeader,
// ErrTimeout, a cancelled ctx): retry.
func (n *Node) ClaimVersions(ctx context.Context, segs []archive.SegmentClaims) ([][]archive.ClaimOutcome, error) {
	at := n.cfg.now().UTC()
	days := int(n.cfg.claimWindow().Hours()/24) + 1
	wire := make([]claimList, len(segs))
	var cmds []Command
	for i, sc := range segs {
		if sc.Segment == "" || len(sc.Segment) > maxKeyLen {
			return nil, fmt.Errorf("claim versions: segment key of %d bytes: %w", len(sc.Segment), ErrInvalid)
		}
		wire[i] = make(claimList, len(sc.Versions))
		for j, c := range sc.Versions {
			wire[i][j] = versionClaim{Key: claimKey(c.ID, c.Event), Version: c.Version}
		}
		for chunk := range slices.Chunk(wire[i], maxClaimsPerCommand) {
			cmds = append(cmds, Command{Op: OpVersionsClaimed, commandBody: commandBody{
				At: at, ClaimSegment: sc.Segment, Claims: chunk, ClaimDays: days, TakeoverAfter: n.cfg.claimTakeover(),
				ClaimOldest: sc.Oldest}})
		}
	}
	if err := n.apply(ctx, cmds...); err != nil {
		return nil, fmt.Errorf("claim versions: %w", err)
	}
	out := make([][]archive.ClaimOutcome, len(segs))
	for i, sc := range segs {
		var err error
		if out[i], err = n.fsm.claimOutcomes(sc.Segment, at.UnixNano(), wire[i]); err != nil {
			return nil, fmt.Errorf("claim versions: %w", err)
		}
	}
	return out, nil
}

// DuplicatedSegments lists the catalogued segments that another segment
// took claims over from: they may repeat message versions stored
// elsewhere (see ClaimVersions).
func (n *Node) DuplicatedSegments() ([]string, error) {
	var keys []string
	err := n.fsm.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDuplicated)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list duplicated segments: %w", err)
	}
	return keys, nil
}

// checkClaimCommand checks a forwarded OpVersionsClaimed.
func checkClaimCommand(c *wireCommand) error {
	switch {
	case c.ClaimSegment == "" || len(c.ClaimSegment) > maxKeyLen:
		return fmt.Errorf("%w: %s command with a segment key of %d bytes", ErrInvalid, c.Op, len(c.ClaimSegment))
	case len(c.Claims) == 0 || len(c.Claims) > maxClaimsPerCommand:
		return fmt.Errorf("%w: %d claims in one command", ErrInvalid, len(c.Claims))
	case c.ClaimDays < 1 || c.At.IsZero():
		return fmt.Errorf("%w: %s command without a claim window or time", ErrInvalid, c.Op)
	}
	for i, cl := range c.Claims {
		if len(cl.Key) != claimKeyLen || cl.Version < 0 {
			return fmt.Errorf("%w: claim %d malformed", ErrInvalid, i)
		}
	}
	return nil
}

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
