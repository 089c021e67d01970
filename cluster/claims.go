package cluster

import (
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
// claiming segment's handle and the version: measured, 200,000 claims take
// 21 MB of catalog (106 bytes a version: bbolt leaves randomly filled
// pages half empty), so 10M claims are ~1.1 GB of fsm.db and of every
// snapshot. The table is therefore bounded by time, not by the archive:
// claims live in one bucket per UTC day (of the proposer's clock) and are
// kept ClaimWindow (default 3 days, the longest a node is expected to stay
// down with records in its spool); every claim command drops the days
// before that. At 10M versions a day that is ~3–4 GB on disk, in the page
// cache rather than the Go heap (a segment's handle, ~100 bytes, is kept
// for good, like the segment). Writes go to the current day's bucket
// only, sharded by the key's first byte and sorted within a command, and
// a lookup reads at most ClaimWindow/24h+1 buckets. The cost that grows is
// write amplification: once a day's table has more pages than a batch has
// claims, each claim dirties about one 4 KiB page per commit, on every
// node (200,000 claims in batches of 20,000 took 2.6 s on one node, three
// times the first batch's rate); beyond some 10M versions a day the claim
// table wants an LSM rather than the catalog's B+tree. A version sealed by
// a second node after its twin's claim has been dropped is not caught (its
// segment is listed as duplicated, see claimUnchecked); the ledger still
// keeps every resend to one node idempotent forever.

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
