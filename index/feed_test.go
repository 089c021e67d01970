package index

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

func TestIndexSegmentIdempotent(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	msgs := spread(300, 2)
	msgs = append(msgs, msg("s00007", "edited", day0.AddDate(0, 2, 0), platform(msgs[7].Platform), version(1, archive.ActionEdit)))
	seg, data := segment(t, c, msgs...)
	for i := range 2 {
		if err := ix.IndexSegment(7, seg, data); err != nil {
			t.Fatal(err)
		}
		if res := mustSearch(t, ix, Request{}); res.Total != 300 {
			t.Fatalf("after indexing %d times: latest total %d, want 300", i+1, res.Total)
		}
		if res := mustSearch(t, ix, Request{AllVersions: true}); res.Total != 301 {
			t.Fatalf("after indexing %d times: all versions %d, want 301", i+1, res.Total)
		}
	}
	// An older sequence number never moves the checkpoint back.
	if err := ix.IndexSegment(3, seg, data); err != nil || ix.Checkpoint() != 7 {
		t.Fatalf("checkpoint %d, err %v; want 7", ix.Checkpoint(), err)
	}
}

func TestIndexSegmentRejectsCorruption(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	seg, data := segment(t, c, msg("1", "hello", day0))
	bad := append([]byte(nil), data...)
	bad[10] ^= 0xff
	if err := ix.IndexSegment(1, seg, bad); !errors.Is(err, archive.ErrCorrupt) {
		t.Fatalf("corrupt object: %v, want ErrCorrupt", err)
	}
	seg.SHA256 = "" // without the catalog's hash, the records' own hashes catch it
	if err := ix.IndexSegment(1, seg, bad); !errors.Is(err, archive.ErrCorrupt) {
		t.Fatalf("corrupt record: %v, want ErrCorrupt", err)
	}
	if ix.Checkpoint() != 0 {
		t.Fatalf("checkpoint moved to %d", ix.Checkpoint())
	}
}

func TestCheckpointSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ix, c := mustOpen(t, dir), mustCodec(t)
	mustIndex(t, ix, c, 41, msg("1", "persisted words", day0))
	mustIndex(t, ix, c, 42, msg("2", "more persisted words", day0.AddDate(0, 1, 0)))
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := ix.Search(context.Background(), Request{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("search after Close: %v", err)
	}
	ix = mustOpen(t, dir)
	if ix.Checkpoint() != 42 {
		t.Fatalf("checkpoint after reopen %d, want 42", ix.Checkpoint())
	}
	wantTexts(t, ix, Request{Query: "persisted"}, "persisted words", "more persisted words")
}

// TestCrashBeforeCheckpoint kills a process after a segment's documents
// are persisted and before its checkpoint is committed, then indexes the
// segment again, as the follower does on restart.
func TestCrashBeforeCheckpoint(t *testing.T) {
	if dir := os.Getenv("HOLDFAST_INDEX_CRASH_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashBeforeCheckpoint$")
	cmd.Env = append(os.Environ(), "HOLDFAST_INDEX_CRASH_DIR="+dir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child: %v\n%s", err, out)
	}

	ix, c := mustOpen(t, dir), mustCodec(t)
	if ix.Checkpoint() != 1 {
		t.Fatalf("checkpoint after crash %d, want 1", ix.Checkpoint())
	}
	// The crashed segment's documents may be there, but the follower
	// indexes it again from the checkpoint.
	m1, m2 := crashSegments()
	mustIndex(t, ix, c, 2, m2...)
	if ix.Checkpoint() != 2 {
		t.Fatalf("checkpoint %d, want 2", ix.Checkpoint())
	}
	wantTexts(t, ix, Request{Query: "crash"}, "crash test edited", "crash test two")
	if res := mustSearch(t, ix, Request{AllVersions: true}); res.Total != uint64(len(m1)+len(m2)) {
		t.Fatalf("all versions: %d, want %d", res.Total, len(m1)+len(m2))
	}
	vs, err := ix.Versions(m1[0].ID)
	if err != nil || len(vs) != 2 || vs[0].Latest || !vs[1].Latest {
		t.Fatalf("versions after crash: %+v, %v", vs, err)
	}
}

