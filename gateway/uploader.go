package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/gateway/spool"
)

// Catalog is what the gateway needs from the cluster: recording sealed
// segments. cluster.Node satisfies it.
type Catalog interface {
	SealSegments(ctx context.Context, segs []archive.Segment) error
}

// Defaults of the uploader.
const (
	// DefaultBatchRecords bounds one read from the spool.
	DefaultBatchRecords = 8192
	// minBackoff and maxBackoff bound the retry delay of a failing upload.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// uploader turns spooled records into WORM segments. It works through the
// spool in LSN order, one batch [from, to) at a time:
//
//  1. persist an intent for [from, to), so that a crash re-uploads exactly
//     this range under the same deterministic keys;
//  2. group the records by tenant and retention day; claim each group's
//     versions in the cluster catalog and leave out those another node's
//     stored segment holds (claims.go); encode a segment per group; store
//     attachments;
//  3. PUT each segment under COMPLIANCE retention, re-read it and compare
//     its hash (after a crash, an object already there and intact is kept);
//  4. record the segments in the catalog, record where each version is in
//     the ledger and sync it, then wake ?ack=stored waiters;
//  5. commit the spool watermark to `to`, which frees the spool files.
type uploader struct {
	// holds returns the legal holds in force; nil when there are none
	// to apply (no cluster).
	holds    func() ([]archive.Hold, error)
	floor    time.Duration // the least retention an object is written with
	node     string
	maxBytes int64
	maxAge   time.Duration
	spool    *spool.Spool
	store    archive.ObjectStore
	catalog  Catalog
	ledger   *ledger
	codec    *archive.Codec
	metrics  *metrics
	log      *logrus.Entry

	flushC chan struct{}

	// claimer, when set, claims each segment's versions cluster-wide
	// before its PUT (claims.go).
	claimer VersionClaimer

	mu      sync.Mutex
	stored  uint64        // every LSN < stored is in storage
	storedC chan struct{} // closed and replaced when stored moves
	// health is the last storage error, nil once a call succeeds.
	health storageHealth
}

func (u *uploader) init() {
	u.flushC = make(chan struct{}, 1)
	u.storedC = make(chan struct{})
	u.stored = u.spool.Watermark()
	u.health.log = u.log
	if u.metrics != nil {
		u.health.up = &u.metrics.storageUp
	}
}

// flush asks the uploader to seal what it holds now instead of waiting for
// size or age.
func (u *uploader) flush() {
	select {
	case u.flushC <- struct{}{}:
	default:
	}
}

// waitStored blocks until the record at lsn is in storage.
func (u *uploader) waitStored(ctx context.Context, lsn uint64) error {
	u.flush()
	for {
		u.mu.Lock()
		done, c := u.stored > lsn, u.storedC
		u.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (u *uploader) setStored(next uint64) {
	u.mu.Lock()
	if next > u.stored {
		u.stored = next
		close(u.storedC)
		u.storedC = make(chan struct{})
	}
	u.mu.Unlock()
}

func (u *uploader) setStoreErr(err error) { u.health.set(err) }

// StorageErr is the last storage error, or nil when the last attempt worked.
func (u *uploader) StorageErr() error {
	_, err := u.health.state()
	return err
}

// run works through the spool until ctx is done.
func (u *uploader) run(ctx context.Context) {
	if in, ok := u.spool.Intent(); ok {
		u.log.WithFields(logrus.Fields{"from": in.From, "to": in.To}).Info("resuming interrupted upload")
		recs, err := u.readRange(ctx, in.From, in.To)
		if err == nil {
			err = u.process(ctx, in.From, in.To, recs, true)
		}
		if err != nil {
			u.log.WithError(err).Error("resume upload stopped")
			return
		}
	}
	for ctx.Err() == nil {
		from := u.spool.Watermark()
		recs, to, err := u.collect(ctx, from)
		if err != nil {
			if ctx.Err() == nil {
				u.log.WithError(err).Error("read spool")
			}
			return
		}
		if len(recs) == 0 {
			continue
		}
		if err := u.spool.SetIntent(spool.Intent{From: from, To: to}); err != nil {
			u.log.WithError(err).Error("persist upload intent")
			return
		}
		if err := u.process(ctx, from, to, recs, false); err != nil {
			if ctx.Err() == nil {
				u.log.WithError(err).Error("upload stopped")
			}
			return
		}
	}
}

// pendingRecord is a spool record with its decoded header.
type pendingRecord struct {
	lsn  uint64
	head spoolHeader
	body []byte
}

// dayKey is a tenant and a retention day, as a Unix day number.
type dayKey struct {
	tenant string
	day    int64
}

// groupNames names the group of each message (tenant "|" retention day),
// formatting each distinct one once per batch rather than once per record.
type groupNames map[dayKey]string

func (n groupNames) of(h *spoolHeader) string {
	k := dayKey{h.Tenant, h.RetainUntil.Unix() / 86400}
	if h.RetainUntil.Unix() < 0 {
		k.day = -1 - (-1-h.RetainUntil.Unix())/86400 // floor for days before 1970
	}
	name, ok := n[k]
	if !ok {
		name = h.Tenant + "|" + archive.RetentionDay(h.RetainUntil)
		n[k] = name
	}
	return name
}

// collect reads records from `from` until a group is full, the oldest
// record is max_age old, a flush is asked for, or the batch is large.
func (u *uploader) collect(ctx context.Context, from uint64) ([]pendingRecord, uint64, error) {
	b := batchBuilder{maxBytes: u.maxBytes, next: from, groups: map[string]int64{}, names: groupNames{}}
	// The watcher turns a flush request into a cancelled read; it is owned
	// by this call and stopped before it returns.
	rctx, cancel := context.WithCancel(ctx)
	var flushed atomic.Bool
	drained := false
	// Runs last, once the watcher has stopped: a flush asked for while
	// this batch filled up is for records after it, so the next batch
	// honours it rather than waiting for segment.max_age.
	defer func() {
		if flushed.Load() && !drained {
			u.flush()
		}
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-u.flushC:
			flushed.Store(true)
			cancel()
		case <-stop:
		}
	}()
	defer func() { close(stop); wg.Wait(); cancel() }()

	var deadline time.Time
	for !b.full() {
		readCtx, readCancel := rctx, context.CancelFunc(func() {})
		if !deadline.IsZero() {
			readCtx, readCancel = context.WithDeadline(rctx, deadline)
		}
		batch, err := u.spool.Read(readCtx, b.next, DefaultBatchRecords, u.maxBytes)
		readCancel()
		if aerr := b.add(batch); aerr != nil {
			return nil, 0, aerr
		}
		if len(b.recs) > 0 && deadline.IsZero() {
			deadline = time.Now().Add(u.maxAge)
		}
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		if err == nil {
			continue
		}
		if flushed.Load() {
			// Take everything already spooled, without waiting for more:
			// the ack=stored caller that asked is among it.
			drained = true
			return b.drain(ctx, u.spool)
		}
		if len(b.recs) > 0 && !time.Now().Before(deadline) {
			return b.recs, b.next, nil
		}
	}
	return b.recs, b.next, nil
}

// batchBuilder accumulates spool records into one upload batch.
type batchBuilder struct {
	maxBytes  int64
	recs      []pendingRecord
	next      uint64
	groups    map[string]int64
	names     groupNames
	total     int64
	groupFull bool
}

func (b *batchBuilder) add(batch []spool.Record) error {
	for _, r := range batch {
		h, body, err := decodeSpoolRecord(r.Data)
		if err != nil {
			return fmt.Errorf("spool record %d: %w", r.LSN, err)
		}
		b.recs = append(b.recs, pendingRecord{lsn: r.LSN, head: h, body: body})
		b.next = r.LSN + 1
		k := b.names.of(&h)
		b.groups[k] += int64(len(body))
		b.total += int64(len(body))
		if b.groups[k] >= b.maxBytes {
			b.groupFull = true
		}
	}
	return nil
}

// full reports whether a group reached the segment size or the batch holds
// as much as the uploader keeps in memory.
func (b *batchBuilder) full() bool { return b.groupFull || b.total >= 4*b.maxBytes }

// drain adds every record already in the spool, without waiting for more.
func (b *batchBuilder) drain(ctx context.Context, s *spool.Spool) ([]pendingRecord, uint64, error) {
	for !b.full() && b.next <= s.LastLSN() {
		batch, err := s.Read(ctx, b.next, DefaultBatchRecords, b.maxBytes)
		if err != nil {
			return nil, 0, err
		}
		if err := b.add(batch); err != nil {
			return nil, 0, err
		}
	}
	return b.recs, b.next, nil
}

// readRange reads exactly the records [from, to) of an interrupted batch.
func (u *uploader) readRange(ctx context.Context, from, to uint64) ([]pendingRecord, error) {
	var recs []pendingRecord
	for next := from; next < to; {
		batch, err := u.spool.Read(ctx, next, DefaultBatchRecords, u.maxBytes)
		if err != nil {
			return nil, fmt.Errorf("read spool [%d,%d): %w", from, to, err)
		}
		for _, r := range batch {
			if r.LSN >= to {
				break
			}
			h, body, err := decodeSpoolRecord(r.Data)
			if err != nil {
				return nil, fmt.Errorf("spool record %d: %w", r.LSN, err)
			}
			recs = append(recs, pendingRecord{lsn: r.LSN, head: h, body: body})
			next = r.LSN + 1
		}
	}
	return recs, nil
}

// group is the records of one tenant and retention day in a batch.
type group struct {
	tenant, day string
	recs        []*pendingRecord
}

// segmentKey is the deterministic object key of group i of batch [from, to).
func segmentKey(tenant, day, node string, from, to uint64, i int) string {
	return fmt.Sprintf("segments/%s/%s/%s/%s/%s-%016x-%016x-%02d.ndjson.zst",
		tenant, day[:4], day[5:7], day[8:10], node, from, to, i)
}

func (u *uploader) process(ctx context.Context, from, to uint64, recs []pendingRecord, recovering bool) error {
	start := time.Now()
	byKey := map[string]*group{}
	blobs := map[string]*pendingRecord{}
	names := groupNames{}
	for i := range recs {
		r := &recs[i]
		if r.head.Kind == kindAttachment {
			k := archive.AttachmentKey(r.head.Tenant, r.head.ID)
			if b, ok := blobs[k]; !ok || r.head.RetainUntil.After(b.head.RetainUntil) {
				blobs[k] = r
			}
			continue
		}
		k := names.of(&r.head)
		g := byKey[k]
		if g == nil {
			g = &group{tenant: r.head.Tenant, day: k[len(r.head.Tenant)+1:]}
			byKey[k] = g
		}
		g.recs = append(g.recs, r)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	groups, sealKeys := make([]*group, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		groups[i] = byKey[k]
		sealKeys[i] = segmentKey(groups[i].tenant, groups[i].day, u.node, from, to, i)
	}
	claims := u.startClaim(ctx, sealKeys, groups) // decided while the rest is encoded
	defer claims.wait()
	// Attachments first: a segment never refers to bytes not yet stored.
	for key, r := range blobs {
		if err := u.retry(ctx, "store attachment", key, func() error {
			return u.putAttachment(ctx, key, r)
		}); err != nil {
			return err
		}
	}
	sealed := make([]sealedData, len(groups))
	pending := make([]archive.Segment, len(groups))
	for i, g := range groups {
		var err error
		if pending[i], sealed[i], err = u.seal(g, sealKeys[i]); err != nil {
			return err
		}
	}
	dups, changed, err := claims.filter(groups)
	if err != nil {
		return err
	}
	segs := make([]archive.Segment, 0, len(keys))
	located := make([][]ledgerEntry, 0, len(keys))
	var msgs int
	for i, g := range groups {
		if len(g.recs) == 0 {
			continue // every version is stored by other nodes' segments
		}
		seg, man := pending[i], sealed[i]
		if changed[i] {
			if seg, man, err = u.seal(g, sealKeys[i]); err != nil {
				return err
			}
		}
		if err := u.retry(ctx, "upload segment", seg.Key, func() error {
			return u.upload(ctx, &seg, man.data, recovering)
		}); err != nil {
			return err
		}
		segs = append(segs, seg)
		located = append(located, ledgerEntries(g, man.entries))
		msgs += seg.Count
	}
	if len(segs) > 0 {
		if err := u.retry(ctx, "record segments in catalog", segs[0].Key, func() error {
			return u.catalog.SealSegments(ctx, segs)
		}); err != nil {
			return err
		}
	}
	segKeys := make([]string, len(segs))
	for i, s := range segs {
		segKeys[i] = s.Key
	}
	if err := u.ledger.locate(from, segKeys, located); err != nil {
		return err
	}
	if err := u.recordDuplicates(ctx, dups); err != nil {
		return err
	}
	if err := u.ledger.Sync(); err != nil {
		return err
	}
	// Stored, verified, catalogued and locatable: ack=stored callers may go.
	u.setStored(to)
	if err := u.spool.Commit(to); err != nil {
		return fmt.Errorf("commit spool to %d: %w", to, err)
	}
	u.metrics.segmentsWritten.add(int64(len(segs)))
	u.metrics.messagesStored.add(int64(msgs))
	u.metrics.attachmentsStored.add(int64(len(blobs)))
	u.log.WithFields(logrus.Fields{
		"from": from, "to": to, "segments": len(segs), "messages": msgs, "attachments": len(blobs),
		"took_ms": time.Since(start).Milliseconds(),
	}).Debug("batch stored")
	return nil
}

// ledgerEntries pairs each record of a group with its manifest entry (the
// manifest lists records in the order they were added).
func ledgerEntries(g *group, man []archive.ManifestEntry) []ledgerEntry {
	out := make([]ledgerEntry, len(man))
	for i, me := range man {
		h := g.recs[i].head
		action, _, _ := strings.Cut(h.Event, "/")
		out[i] = ledgerEntry{ID: me.ID, Version: me.Version, Action: action, Event: h.Event,
			SHA256: me.SHA256, LSN: g.recs[i].lsn, RetainUntil: h.RetainUntil, Entry: me}
	}
	return out
}

type sealedData struct {
	data    []byte
	entries []archive.ManifestEntry
}

func (u *uploader) seal(g *group, key string) (archive.Segment, sealedData, error) {
	w := u.codec.NewWriter(g.tenant, archive.DefaultFrameBytes)
	seg := archive.Segment{Key: key, Tenant: g.tenant, Node: u.node, SealedAt: time.Now().UTC()}
	for i, r := range g.recs {
		w.Add(r.head.ID, r.head.Version, r.head.SHA256, r.head.RetainUntil, r.body)
		if i == 0 || r.head.SentAt.Before(seg.MinSentAt) {
			seg.MinSentAt = r.head.SentAt
		}
		if r.head.SentAt.After(seg.MaxSentAt) {
			seg.MaxSentAt = r.head.SentAt
		}
	}
	s, err := w.Finish()
	if err != nil {
		return seg, sealedData{}, fmt.Errorf("seal segment %s: %w", key, err)
	}
	if seg.Holds, err = u.matchHolds(g); err != nil {
		return seg, sealedData{}, fmt.Errorf("seal segment %s: %w", key, err)
	}
	seg.LegalHold = len(seg.Holds) > 0
	seg.SHA256, seg.Size, seg.Count = s.SHA256, int64(len(s.Data)), len(s.Manifest.Records)
	seg.RetainUntil = s.Manifest.RetainUntil
	seg.ManifestOffset, seg.ManifestLength = s.ManifestOffset, s.ManifestLength
	return seg, sealedData{data: s.Data, entries: s.Manifest.Records}, nil
}

// matchHolds counts, per active legal hold, the records of g it matches,
// so that the segment is written under legal hold from the start. Holds
// with a query are left to the leader's hold job, which asks the index
// and covers the segment moments after it is catalogued; until it has,
// no sweep runs (cluster.waitHoldsCovered).
func (u *uploader) matchHolds(g *group) (map[string]int, error) {
	if u.holds == nil {
		return nil, nil
	}
	holds, err := u.holds()
	if err != nil {
		return nil, fmt.Errorf("read legal holds: %w", err)
	}
	holds = slices.DeleteFunc(holds, func(h archive.Hold) bool { return h.Criteria.Query != "" })
	if len(holds) == 0 {
		return nil, nil
	}
	out := map[string]int{}
	for _, r := range g.recs {
		var m archive.Message
		if err := json.Unmarshal(r.body, &m); err != nil {
			return nil, fmt.Errorf("decode record %s for legal holds: %w", r.head.ID, err)
		}
		for i := range holds {
			if ok, _ := holds[i].Criteria.Matches(&m); ok {
				out[holds[i].ID]++
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// upload PUTs a segment under COMPLIANCE retention and verifies it by
// reading it back. When recovering from a crash an intact object already
// stored under the key is kept rather than written twice.
func (u *uploader) upload(ctx context.Context, seg *archive.Segment, data []byte, recovering bool) error {
	if recovering {
		info, err := u.store.Stat(ctx, seg.Key)
		switch {
		case err == nil:
			if verr := u.verify(ctx, seg.Key, seg.SHA256); verr == nil {
				seg.VersionID = info.VersionID
				u.log.WithField("segment", seg.Key).Info("segment already stored before the restart")
				return nil
			} else if !errors.Is(verr, archive.ErrCorrupt) {
				return verr
			}
			u.log.WithField("segment", seg.Key).Warn("stored segment differs from the spool; writing a new version")
		case !errors.Is(err, archive.ErrNotFound):
			return fmt.Errorf("stat %s: %w", seg.Key, err)
		}
	}
	// Storage refuses a retain-until date in the past. A record whose
	// retention runs out before its upload (a short policy, an outage
	// longer than the floor) is locked for at least the floor from now:
	// retention is only ever lengthened, never dropped.
	seg.RetainUntil = u.lockUntil(seg.RetainUntil)
	info, err := u.store.Put(ctx, seg.Key, bytes.NewReader(data), int64(len(data)), archive.PutOptions{
		RetainUntil: seg.RetainUntil, ContentType: "application/zstd", SHA256: seg.SHA256, LegalHold: seg.LegalHold,
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", seg.Key, err)
	}
	seg.VersionID = info.VersionID
	return u.verify(ctx, seg.Key, seg.SHA256)
}

// verify re-reads an object and compares its hash, hashing as it reads
// rather than holding a second copy of the segment in memory.
func (u *uploader) verify(ctx context.Context, key, sha string) error {
	if err := u.store.Verify(ctx, key, sha); err != nil {
		return fmt.Errorf("re-read %s: %w", key, err)
	}
	return nil
}

// lockUntil is the retain-until date an object holding records kept until
// t is written with: t, or the floor from now when t is sooner.
func (u *uploader) lockUntil(t time.Time) time.Time {
	return archive.AtLeastFloor(t, u.floor, time.Now())
}

// putAttachment stores an attachment's bytes once; when they are already
// stored it only extends their retention to cover this message.
func (u *uploader) putAttachment(ctx context.Context, key string, r *pendingRecord) error {
	until := u.lockUntil(r.head.RetainUntil)
	info, err := u.store.Stat(ctx, key)
	switch {
	case err == nil:
		if info.RetainUntil.Before(r.head.RetainUntil) {
			if err := u.store.ExtendRetention(ctx, key, info.VersionID, until); err != nil {
				return fmt.Errorf("extend retention of %s: %w", key, err)
			}
		}
		return nil
	case !errors.Is(err, archive.ErrNotFound):
		return fmt.Errorf("stat %s: %w", key, err)
	}
	if _, err := u.store.Put(ctx, key, bytes.NewReader(r.body), int64(len(r.body)), archive.PutOptions{
		RetainUntil: until, ContentType: r.head.Event, SHA256: r.head.ID,
	}); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return u.verify(ctx, key, r.head.ID)
}

// retry runs op until it succeeds or ctx is done, backing off
// exponentially; storage and catalog outages are waited out, never dropped.
func (u *uploader) retry(ctx context.Context, what, key string, op func() error) error {
	delay := minBackoff
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			u.setStoreErr(nil)
			return nil
		}
		u.setStoreErr(err)
		u.metrics.uploadErrors.add(1)
		u.log.WithError(err).WithFields(logrus.Fields{"op": what, "key": key, "attempt": attempt, "retry_in": delay.String()}).Warn("storage operation failed; retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: %w", what, key, ctx.Err())
		case <-time.After(delay):
		}
		if delay *= 2; delay > maxBackoff {
			delay = maxBackoff
		}
	}
}
