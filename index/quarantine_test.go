package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// fakeQuarantiner records quarantines as the cluster would; it fails the
// first fail calls, as a cluster without a leader does.
type fakeQuarantiner struct {
	mu      sync.Mutex
	fail    int
	calls   int
	reasons map[string]string
	cleared []string
}

func newFakeQuarantiner() *fakeQuarantiner { return &fakeQuarantiner{reasons: map[string]string{}} }

func (q *fakeQuarantiner) ID() string { return "node-test" }

func (q *fakeQuarantiner) QuarantineSegment(_ context.Context, key, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.fail > 0 {
		q.fail--
		return errors.New("no leader")
	}
	q.reasons[key] = reason
	return nil
}

func (q *fakeQuarantiner) IsQuarantined(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.reasons[key]
	return ok
}

func (q *fakeQuarantiner) ClearQuarantine(_ context.Context, key string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.reasons, key)
	q.cleared = append(q.cleared, key)
	return nil
}

func (q *fakeQuarantiner) snapshot() (calls int, reasons map[string]string, cleared []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := map[string]string{}
	for k, v := range q.reasons {
		r[k] = v
	}
	return q.calls, r, append([]string(nil), q.cleared...)
}

// corruptingStore flips a byte of every Get of one key until healed: the
// stored object is corrupt, then restored.
type corruptingStore struct {
	archive.ObjectStore
	mu     sync.Mutex
	broken string
}