func crashSegments() ([]archive.Message, []archive.Message) {
	m1 := []archive.Message{msg("a", "crash test one", day0)}
	m2 := []archive.Message{
		msg("a", "crash test edited", day0.AddDate(0, 1, 0), version(1, archive.ActionEdit)),
		msg("b", "crash test two", day0.AddDate(0, 1, 0)),
	}
	return m1, m2
}

func crashChild(dir string) {
	c, err := archive.NewCodec()
	if err != nil {
		panic(err)
	}
	ix, err := Open(Config{Dir: dir}, testLog())
	if err != nil {
		panic(err)
	}
	m1, m2 := crashSegments()
	t := &testing.T{}
	s1, d1 := segment(t, c, m1...)
	s2, d2 := segment(t, c, m2...)
	if err := ix.IndexSegment(1, s1, d1); err != nil {
		panic(err)
	}
	testHookBeforeCommit = func(uint64) { os.Exit(3) }
	err = ix.IndexSegment(2, s2, d2)
	panic(fmt.Sprintf("IndexSegment returned %v instead of crashing", err))
}

func TestDeleteSegmentAndDropPartition(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	mustIndex(t, ix, c, 1,
		msg("a", "apple original", day0),
		msg("b", "banana", day0),
		msg("c", "cherry in march", day0))
	s2, d2 := segment(t, c,
		msg("a", "apple edited", day0.AddDate(0, 1, 0), version(1, archive.ActionEdit)),
		msg("d", "date in april", day0.AddDate(0, 1, 0)))
	if err := ix.IndexSegment(2, s2, d2); err != nil {
		t.Fatal(err)
	}
	wantTexts(t, ix, Request{}, "apple edited", "banana", "cherry in march", "date in april")

	// Deleting the segment of the edit makes the original the latest again.
	n, err := ix.DeleteSegment(s2.Key)
	if err != nil || n != 2 {
		t.Fatalf("DeleteSegment = %d, %v; want 2", n, err)
	}
	wantTexts(t, ix, Request{}, "apple original", "banana", "cherry in march")
	if n, err := ix.DeleteSegment(s2.Key); err != nil || n != 0 {
		t.Fatalf("second DeleteSegment = %d, %v", n, err)
	}
	if vs, err := ix.Versions(msg("a", "", day0).ID); err != nil || len(vs) != 1 || !vs[0].Latest {
		t.Fatalf("versions after delete: %+v, %v", vs, err)
	}

	// Index it again, then drop April: the same.
	if err := ix.IndexSegment(2, s2, d2); err != nil {
		t.Fatal(err)
	}
	wantTexts(t, ix, Request{}, "apple edited", "banana", "cherry in march", "date in april")
	if err := ix.DropPartition("2026-04"); err != nil {
		t.Fatal(err)
	}
	wantTexts(t, ix, Request{}, "apple original", "banana", "cherry in march")
	if got := ix.Partitions(); len(got) != 1 || got[0] != "2026-03" {
		t.Fatalf("partitions %v", got)
	}
	if err := ix.DropPartition("2026-04"); err != nil {
		t.Fatalf("dropping twice: %v", err)
	}
	// A new April message creates the partition again.
	mustIndex(t, ix, c, 3, msg("e", "elderberry in april", day0.AddDate(0, 1, 0)))
	wantTexts(t, ix, Request{From: day0.AddDate(0, 1, -9)}, "elderberry in april")
}

func TestSearchWhileIndexing(t *testing.T) {
	ix, c := mustOpen(t, t.TempDir()), mustCodec(t)
	msgs := spread(1000, 3)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				r := Request{Query: "message", Size: 20, Facets: true}
				if _, err := ix.Search(ctx, r); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := 0; i < len(msgs); i += 200 {
		mustIndex(t, ix, c, uint64(i/200+1), msgs[i:i+200]...)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if res := mustSearch(t, ix, Request{Query: "message"}); res.Total != 1000 {
		t.Fatalf("total %d", res.Total)
	}
	// Close waits for a running search and then refuses new ones.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := ix.Search(context.Background(), Request{}); errors.Is(err, ErrClosed) {
				return
			}
		}
	}()
	time.Sleep(10 * time.Millisecond)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
}
