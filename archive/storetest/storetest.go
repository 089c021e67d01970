package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

const (
	// shortRetention is how far ahead a retention that a test waits out is
	// set. S3 keeps retain-until dates to the second, so a store may round
	// it up by almost a second.
	shortRetention = 2 * time.Second
	// maxWait bounds every wait for retention to pass.
	maxWait = 5 * time.Second
	// longRetention outlives any test run.
	longRetention = time.Hour
)

// Run runs the conformance suite. open returns a new, empty store for one
// subtest; it registers its own cleanup with t.
func Run(t *testing.T, open func(t *testing.T) archive.ObjectStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s archive.ObjectStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"PutRefusesPastRetention", testPutRefusesPastRetention},
		{"PutVerifiesSHA256", testPutVerifiesSHA256},
		{"Verify", testVerify},
		{"DeleteLockedVersion", testDeleteLockedVersion},
		{"LegalHoldOutlivesRetention", testLegalHoldOutlivesRetention},
		{"PutUnderLegalHold", testPutUnderLegalHold},
		{"ExtendRetention", testExtendRetention},
		{"List", testList},
		{"Versions", testVersions},
		{"NotFound", testNotFound},
		{"ConcurrentPuts", testConcurrentPuts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

func testRoundTrip(t *testing.T, s archive.ObjectStore) {
	ctx := t.Context()
	body := []byte("hello, WORM world")
	until := time.Now().Add(longRetention)
	put := mustPut(t, s, "docs/a.txt", body, archive.PutOptions{RetainUntil: until, ContentType: "text/plain"})
	if put.Key != "docs/a.txt" || put.VersionID == "" || put.Size != int64(len(body)) {
		t.Fatalf("Put = %+v, want key docs/a.txt, a version id and size %d", put, len(body))
	}

	if got := mustGet(t, s, "docs/a.txt"); !bytes.Equal(got, body) {
		t.Fatalf("Get = %q, want %q", got, body)
	}
	got, err := s.GetRange(ctx, "docs/a.txt", 7, 4)
	if err != nil || string(got) != "WORM" {
		t.Fatalf("GetRange(7, 4) = %q, %v; want \"WORM\"", got, err)
	}
	if got, err := s.GetRange(ctx, "docs/a.txt", 0, int64(len(body))); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GetRange(whole) = %q, %v; want %q", got, err, body)
	}
	if got, err := s.GetRange(ctx, "docs/a.txt", 10, 100); err == nil {
		t.Fatalf("GetRange past the end = %q, want an error", got)
	}

	info := mustStat(t, s, "docs/a.txt")
	if info.Key != "docs/a.txt" || info.VersionID != put.VersionID || info.Size != int64(len(body)) {
		t.Fatalf("Stat = %+v, want key docs/a.txt, version %s, size %d", info, put.VersionID, len(body))
	}
	if info.Mode != archive.ModeCompliance {
		t.Fatalf("Stat mode = %q, want %q", info.Mode, archive.ModeCompliance)
	}
	if info.RetainUntil.Before(until) {
		t.Fatalf("Stat retain-until %s is before the requested %s", info.RetainUntil, until)
	}
	if info.LegalHold {
		t.Fatal("Stat shows a legal hold nobody set")
	}
	if info.LastModified.IsZero() {
		t.Fatal("Stat has no LastModified")
	}
}

func testPutRefusesPastRetention(t *testing.T, s archive.ObjectStore) {
	for _, until := range []time.Time{{}, time.Now().Add(-time.Minute)} {
		_, err := s.Put(t.Context(), "past", bytes.NewReader([]byte("x")), 1, archive.PutOptions{RetainUntil: until})
		if err == nil {
			t.Fatalf("Put with retain-until %s succeeded, want an error", until)
		}
	}
	if _, err := s.Stat(t.Context(), "past"); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Stat after refused Puts: %v, want ErrNotFound", err)
	}
}

