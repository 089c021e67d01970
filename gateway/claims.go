package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
)

// VersionClaimer is what the uploader needs from the cluster to store each
// message version once cluster-wide: before it PUTs a segment it claims
// the versions inside, and the catalog keeps the first claim of each.
// cluster.Node satisfies it. A Catalog that does not implement it (tests'
// fakes) stores what each node accepted, as before.
//
// One message version, one record: a client that fails over after an
// unknown outcome sends the same version to a second node, which accepts
// it (its own ledger has never seen it). Each node then seals it in a
// segment. Whichever segment claims the version first keeps it; the other
// node leaves its copy out of its segment before the PUT, records in its
// ledger that the version is stored in the winner's segment with the
// winner's hash, and so answers for it — `?ack=stored`, GET, a resend —
// with the winner's id, version and sha256. Nothing is lost: a record is
// only left out once the winner's segment is in the catalog, that is
// stored and verified; while the winner is claimed but not yet stored the
// uploader waits and claims again (the cluster takes the claim over if its
// segment never arrives, and marks that segment should it still arrive).
type VersionClaimer interface {
	ClaimVersions(ctx context.Context, segs []archive.SegmentClaims) ([][]archive.ClaimOutcome, error)
}

// Bounds of the wait for a version claimed by a segment not yet stored.
const (
	minClaimWait = 500 * time.Millisecond
	maxClaimWait = 30 * time.Second
)

// duplicate is a record left out of its segment: the version is stored in
// winner as version.
type duplicate struct {
	rec     *pendingRecord
	winner  archive.Segment
	version int
}

// claimRun is the claim of one batch's versions, made while the batch's
// attachments are stored and its segments encoded, so that the raft round
// adds no time unless a version is lost (and then only that segment is
// encoded again). Its goroutine is owned by the upload of the batch, which
// waits for it before returning.
type claimRun struct {
	done chan struct{}
	keys []string
	out  [][]archive.ClaimOutcome
	err  error
}

// startClaim claims the versions of every group of a batch, groups[i] to
// be sealed under keys[i], in one round. With no claimer it claims
// nothing.
func (u *uploader) startClaim(ctx context.Context, keys []string, groups []*group) *claimRun {
	c := &claimRun{done: make(chan struct{}), keys: keys}
	if u.claimer == nil || len(groups) == 0 {
		close(c.done)
		return c
	}
	segs := make([]archive.SegmentClaims, len(groups))
	for i, g := range groups {
		segs[i] = archive.SegmentClaims{Segment: keys[i], Versions: make([]archive.VersionClaim, len(g.recs))}
		for j, r := range g.recs {
			segs[i].Versions[j] = archive.VersionClaim{ID: r.head.ID, Event: r.head.Event, Version: r.head.Version}
			if t, ok := receivedAt(r.body); ok && (segs[i].Oldest.IsZero() || t.Before(segs[i].Oldest)) {
				segs[i].Oldest = t
			}
		}
	}
	go func() {
		defer close(c.done)
		c.out, c.err = u.claimAll(ctx, keys[0], segs)
	}()
	return c
}

// wait waits for the claim to be decided.
func (c *claimRun) wait() { <-c.done }

// filter waits for the claim, then takes out of each group's recs the
// records another stored segment already holds. It returns them, and which
// groups lost records.
func (c *claimRun) filter(groups []*group) ([]duplicate, []bool, error) {
	c.wait()
	changed := make([]bool, len(groups))
	if c.err != nil || c.out == nil {
		return nil, changed, c.err
	}
	var dups []duplicate
	for i, g := range groups {
		kept := g.recs[:0]
		for j, r := range g.recs {
			if o := c.out[i][j]; o.Won {
				kept = append(kept, r)
			} else {
				dups = append(dups, duplicate{rec: r, winner: o.Winner, version: o.Version})
			}
		}
		changed[i] = len(kept) < len(g.recs)
		g.recs = kept
	}
	return dups, changed, nil
}

