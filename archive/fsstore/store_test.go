package fsstore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/fsstore"
	"github.com/holdfast/holdfast/archive/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) archive.ObjectStore { return mustOpen(t, t.TempDir()) })
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustOpen(t *testing.T, dir string, opts ...fsstore.Option) *fsstore.Store {
	t.Helper()
	s, err := fsstore.Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustPut(t *testing.T, s *fsstore.Store, key, body string, opts archive.PutOptions) archive.ObjectInfo {
	t.Helper()
	h := sha256.Sum256([]byte(body))
	opts.SHA256 = hex.EncodeToString(h[:])
	info, err := s.Put(t.Context(), key, strings.NewReader(body), int64(len(body)), opts)
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	return info
}

func TestSevenYearRetention(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 2, 28, 12, 0, 0, 0, time.UTC)}
	s := mustOpen(t, t.TempDir(), fsstore.WithClock(clock.Now))
	until := clock.Now().AddDate(7, 0, 0)
	put := mustPut(t, s, "segments/t1/2032-02-28/0001.seg", "records", archive.PutOptions{RetainUntil: until})

	clock.Add(until.Sub(clock.Now()) - time.Second)
	if err := s.DeleteVersion(t.Context(), put.Key, put.VersionID); !errors.Is(err, archive.ErrLocked) {
		t.Fatalf("DeleteVersion a second before retain-until: %v, want ErrLocked", err)
	}
	clock.Add(time.Second)
	if err := s.DeleteVersion(t.Context(), put.Key, put.VersionID); err != nil {
		t.Fatalf("DeleteVersion at retain-until: %v", err)
	}
	if _, err := s.Stat(t.Context(), put.Key); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Stat after delete: %v, want ErrNotFound", err)
	}
}

func TestLegalHoldOutlivesRetentionWithClock(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := mustOpen(t, t.TempDir(), fsstore.WithClock(clock.Now))
	put := mustPut(t, s, "held", "x", archive.PutOptions{RetainUntil: clock.Now().Add(24 * time.Hour), LegalHold: true})

	clock.Add(10 * 365 * 24 * time.Hour)
	if err := s.DeleteVersion(t.Context(), "held", put.VersionID); !errors.Is(err, archive.ErrLocked) {
		t.Fatalf("DeleteVersion under hold ten years on: %v, want ErrLocked", err)
	}
	if err := s.SetLegalHold(t.Context(), "held", put.VersionID, false); err != nil {
		t.Fatalf("SetLegalHold off: %v", err)
	}
	if err := s.DeleteVersion(t.Context(), "held", put.VersionID); err != nil {
		t.Fatalf("DeleteVersion after release: %v", err)
	}
}

func TestExtendRetentionRefusesThePast(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := mustOpen(t, t.TempDir(), fsstore.WithClock(clock.Now))
	put := mustPut(t, s, "k", "x", archive.PutOptions{RetainUntil: clock.Now().Add(time.Hour)})
	clock.Add(2 * time.Hour)
	// Later than the old date, but already past: no retention at all.
	err := s.ExtendRetention(t.Context(), "k", put.VersionID, clock.Now().Add(-time.Minute))
	if err == nil {
		t.Fatal("ExtendRetention to a past date succeeded")
	}
	if err := s.ExtendRetention(t.Context(), "k", put.VersionID, clock.Now().Add(time.Hour)); err != nil {
		t.Fatalf("ExtendRetention after expiry to a future date: %v", err)
	}
	if err := s.DeleteVersion(t.Context(), "k", put.VersionID); !errors.Is(err, archive.ErrLocked) {
		t.Fatalf("DeleteVersion after renewed retention: %v, want ErrLocked", err)
	}
}

func TestVersionsOrderedWhenClockStandsStill(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := mustOpen(t, t.TempDir(), fsstore.WithClock(clock.Now))
	until := clock.Now().Add(time.Hour)
	first := mustPut(t, s, "k", "first", archive.PutOptions{RetainUntil: until})
	second := mustPut(t, s, "k", "second", archive.PutOptions{RetainUntil: until})
	if second.VersionID <= first.VersionID {
		t.Fatalf("second version id %s does not sort after the first %s", second.VersionID, first.VersionID)
	}
	info, err := s.Stat(t.Context(), "k")
	if err != nil || info.VersionID != second.VersionID {
		t.Fatalf("Stat = %+v, %v; want version %s", info, err, second.VersionID)
	}
}