func testPutVerifiesSHA256(t *testing.T, s archive.ObjectStore) {
	body := []byte("the bytes that were meant")
	wrong := sha256.Sum256([]byte("other bytes"))
	_, err := s.Put(t.Context(), "bad-hash", bytes.NewReader(body), int64(len(body)), archive.PutOptions{
		RetainUntil: time.Now().Add(longRetention),
		SHA256:      hex.EncodeToString(wrong[:]),
	})
	if !errors.Is(err, archive.ErrCorrupt) {
		t.Fatalf("Put with a wrong SHA256: %v, want ErrCorrupt", err)
	}
	if _, err := s.Stat(t.Context(), "bad-hash"); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Stat after a refused Put: %v, want ErrNotFound", err)
	}
}

func testVerify(t *testing.T, s archive.ObjectStore) {
	ctx := t.Context()
	body := []byte("a segment, re-read after its PUT")
	mustPut(t, s, "verified", body, archive.PutOptions{RetainUntil: time.Now().Add(longRetention), SHA256: sum(body)})
	if err := s.Verify(ctx, "verified", sum(body)); err != nil {
		t.Fatalf("Verify with the body's sha256: %v", err)
	}
	if err := s.Verify(ctx, "verified", sum([]byte("other bytes"))); !errors.Is(err, archive.ErrCorrupt) {
		t.Fatalf("Verify with another sha256: %v, want ErrCorrupt", err)
	}
	if err := s.Verify(ctx, "never-written", sum(body)); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Verify of a missing key: %v, want ErrNotFound", err)
	}
}

func testDeleteLockedVersion(t *testing.T, s archive.ObjectStore) {
	body := []byte("keep me")
	put := mustPut(t, s, "locked", body, archive.PutOptions{RetainUntil: time.Now().Add(longRetention)})

	err := s.DeleteVersion(t.Context(), "locked", put.VersionID)
	if !errors.Is(err, archive.ErrLocked) {
		t.Fatalf("DeleteVersion of a retained version: %v, want ErrLocked", err)
	}
	if got := mustGet(t, s, "locked"); !bytes.Equal(got, body) {
		t.Fatalf("Get after refused delete = %q, want %q", got, body)
	}
	if !slices.Contains(versionIDs(t, s, "locked"), put.VersionID) {
		t.Fatal("the version is gone from Versions after a refused delete")
	}
}

func testLegalHoldOutlivesRetention(t *testing.T, s archive.ObjectStore) {
	ctx := t.Context()
	put := mustPut(t, s, "held", []byte("evidence"), archive.PutOptions{RetainUntil: time.Now().Add(shortRetention)})
	if err := s.SetLegalHold(ctx, "held", put.VersionID, true); err != nil {
		t.Fatalf("SetLegalHold on: %v", err)
	}
	info := mustStat(t, s, "held")
	if !info.LegalHold {
		t.Fatal("Stat after SetLegalHold(on) shows no legal hold")
	}

	waitPast(t, info.RetainUntil)
	if err := s.DeleteVersion(ctx, "held", put.VersionID); !errors.Is(err, archive.ErrLocked) {
		t.Fatalf("DeleteVersion under legal hold after retention passed: %v, want ErrLocked", err)
	}
	if got := mustGet(t, s, "held"); string(got) != "evidence" {
		t.Fatalf("Get after refused delete = %q", got)
	}

	if err := s.SetLegalHold(ctx, "held", put.VersionID, false); err != nil {
		t.Fatalf("SetLegalHold off: %v", err)
	}
	if mustStat(t, s, "held").LegalHold {
		t.Fatal("Stat after SetLegalHold(off) still shows a legal hold")
	}
	if err := s.DeleteVersion(ctx, "held", put.VersionID); err != nil {
		t.Fatalf("DeleteVersion after hold released and retention passed: %v", err)
	}
	if ids := versionIDs(t, s, "held"); slices.Contains(ids, put.VersionID) {
		t.Fatalf("deleted version %s still in Versions %v", put.VersionID, ids)
	}
	if _, err := s.Stat(ctx, "held"); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Stat after its only version was deleted: %v, want ErrNotFound", err)
	}
}

