package spool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/gateway/spool"
)

func testLog(t *testing.T) *logrus.Entry {
	t.Helper()
	l := logrus.New()
	l.SetLevel(logrus.DebugLevel)
	l.SetOutput(testWriter{t})
	return logrus.NewEntry(l)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// mustOpen opens the spool in dir and closes it when the test ends.
func mustOpen(t *testing.T, dir string, opts spool.Options) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, opts, testLog(t))
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t *testing.T, s *spool.Spool, recs ...[]byte) (uint64, uint64) {
	t.Helper()
	first, last, err := s.Append(context.Background(), recs)
	if err != nil {
		t.Fatalf("append %d records: %v", len(recs), err)
	}
	if got := last - first + 1; got != uint64(len(recs)) {
		t.Fatalf("append %d records: got lsn %d..%d", len(recs), first, last)
	}
	return first, last
}

// readAll reads every record from from to LastLSN, in small reads.
func readAll(t *testing.T, s *spool.Spool, from uint64) []spool.Record {
	t.Helper()
	var out []spool.Record
	for from <= s.LastLSN() {
		recs, err := s.Read(context.Background(), from, 37, 64<<10)
		if err != nil {
			t.Fatalf("read from %d: %v", from, err)
		}
		for i, r := range recs {
			if r.LSN != from+uint64(i) {
				t.Fatalf("read from %d: record %d has lsn %d", from, i, r.LSN)
			}
		}
		out = append(out, recs...)
		from += uint64(len(recs))
	}
	return out
}

// payload is the deterministic content of test record lsn.
func payload(lsn uint64, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(lsn, 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// checkRecords asserts that recs are exactly want, in order.
func checkRecords(t *testing.T, recs []spool.Record, from uint64, want [][]byte) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if r.LSN != from+uint64(i) || !bytes.Equal(r.Data, want[i]) {
			t.Fatalf("record %d: lsn %d, %d bytes; want lsn %d, %d bytes", i, r.LSN, len(r.Data), from+uint64(i), len(want[i]))
		}
	}
}

func TestAppendReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, spool.Options{})
	if s.Watermark() != 1 || s.LastLSN() != 0 {
		t.Fatalf("new spool: watermark %d, last %d; want 1, 0", s.Watermark(), s.LastLSN())
	}
	want := [][]byte{[]byte("a"), {}, payload(3, 100<<10), []byte("中文消息"), payload(5, 1000)}
	if first, last := mustAppend(t, s, want[:1]...); first != 1 || last != 1 {
		t.Fatalf("first append: lsn %d..%d, want 1..1", first, last)
	}
	if first, last := mustAppend(t, s, want[1:]...); first != 2 || last != 5 {
		t.Fatalf("second append: lsn %d..%d, want 2..5", first, last)
	}
	recs, err := s.Read(context.Background(), 1, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, recs, 1, want)

	// Limits: max records, and about maxBytes but at least one record.
	if recs, _ := s.Read(context.Background(), 2, 2, 0); len(recs) != 2 || recs[0].LSN != 2 {
		t.Fatalf("read max 2 from 2: got %d records", len(recs))
	}
	if recs, _ := s.Read(context.Background(), 3, 10, 1); len(recs) != 1 || recs[0].LSN != 3 {
		t.Fatalf("read maxBytes 1 from 3: got %d records, want exactly lsn 3", len(recs))
	}
	if recs, _ := s.Read(context.Background(), 1, 10, 2); len(recs) != 2 {
		t.Fatalf("read maxBytes 2 from 1: got %d records, want 2 (1 byte + empty)", len(recs))
	}

	// Everything survives a clean reopen, and LSNs continue.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, spool.Options{})
	checkRecords(t, readAll(t, s, 1), 1, want)
	if first, _ := mustAppend(t, s, []byte("after reopen")); first != 6 {
		t.Fatalf("append after reopen: lsn %d, want 6", first)
	}
}