// claimAll claims segs until no version is pending: a version another
// segment claimed first is only left out once that segment is stored.
func (u *uploader) claimAll(ctx context.Context, first string, segs []archive.SegmentClaims) ([][]archive.ClaimOutcome, error) {
	defer u.metrics.claimsPending.set(0)
	for wait := minClaimWait; ; wait = min(2*wait, maxClaimWait) {
		var out [][]archive.ClaimOutcome
		if err := u.retry(ctx, "claim versions", first, func() error {
			var err error
			out, err = u.claimer.ClaimVersions(ctx, segs)
			return err
		}); err != nil {
			return nil, err
		}
		pending, lost := 0, 0
		for i := range segs {
			if len(out) != len(segs) || len(out[i]) != len(segs[i].Versions) {
				return nil, fmt.Errorf("claim versions of %s: outcomes do not match the claims", segs[i].Segment)
			}
			for _, o := range out[i] {
				switch {
				case o.Pending:
					pending++
				case !o.Won:
					lost++
				}
			}
		}
		u.metrics.claimsPending.set(int64(pending))
		if pending == 0 {
			if lost > 0 {
				u.log.WithFields(logrus.Fields{"segment": first, "versions": lost}).
					Info("versions already stored by another node's segment: left out of this batch's")
			}
			return out, nil
		}
		u.log.WithFields(logrus.Fields{"segment": first, "versions": pending, "retry_in": wait.String()}).
			Warn("versions of this batch are claimed by another node's segment not yet stored; waiting for it before storing or leaving them out")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("claim versions of %s: %w", first, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// recordDuplicates points the ledger entries of records left out of this
// node's segments at the versions the winners store: their segment, frame
// and hash, read from each winner's manifest.
func (u *uploader) recordDuplicates(ctx context.Context, dups []duplicate) error {
	if len(dups) == 0 {
		return nil
	}
	manifests := map[string]map[string]archive.ManifestEntry{}
	for _, d := range dups {
		entries, ok := manifests[d.winner.Key]
		if !ok {
			var m archive.Manifest
			if err := u.retry(ctx, "read manifest", d.winner.Key, func() error {
				var err error
				m, err = u.readManifest(ctx, d.winner)
				return err
			}); err != nil {
				return err
			}
			entries = make(map[string]archive.ManifestEntry, len(m.Records))
			for _, e := range m.Records {
				entries[fmt.Sprintf("%s/%d", e.ID, e.Version)] = e
			}
			manifests[d.winner.Key] = entries
		}
		e, ok := entries[fmt.Sprintf("%s/%d", d.rec.head.ID, d.version)]
		if !ok {
			return fmt.Errorf("segment %s won the claim of %s v%d but its manifest does not list it", d.winner.Key, d.rec.head.ID, d.version)
		}
		if err := u.ledger.storedElsewhere(d.rec, d.winner.Key, e); err != nil {
			return err
		}
	}
	u.metrics.messagesElsewhere.add(int64(len(dups)))
	return nil
}

// readManifest reads a stored segment's manifest with one ranged GET.
func (u *uploader) readManifest(ctx context.Context, seg archive.Segment) (archive.Manifest, error) {
	frame, err := u.store.GetRange(ctx, seg.Key, seg.ManifestOffset, seg.ManifestLength)
	if err != nil {
		return archive.Manifest{}, fmt.Errorf("read manifest of %s: %w", seg.Key, err)
	}
	m, err := archive.ParseManifest(frame)
	if err != nil {
		return archive.Manifest{}, fmt.Errorf("read manifest of %s: %w", seg.Key, err)
	}
	return m, nil
}

// storedElsewhere records that the version spooled as r is stored by
// another segment as e: the ledger answers for it with that segment, frame
// and hash from now on (replay keeps an entry that names its segment).
// When the winner stored it under another version (an edit sent without
// one, numbered differently by each node), the event now maps there.
func (l *ledger) storedElsewhere(r *pendingRecord, segment string, e archive.ManifestEntry) error {
	h := &r.head
	action, _, _ := strings.Cut(h.Event, "/")
	version := e.Version
	if version != h.Version {
		// Another event of this node may hold that number already (each
		// node numbers unversioned edits itself): keep it, and answer for
		// this one under its own number.
		if other, err := l.version(h.ID, version); err == nil && other.Event != h.Event {
			version = h.Version
		}
	}
	b := batchWriter{b: l.db.NewBatch()}
	if version != h.Version {
		_ = b.b.Delete(versionKey(h.ID, h.Version), nil)
		if !namesVersion(h.Event) {
			b.key = appendEventKey(b.key[:0], h.ID, h.Event)
			b.val = binary.BigEndian.AppendUint32(b.val[:0], uint32(e.Version))
			b.set()
		}
	}
	b.putEntry(h.ID, &ledgerEntry{Version: version, Action: action, Event: h.Event, SHA256: e.SHA256,
		RetainUntil: h.RetainUntil, Segment: segment, Entry: e})
	if err := b.b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("record %s v%d as stored in %s: %w", h.ID, e.Version, segment, err)
	}
	return nil
}

// adoptStored gives each record of an ?ack=stored request the version and
// hash the ledger says are stored: another node's, when its segment won
// the version's claim.
func (l *ledger) adoptStored(recs []*record) {
	for _, r := range recs {
		m := &r.msg
		if !namesVersion(r.event) {
			raw, found, err := l.get(eventKey(m.ID, r.event))
			if err != nil || !found {
				continue
			}
			m.Version = int(binary.BigEndian.Uint32(raw))
		}
		if e, err := l.version(m.ID, m.Version); err == nil && e.SHA256 != "" {
			m.SHA256 = e.SHA256
		}
	}
}

// receivedAtKey opens the received_at field of a spooled message's JSON.
// Quotes inside string values are escaped, and no nested object has the
// field, so its first occurrence is the message's.
var receivedAtKey = []byte(`"received_at":"`)

// receivedAt reads when a spooled message was accepted without decoding
// the whole record.
func receivedAt(body []byte) (time.Time, bool) {
	i := bytes.Index(body, receivedAtKey)
	if i < 0 {
		return time.Time{}, false
	}
	rest := body[i+len(receivedAtKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	return t, err == nil
}