func testPutUnderLegalHold(t *testing.T, s archive.ObjectStore) {
	put := mustPut(t, s, "held-at-birth", []byte("x"), archive.PutOptions{
		RetainUntil: time.Now().Add(longRetention),
		LegalHold:   true,
	})
	if !put.LegalHold {
		t.Fatal("Put with LegalHold returned LegalHold false")
	}
	info := mustStat(t, s, "held-at-birth")
	if !info.LegalHold || info.Mode != archive.ModeCompliance {
		t.Fatalf("Stat = %+v, want COMPLIANCE under legal hold", info)
	}
	if err := s.DeleteVersion(t.Context(), "held-at-birth", put.VersionID); !errors.Is(err, archive.ErrLocked) {
		t.Fatalf("DeleteVersion under legal hold: %v, want ErrLocked", err)
	}
}

func testExtendRetention(t *testing.T, s archive.ObjectStore) {
	ctx := t.Context()
	now := time.Now()
	put := mustPut(t, s, "extend", []byte("x"), archive.PutOptions{RetainUntil: now.Add(longRetention)})

	later := now.Add(2 * longRetention)
	if err := s.ExtendRetention(ctx, "extend", put.VersionID, later); err != nil {
		t.Fatalf("ExtendRetention to a later date: %v", err)
	}
	if got := mustStat(t, s, "extend").RetainUntil; got.Before(later) {
		t.Fatalf("retain-until after extending = %s, want at least %s", got, later)
	}

	err := s.ExtendRetention(ctx, "extend", put.VersionID, now.Add(longRetention/2))
	if !errors.Is(err, archive.ErrLocked) {
		t.Fatalf("ExtendRetention to an earlier date: %v, want ErrLocked", err)
	}
	if got := mustStat(t, s, "extend").RetainUntil; got.Before(later) {
		t.Fatalf("a refused shortening moved retain-until to %s", got)
	}
}

func testList(t *testing.T, s archive.ObjectStore) {
	until := time.Now().Add(longRetention)
	for _, key := range []string{"list/b", "list/a/2", "other/x", "list/c", "list/a/1", "list-sibling"} {
		mustPut(t, s, key, []byte(key), archive.PutOptions{RetainUntil: until})
	}
	again := mustPut(t, s, "list/b", []byte("list/b again"), archive.PutOptions{RetainUntil: until})

	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"list/", []string{"list/a/1", "list/a/2", "list/b", "list/c"}},
		{"list/a", []string{"list/a/1", "list/a/2"}},
		{"list", []string{"list-sibling", "list/a/1", "list/a/2", "list/b", "list/c"}},
		{"", []string{"list-sibling", "list/a/1", "list/a/2", "list/b", "list/c", "other/x"}},
		{"nothing/", nil},
	} {
		var got []string
		err := s.List(t.Context(), tc.prefix, func(oi archive.ObjectInfo) error {
			got = append(got, oi.Key)
			if oi.Key == "list/b" && (oi.VersionID != again.VersionID || oi.Size != again.Size) {
				t.Errorf("List shows list/b as %+v, want the latest version %s", oi, again.VersionID)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("List(%q): %v", tc.prefix, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}

	stop := errors.New("stop")
	calls := 0
	err := s.List(t.Context(), "list/", func(archive.ObjectInfo) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("List whose callback fails: %v after %d calls, want the callback's error after 1", err, calls)
	}
}

func testVersions(t *testing.T, s archive.ObjectStore) {
	until := time.Now().Add(longRetention)
	first := mustPut(t, s, "v/doc", []byte("first"), archive.PutOptions{RetainUntil: until})
	second := mustPut(t, s, "v/doc", []byte("second"), archive.PutOptions{RetainUntil: until})
	mustPut(t, s, "v/doc-other", []byte("not a version of v/doc"), archive.PutOptions{RetainUntil: until})
	if first.VersionID == second.VersionID {
		t.Fatalf("two Puts got the same version id %s", first.VersionID)
	}

	vs, err := s.Versions(t.Context(), "v/doc")
	if err != nil {
		t.Fatalf("Versions: %v", err)
	}
	var ids []string
	for _, v := range vs {
		if v.Key != "v/doc" || v.DeleteMarker {
			t.Fatalf("Versions has %+v, want only versions of v/doc", v)
		}
		ids = append(ids, v.VersionID)
	}
	if want := []string{second.VersionID, first.VersionID}; !slices.Equal(ids, want) {
		t.Fatalf("Versions ids = %v, want %v (newest first)", ids, want)
	}
	if got := mustGet(t, s, "v/doc"); string(got) != "second" {
		t.Fatalf("Get = %q, want the latest version", got)
	}
	if got := mustStat(t, s, "v/doc").VersionID; got != second.VersionID {
		t.Fatalf("Stat version = %s, want the latest %s", got, second.VersionID)
	}
	// Both versions stay retained: a second Put does not unlock the first.
	if err := s.DeleteVersion(t.Context(), "v/doc", first.VersionID); !errors.Is(err, archive.ErrLocked) {
		t.Fatalf("DeleteVersion of the older version: %v, want ErrLocked", err)
	}
}

func testNotFound(t *testing.T, s archive.ObjectStore) {
	ctx := t.Context()
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("Get missing: %v, want ErrNotFound", err)
	}
	if _, err := s.GetRange(ctx, "missing", 0, 1); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("GetRange missing: %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, "missing"); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("Stat missing: %v, want ErrNotFound", err)
	}
	if vs, err := s.Versions(ctx, "missing"); err != nil || len(vs) != 0 {
		t.Errorf("Versions missing = %v, %v; want none and no error", vs, err)
	}

	// A real version id of another key names no version of this one.
	until := time.Now().Add(longRetention)
	other := mustPut(t, s, "nf/other", []byte("x"), archive.PutOptions{RetainUntil: until})
	mustPut(t, s, "nf/key", []byte("y"), archive.PutOptions{RetainUntil: until})
	if err := s.DeleteVersion(ctx, "nf/key", other.VersionID); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("DeleteVersion of an unknown version: %v, want ErrNotFound", err)
	}
	if err := s.SetLegalHold(ctx, "nf/key", other.VersionID, true); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("SetLegalHold of an unknown version: %v, want ErrNotFound", err)
	}
	if err := s.ExtendRetention(ctx, "nf/key", other.VersionID, until.Add(time.Hour)); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("ExtendRetention of an unknown version: %v, want ErrNotFound", err)
	}
}