func (s *corruptingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.ObjectStore.Get(ctx, key)
	s.mu.Lock()
	broken := s.broken == key
	s.mu.Unlock()
	if err != nil || !broken {
		return rc, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *corruptingStore) set(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = key
}

func waitStats(t *testing.T, f *Follower, what string, cond func(FollowerStats) bool) FollowerStats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := f.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A segment whose bytes do not match the catalog is quarantined once the
// quarantine is recorded (here after two refusals), the follower indexes
// the segments after it, and nothing is stuck. Once the object is good
// again and the catalog lists it anew (a repair), it is indexed and its
// quarantine cleared.
func TestFollowerQuarantinesACorruptSegmentAndGoesOn(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	st := &corruptingStore{ObjectStore: mustStore(t)}
	cat := newFakeCatalog()
	q := newFakeQuarantiner()
	q.fail = 2
	seg1, data1 := segment(t, c, msg("1", "before", day0))
	cat.add(put(t, st, seg1, data1, ""))
	bad, badData := segment(t, c, msg("2", "corrupted", day0))
	put(t, st, bad, badData, "")
	st.set(bad.Key)
	cat.add(bad)
	seg3, data3 := segment(t, c, msg("3", "after", day0))
	cat.add(put(t, st, seg3, data3, ""))

	f := NewFollower(ix, cat, st, testLog())
	f.SetQuarantiner(q)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.Start(ctx)
	defer f.Close()
	if err := f.WaitIndexed(ctx, 3); err != nil {
		t.Fatal(err)
	}
	s := f.Stats()
	if s.Quarantined != 1 || s.LastError != "" || s.Lag != 0 || s.Failures < QuarantineAfter {
		t.Fatalf("stats after the quarantine: %+v", s)
	}
	calls, reasons, _ := q.snapshot()
	if calls != 3 || !strings.Contains(reasons[bad.Key], "corrupt") {
		t.Fatalf("quarantine calls %d, records %v; want 3 calls and %s recorded as corrupt", calls, reasons, bad.Key)
	}
	wantTexts(t, ix, Request{}, "after", "before")

	// A later segment is indexed as usual.
	seg4, data4 := segment(t, c, msg("4", "later", day0))
	cat.add(put(t, st, seg4, data4, ""))
	if err := f.WaitIndexed(ctx, 4); err != nil {
		t.Fatal(err)
	}
	// Repaired: the object reads well again and is catalogued anew.
	st.set("")
	seq := cat.add(bad)
	if err := f.WaitIndexed(ctx, seq); err != nil {
		t.Fatal(err)
	}
	wantTexts(t, ix, Request{}, "after", "before", "corrupted", "later")
	if _, reasons, cleared := q.snapshot(); len(reasons) != 0 || len(cleared) != 1 || cleared[0] != bad.Key {
		t.Fatalf("after the repair: records %v, cleared %v", reasons, cleared)
	}
	if s := f.Stats(); s.Quarantined != 1 || s.LastError != "" {
		t.Fatalf("stats after the repair: %+v", s)
	}
}

// A segment missing from storage is quarantined too, and a record that
// cannot be decoded (its hash does not match, the segment's does).
func TestFollowerQuarantinesMissingAndUndecodable(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	st := mustStore(t)
	cat := newFakeCatalog()
	q := newFakeQuarantiner()
	missing, _ := segment(t, c, msg("1", "never stored", day0))
	cat.add(missing)
	// A record whose text changed after it was hashed, in a segment whose
	// own hash is right: what the %ff%fe audit record of issue 11 was.
	m := msg("2", "tampered", day0)
	m.Text = "tampered \ufffd"
	undecodable, udata := segment(t, c, m)
	cat.add(put(t, st, undecodable, udata, ""))
	good, data := segment(t, c, msg("3", "good", day0))
	cat.add(put(t, st, good, data, ""))

	f := NewFollower(ix, cat, st, testLog())
	f.SetQuarantiner(q)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.Start(ctx)
	defer f.Close()
	if err := f.WaitIndexed(ctx, 3); err != nil {
		t.Fatal(err)
	}
	_, reasons, _ := q.snapshot()
	if len(reasons) != 2 || !strings.Contains(reasons[missing.Key], "not found") || !strings.Contains(reasons[undecodable.Key], "corrupt") {
		t.Fatalf("quarantined %v", reasons)
	}
	wantTexts(t, ix, Request{}, "good")
}

// A storage that fails for another reason (a timeout, a 503) is retried
// for ever: nothing is quarantined, the checkpoint does not pass it.
func TestFollowerNeverQuarantinesATransientFailure(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	st := &flakyStore{ObjectStore: mustStore(t)}
	cat := newFakeCatalog()
	q := newFakeQuarantiner()
	seg, data := segment(t, c, msg("1", "slow", day0))
	put(t, st, seg, data, "")
	st.broken = seg.Key
	cat.add(seg)

	f := NewFollower(ix, cat, st, testLog())
	f.SetQuarantiner(q)
	f.Start(context.Background())
	defer f.Close()
	s := waitStats(t, f, "more failures than QuarantineAfter", func(s FollowerStats) bool { return s.Failures > QuarantineAfter })
	if calls, _, _ := q.snapshot(); calls != 0 || s.Checkpoint != 0 || s.Quarantined != 0 || !strings.Contains(s.LastError, "connection reset") {
		t.Fatalf("after %d transient failures: %d quarantine calls, stats %+v", s.Failures, calls, s)
	}
	st.heal()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.WaitIndexed(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if calls, _, _ := q.snapshot(); calls != 0 {
		t.Fatalf("%d quarantine calls for a transient failure", calls)
	}
}

func TestQuarantinable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("index segment k: %w", archive.ErrCorrupt), true},
		{fmt.Errorf("get segment k: s3: %w", archive.ErrNotFound), true},
		{errors.New("s3: 503 Service Unavailable"), false},
		{context.DeadlineExceeded, false},
		{ErrClosed, false},
	} {
		if got := Quarantinable(tc.err); got != tc.want {
			t.Errorf("Quarantinable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// expire replaces the entry of key by its tombstone at a new seq, as a
// sweep does.
func (c *fakeCatalog) expire(key string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var seg archive.Segment
	kept := c.entries[:0]
	for _, e := range c.entries {
		if e.Segment.Key == key {
			seg = e.Segment
			continue
		}
		kept = append(kept, e)
	}
	c.entries = kept
	seg.Expired = true
	seq := uint64(1)
	if n := len(c.entries); n > 0 {
		seq = c.entries[n-1].Seq + 1
	}
	seq = max(seq, 2)
	c.entries = append(c.entries, CatalogEntry{Seq: seq, Segment: seg})
	close(c.changed)
	c.changed = make(chan struct{})
	return seq
}

// A segment a sweep deleted after the follower listed it is gone from
// storage: the follower goes on to its tombstone rather than retry it for
// ever, and quarantines nothing.
func TestFollowerGoesOnPastASegmentExpiredMeanwhile(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	st := &flakyStore{ObjectStore: mustStore(t)}
	cat := newFakeCatalog()
	q := newFakeQuarantiner()
	seg, data := segment(t, c, msg("1", "swept", day0))
	put(t, st, seg, data, "")
	st.broken = seg.Key // a failing read holds the follower on it
	cat.add(seg)

	f := NewFollower(ix, cat, st, testLog())
	f.SetQuarantiner(q)
	f.Start(context.Background())
	defer f.Close()
	waitStats(t, f, "the follower to retry the segment", func(s FollowerStats) bool { return s.Failures > 0 })
	seq := cat.expire(seg.Key)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.WaitIndexed(ctx, seq); err != nil {
		t.Fatal(err)
	}
	if calls, _, _ := q.snapshot(); calls != 0 {
		t.Fatalf("%d quarantine calls for a segment that expired", calls)
	}
	if s := f.Stats(); s.LastError != "" || s.Quarantined != 0 {
		t.Fatalf("stats %+v", s)
	}
}