func TestInvalidKeys(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	until := time.Now().Add(time.Hour)
	for _, key := range []string{"", "/abs", "a//b", "a/", "..", "../x", "a/../b", "a/./b", ".", "a/.versions/b", ".versions", "x\x00y", strings.Repeat("k", 1025)} {
		_, err := s.Put(t.Context(), key, strings.NewReader("x"), 1, archive.PutOptions{RetainUntil: until})
		if !errors.Is(err, fsstore.ErrInvalidKey) {
			t.Errorf("Put %q: %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, fsstore.ErrInvalidKey) {
			t.Errorf("Stat %q: %v, want ErrInvalidKey", key, err)
		}
	}
	for _, key := range []string{"a", "a/b.c", "日本/語.txt", "with space/x", "a/.hidden", "a..b"} {
		mustPut(t, s, key, key, archive.PutOptions{RetainUntil: until})
	}
	// Nothing escaped the store's directory.
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.Dir()), "x")); err == nil {
		t.Fatal("a key wrote outside the store")
	}
}

func TestPutSizeMismatchStoresNothing(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	until := time.Now().Add(time.Hour)
	for _, size := range []int64{3, 10, -1} {
		if _, err := s.Put(t.Context(), "k", strings.NewReader("12345"), size, archive.PutOptions{RetainUntil: until}); err == nil {
			t.Errorf("Put of 5 bytes with size %d succeeded", size)
		}
	}
	if _, err := s.Stat(t.Context(), "k"); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Stat after refused Puts: %v, want ErrNotFound", err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Fatalf("refused Puts left %d temp files", len(left))
	}
}

func TestGetDetectsCorruption(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	put := mustPut(t, s, "k", "original bytes", archive.PutOptions{RetainUntil: time.Now().Add(time.Hour)})

	data := filepath.Join(dir, "objects", "k", ".versions", put.VersionID+".data")
	if err := os.WriteFile(data, []byte("tampered bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(t.Context(), "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, archive.ErrCorrupt) {
		t.Fatalf("reading tampered data: %v, want ErrCorrupt", err)
	}
}

func TestReopenKeepsVersionsAndLocks(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	put := mustPut(t, s, "a/b", "kept", archive.PutOptions{RetainUntil: time.Now().Add(time.Hour), LegalHold: true})
	if err := os.WriteFile(filepath.Join(dir, "tmp", "data-crashed"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, dir)
	info, err := s.Stat(t.Context(), "a/b")
	if err != nil {
		t.Fatalf("Stat after reopen: %v", err)
	}
	if info.VersionID != put.VersionID || !info.LegalHold || info.Mode != archive.ModeCompliance || !info.RetainUntil.Equal(put.RetainUntil) {
		t.Fatalf("Stat after reopen = %+v, want %+v", info, put)
	}
	if err := s.DeleteVersion(t.Context(), "a/b", put.VersionID); !errors.Is(err, archive.ErrLocked) {
		t.Fatalf("DeleteVersion after reopen: %v, want ErrLocked", err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Fatalf("Open left %d temp files from a crash", len(left))
	}
}

func TestListSkipsKeysWithoutVersions(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := mustOpen(t, t.TempDir(), fsstore.WithClock(clock.Now))
	gone := mustPut(t, s, "p/gone", "x", archive.PutOptions{RetainUntil: clock.Now().Add(time.Hour)})
	mustPut(t, s, "p/kept", "y", archive.PutOptions{RetainUntil: clock.Now().Add(48 * time.Hour)})
	clock.Add(2 * time.Hour)
	if err := s.DeleteVersion(t.Context(), "p/gone", gone.VersionID); err != nil {
		t.Fatalf("DeleteVersion: %v", err)
	}
	var keys []string
	if err := s.List(t.Context(), "p/", func(oi archive.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(keys) != 1 || keys[0] != "p/kept" {
		t.Fatalf("List = %q, want [p/kept]", keys)
	}
}

func TestGetRangeReadsExactBytes(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	mustPut(t, s, "r", "0123456789", archive.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
	got, err := s.GetRange(t.Context(), "r", 9, 1)
	if err != nil || !bytes.Equal(got, []byte("9")) {
		t.Fatalf("GetRange(9, 1) = %q, %v", got, err)
	}
	if _, err := s.GetRange(t.Context(), "r", 5, 6); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("GetRange(5, 6) of 10 bytes: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := s.GetRange(t.Context(), "r", -1, 2); err == nil {
		t.Fatal("GetRange with a negative offset succeeded")
	}
}