func TestReadFromAnyLSNAcrossFilesAndIndex(t *testing.T) {
	// Enough data for several files, each with several sparse index entries.
	opts := spool.Options{FileBytes: 3 * spool.IndexInterval}
	s := mustOpen(t, t.TempDir(), opts)
	var want [][]byte
	for call := 0; len(want) < 3000; call++ {
		var recs [][]byte
		for range 1 + call%7 {
			lsn := uint64(len(want) + len(recs) + 1)
			recs = append(recs, payload(lsn, 100+int(lsn%2000)))
		}
		mustAppend(t, s, recs...)
		want = append(want, recs...)
	}
	if n := len(s.FilePaths()); n < 3 {
		t.Fatalf("got %d files, want several", n)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		from := 1 + r.Uint64N(uint64(len(want)))
		n := 1 + r.IntN(50)
		recs, err := s.Read(context.Background(), from, n, 0)
		if err != nil {
			t.Fatalf("read %d from %d: %v", n, from, err)
		}
		end := min(int(from)-1+n, len(want))
		checkRecords(t, recs, from, want[from-1:end])
	}
}

func TestCommitDeletesFilesAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	opts := spool.Options{FileBytes: 4096}
	s := mustOpen(t, dir, opts)
	var want [][]byte
	for lsn := uint64(1); lsn <= 100; lsn++ {
		want = append(want, payload(lsn, 500))
		mustAppend(t, s, want[lsn-1])
	}
	before := len(walFiles(t, dir))
	if before < 10 {
		t.Fatalf("%d files, want at least 10", before)
	}
	sizeBefore := s.Size()
	if err := s.Commit(50); err != nil {
		t.Fatal(err)
	}
	checkNoFileBelow(t, dir, 50)
	if n := len(walFiles(t, dir)); n >= before {
		t.Fatalf("commit 50 kept all %d files", n)
	}
	if s.Size() >= sizeBefore {
		t.Fatalf("size %d after commit, %d before", s.Size(), sizeBefore)
	}
	if _, err := s.Read(context.Background(), 49, 1, 0); !errors.Is(err, spool.ErrCompacted) {
		t.Fatalf("read below watermark: %v, want ErrCompacted", err)
	}
	if err := s.Commit(40); err == nil {
		t.Fatal("commit moved the watermark backwards")
	}
	if err := s.Commit(102); err == nil {
		t.Fatal("commit past the last lsn succeeded")
	}
	if err := s.Commit(50); err != nil {
		t.Fatalf("repeated commit: %v", err)
	}

	s.Close()
	s = mustOpen(t, dir, opts)
	if s.Watermark() != 50 || s.LastLSN() != 100 {
		t.Fatalf("reopened: watermark %d, last %d; want 50, 100", s.Watermark(), s.LastLSN())
	}
	checkRecords(t, readAll(t, s, 50), 50, want[49:])

	// Committing everything leaves only the file being written, and no live bytes.
	if err := s.Commit(101); err != nil {
		t.Fatal(err)
	}
	if n := len(walFiles(t, dir)); n != 1 || s.Size() != 0 {
		t.Fatalf("after committing everything: %d files, size %d; want 1 file, size 0", n, s.Size())
	}
	s.Close()
	s = mustOpen(t, dir, opts)
	if first, _ := mustAppend(t, s, []byte("next")); first != 101 {
		t.Fatalf("append after emptying and reopening: lsn %d, want 101", first)
	}
}

