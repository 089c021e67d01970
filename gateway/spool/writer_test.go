package spool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/gateway/spool"
)

func TestConcurrentAppends(t *testing.T) {
	s := mustOpen(t, t.TempDir(), spool.Options{})
	const goroutines, calls = 64, 40
	type span struct {
		first, last uint64
		recs        [][]byte
	}
	var (
		mu    sync.Mutex
		spans []span
		wg    sync.WaitGroup
	)
	for g := range goroutines {
		wg.Go(func() {
			for c := range calls {
				var recs [][]byte
				for r := range 1 + (g+c)%5 {
					recs = append(recs, fmt.Appendf(nil, "goroutine %d call %d record %d", g, c, r))
				}
				first, last, err := s.Append(context.Background(), recs)
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				spans = append(spans, span{first, last, recs})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// The ranges tile 1..N: unique, consecutive, one call's records contiguous.
	slices.SortFunc(spans, func(a, b span) int { return int(a.first) - int(b.first) })
	var want [][]byte
	for _, sp := range spans {
		if sp.first != uint64(len(want))+1 || sp.last-sp.first+1 != uint64(len(sp.recs)) {
			t.Fatalf("span %d..%d of %d records after lsn %d", sp.first, sp.last, len(sp.recs), len(want))
		}
		want = append(want, sp.recs...)
	}
	if s.LastLSN() != uint64(len(want)) {
		t.Fatalf("last lsn %d, want %d", s.LastLSN(), len(want))
	}
	checkRecords(t, readAll(t, s, 1), 1, want)
}

func TestGroupCommitBatches(t *testing.T) {
	s := mustOpen(t, t.TempDir(), spool.Options{})
	// An SSD's fsync takes about a millisecond; without the delay, tmpfs
	// fsyncs so fast that the writer never finds more than one append waiting.
	s.SetSyncDelay(time.Millisecond)
	const goroutines, calls = 64, 50
	rec := bytes.Repeat([]byte("x"), 1024)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				if _, _, err := s.Append(context.Background(), [][]byte{rec}); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	appends, fsyncs := int64(goroutines*calls), s.Fsyncs()
	t.Logf("%d appends, %d fsyncs (%.1f appends per fsync)", appends, fsyncs, float64(appends)/float64(fsyncs))
	if fsyncs*8 > appends {
		t.Fatalf("%d fsyncs for %d concurrent appends: group commit is not batching", fsyncs, appends)
	}
}

func TestBatchBytesBound(t *testing.T) {
	// Calls larger than BatchBytes still go through, one batch each.
	s := mustOpen(t, t.TempDir(), spool.Options{BatchBytes: 4096})
	big := payload(1, 10000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := s.Append(context.Background(), [][]byte{big, big}); err != nil {
				t.Errorf("append: %v", err)
			}
		})
	}
	wg.Wait()
	if s.Fsyncs() != 8 {
		t.Fatalf("%d fsyncs for 8 calls over the batch bound, want 8", s.Fsyncs())
	}
	for _, r := range readAll(t, s, 1) {
		if !bytes.Equal(r.Data, big) {
			t.Fatalf("lsn %d: wrong data", r.LSN)
		}
	}
}

func TestErrFullAndCommitFreesSpace(t *testing.T) {
	const recSize = 1000
	cost := int64(recSize + spool.FrameHeaderSize + spool.CommitFrameSize) // one record per call
	opts := spool.Options{MaxBytes: 10 * cost}                             // one file: no extra headers to count
	s := mustOpen(t, t.TempDir(), opts)
	var n int
	for ; n < 100; n++ {
		_, _, err := s.Append(context.Background(), [][]byte{payload(uint64(n+1), recSize)})
		if errors.Is(err, spool.ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != 10 {
		t.Fatalf("accepted %d records of %d bytes under a %d-byte limit, want 10", n, cost, opts.MaxBytes)
	}
	if s.Size() > opts.MaxBytes || s.LastLSN() != uint64(n) {
		t.Fatalf("after ErrFull: size %d (limit %d), last lsn %d (want %d)", s.Size(), opts.MaxBytes, s.LastLSN(), n)
	}
	if _, _, err := s.Append(context.Background(), [][]byte{make([]byte, opts.MaxBytes)}); !errors.Is(err, spool.ErrTooLarge) {
		t.Fatalf("append larger than the spool: %v, want ErrTooLarge", err)
	}

	// Uploading two records frees exactly their bytes, even inside a file.
	if err := s.Commit(3); err != nil {
		t.Fatal(err)
	}
	if want := 8 * cost; s.Size() != want {
		t.Fatalf("size after commit 3: %d, want %d", s.Size(), want)
	}
	for i := range 2 {
		if _, _, err := s.Append(context.Background(), [][]byte{payload(uint64(n+i+1), recSize)}); err != nil {
			t.Fatalf("append after commit: %v", err)
		}
	}
	if _, _, err := s.Append(context.Background(), [][]byte{payload(99, recSize)}); !errors.Is(err, spool.ErrFull) {
		t.Fatalf("append over the limit again: %v, want ErrFull", err)
	}
}

func TestAppendHonoursContext(t *testing.T) {
	s := mustOpen(t, t.TempDir(), spool.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Append(ctx, [][]byte{[]byte("x")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with cancelled ctx: %v", err)
	}
	if s.LastLSN() != 0 {
		t.Fatalf("cancelled append was written: last lsn %d", s.LastLSN())
	}
	if first, _ := mustAppend(t, s, []byte("y")); first != 1 {
		t.Fatalf("next append got lsn %d, want 1", first)
	}
}

func TestCloseFlushesAndRefuses(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.Options{}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spool.Open(dir, spool.Options{}, testLog(t)); err == nil {
		t.Fatal("second Open of a spool in use succeeded")
	}
	type ack struct {
		first uint64
		data  []byte
	}
	acks := make(chan ack, 1000)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				data := fmt.Appendf(nil, "g%d-%d", g, i)
				first, _, err := s.Append(context.Background(), [][]byte{data})
				if errors.Is(err, spool.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				select {
				case acks <- ack{first, data}:
				default:
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(acks)
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, _, err := s.Append(context.Background(), [][]byte{{1}}); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := s.Read(context.Background(), 1, 1, 0); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := s.Commit(1); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("commit after close: %v", err)
	}
	s = mustOpen(t, dir, spool.Options{})
	for a := range acks {
		recs, err := s.Read(context.Background(), a.first, 1, 0)
		if err != nil || !bytes.Equal(recs[0].Data, a.data) {
			t.Fatalf("acknowledged lsn %d lost after close: %v", a.first, err)
		}
	}
}