func testConcurrentPuts(t *testing.T, s archive.ObjectStore) {
	const n = 8
	until := time.Now().Add(longRetention)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			body := []byte(fmt.Sprintf("writer %d", i))
			if _, err := s.Put(t.Context(), "busy", bytes.NewReader(body), int64(len(body)),
				archive.PutOptions{RetainUntil: until, SHA256: sum(body)}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Put: %v", err)
	}
	ids := versionIDs(t, s, "busy")
	slices.Sort(ids)
	if len(slices.Compact(ids)) != n {
		t.Fatalf("%d concurrent Puts left %d distinct versions", n, len(ids))
	}
}

// mustPut stores body under key with its SHA-256 set.
func mustPut(t *testing.T, s archive.ObjectStore, key string, body []byte, opts archive.PutOptions) archive.ObjectInfo {
	t.Helper()
	opts.SHA256 = sum(body)
	info, err := s.Put(t.Context(), key, bytes.NewReader(body), int64(len(body)), opts)
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	return info
}

func mustGet(t *testing.T, s archive.ObjectStore, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get %s: read: %v", key, err)
	}
	return b
}

func mustStat(t *testing.T, s archive.ObjectStore, key string) archive.ObjectInfo {
	t.Helper()
	info, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat %s: %v", key, err)
	}
	return info
}

func versionIDs(t *testing.T, s archive.ObjectStore, key string) []string {
	t.Helper()
	vs, err := s.Versions(t.Context(), key)
	if err != nil {
		t.Fatalf("Versions %s: %v", key, err)
	}
	ids := make([]string, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, v.VersionID)
	}
	return ids
}

// waitPast sleeps until retention set to until has passed on the store.
func waitPast(t *testing.T, until time.Time) {
	t.Helper()
	d := time.Until(until) + 250*time.Millisecond
	if d > maxWait {
		t.Fatalf("retain-until %s is %s away, more than the %s a test may wait", until, d, maxWait)
	}
	select {
	case <-time.After(d):
	case <-t.Context().Done():
		t.Fatal(context.Cause(t.Context()))
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