// A committed file leaves the WAL at once and the disk after a grace
// period, shrunk first (fsutil.Reclaim); one a stop left behind goes at the
// next Open.
func TestCommittedFilesAreReclaimed(t *testing.T) {
	dir := t.TempDir()
	opts := spool.Options{FileBytes: 4096}
	s := mustOpen(t, dir, opts)
	appendPayloads(t, s, 1, 40)
	if err := s.Commit(30); err != nil {
		t.Fatal(err)
	}
	checkNoFileBelow(t, dir, 30)
	retired := func() []string {
		names, err := filepath.Glob(filepath.Join(dir, "*.reclaim"))
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if len(retired()) == 0 {
		t.Fatal("commit retired no file")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(retired()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("retired files still on disk after 10s: %v", retired())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Stopped before the grace period ends: the next Open deletes them.
	if err := s.Commit(41); err != nil {
		t.Fatal(err)
	}
	left := retired()
	if len(left) == 0 {
		t.Fatal("commit retired no file")
	}
	s.Close()
	if got := retired(); len(got) != len(left) {
		t.Fatalf("retired files after Close: %v, want %v left for the next Open", got, left)
	}
	s = mustOpen(t, dir, opts)
	if got := retired(); len(got) != 0 {
		t.Fatalf("retired files after reopening: %v", got)
	}
	if first, _ := mustAppend(t, s, []byte("next")); first != 41 {
		t.Fatalf("append after reopening: lsn %d, want 41", first)
	}
}

func TestReopenDeletesFilesBelowWatermark(t *testing.T) {
	// A crash between Commit's state write and its deletes leaves old files.
	dir := t.TempDir()
	opts := spool.Options{FileBytes: 4096}
	s := mustOpen(t, dir, opts)
	appendPayloads(t, s, 1, 60)
	s.Close()
	if err := spool.WriteWatermark(dir, 30); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, opts)
	checkNoFileBelow(t, dir, 30)
	if s.Watermark() != 30 || s.LastLSN() != 60 {
		t.Fatalf("watermark %d, last %d; want 30, 60", s.Watermark(), s.LastLSN())
	}
	recs := readAll(t, s, 30)
	if len(recs) != 31 || !bytes.Equal(recs[0].Data, payload(30, 500)) {
		t.Fatalf("read from watermark: %d records", len(recs))
	}
}

func TestIntentPersists(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, spool.Options{})
	for lsn := uint64(1); lsn <= 10; lsn++ {
		mustAppend(t, s, payload(lsn, 10))
	}
	if _, ok := s.Intent(); ok {
		t.Fatal("new spool has an intent")
	}
	for _, bad := range []spool.Intent{{From: 2, To: 5}, {From: 1, To: 1}, {From: 1, To: 12}} {
		if err := s.SetIntent(bad); err == nil {
			t.Fatalf("SetIntent(%+v) succeeded", bad)
		}
	}
	in := spool.Intent{From: 1, To: 6, Note: "tenant-a/2026-03-01/seg-000001"}
	if err := s.SetIntent(in); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, dir, spool.Options{})
	if got, ok := s.Intent(); !ok || got != in {
		t.Fatalf("intent after reopen: %+v %v, want %+v", got, ok, in)
	}
	if err := s.Commit(in.To); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Intent(); ok {
		t.Fatal("commit to the intent's end kept the intent")
	}
	if err := s.SetIntent(spool.Intent{From: 6, To: 11}); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearIntent(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, dir, spool.Options{})
	if got, ok := s.Intent(); ok || s.Watermark() != 6 {
		t.Fatalf("after commit, clear and reopen: intent %+v %v, watermark %d; want none, 6", got, ok, s.Watermark())
	}
}

func TestReadBlocksUntilAppend(t *testing.T) {
	s := mustOpen(t, t.TempDir(), spool.Options{})
	got := make(chan []spool.Record, 1)
	go func() {
		recs, err := s.Read(context.Background(), 1, 10, 0)
		if err != nil {
			t.Errorf("read: %v", err)
		}
		got <- recs
	}()
	select {
	case <-got:
		t.Fatal("read returned before any append")
	case <-time.After(50 * time.Millisecond):
	}
	mustAppend(t, s, []byte("hello"))
	select {
	case recs := <-got:
		if len(recs) != 1 || string(recs[0].Data) != "hello" {
			t.Fatalf("read %v", recs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read still blocked after append")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Read(ctx, 2, 10, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read with expiring ctx: %v, want DeadlineExceeded", err)
	}

	// Close wakes a blocked Read.
	errc := make(chan error, 1)
	go func() {
		_, err := s.Read(context.Background(), 2, 10, 0)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	if err := <-errc; !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("blocked read at close: %v, want ErrClosed", err)
	}
}

// walFiles returns the WAL file names in dir.
// appendPayloads appends the 500-byte payloads of LSNs from..to, one per
// call.
func appendPayloads(t *testing.T, s *spool.Spool, from, to uint64) {
	t.Helper()
	for lsn := from; lsn <= to; lsn++ {
		mustAppend(t, s, payload(lsn, 500))
	}
}

func walFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// checkNoFileBelow asserts that no file in dir holds only LSNs below wm.
func checkNoFileBelow(t *testing.T, dir string, wm uint64) {
	t.Helper()
	var firsts []uint64
	for _, p := range walFiles(t, dir) {
		var first uint64
		if _, err := fmt.Sscanf(filepath.Base(p), "%020d.wal", &first); err != nil {
			t.Fatal(err)
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	if len(firsts) > 1 && firsts[1] <= wm {
		t.Fatalf("file %s holds only lsns below the watermark %d", spool.FileName(firsts[0]), wm)
	}
	if firsts[0] > wm {
		t.Fatalf("first file starts at %d, above the watermark %d", firsts[0], wm)
	}
}
