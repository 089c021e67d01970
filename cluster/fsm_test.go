package cluster

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/holdfast/holdfast/archive"
)

func mustOpenFSM(t *testing.T) *fsm {
	t.Helper()
	f, err := openFSM(filepath.Join(t.TempDir(), fsmFile), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.close() })
	return f
}

func sealLog(t *testing.T, index uint64, segs ...archive.Segment) *raft.Log {
	t.Helper()
	data, err := encodeCommand(Command{Op: OpSegmentSealed, Segments: segs})
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

func mustApply(t *testing.T, f *fsm, l *raft.Log) *applyResult {
	t.Helper()
	res, _ := f.Apply(l).(*applyResult)
	if res != nil && res.err != nil {
		t.Fatalf("apply index %d: %v", l.Index, res.err)
	}
	return res
}

func TestFSMSkipsAppliedEntries(t *testing.T) {
	f := mustOpenFSM(t)
	mustApply(t, f, sealLog(t, 5, testSegment(0)))
	// A replay of index 5 (whatever it carries) is already in the catalog.
	if res := f.Apply(sealLog(t, 5, testSegment(1))); res != nil {
		t.Fatalf("replayed entry answered %v, want nil", res)
	}
	if _, ok, _ := f.segment(testSegment(1).Key); ok {
		t.Fatal("a replayed entry was applied twice")
	}
	// A batch that straddles the applied index applies only the new part.
	resps := f.ApplyBatch([]*raft.Log{
		sealLog(t, 4, testSegment(7)),
		sealLog(t, 6, testSegment(1)),
		{Index: 7, Term: 1, Type: raft.LogConfiguration},
	})
	if resps[0] != nil || resps[1].(*applyResult).added != 1 || resps[2] != nil {
		t.Fatalf("responses %v", resps)
	}
	if f.applied.Load() != 7 || f.lastSeq.Load() != 2 {
		t.Fatalf("applied %d, last seq %d; want 7, 2", f.applied.Load(), f.lastSeq.Load())
	}
}

func TestFSMUnknownOpPanics(t *testing.T) {
	f := mustOpenFSM(t)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `unknown command op "segment_melted"`) {
			t.Fatalf("recovered %v, want an unknown-op panic", r)
		}
	}()
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte(`{"v":1,"op":"segment_melted"}`)})
}

func TestFSMNewerCommandVersionPanics(t *testing.T) {
	f := mustOpenFSM(t)
	defer func() {
		if recover() == nil {
			t.Fatal("a command from a newer version was applied")
		}
	}()
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte(`{"v":2,"op":"segment_sealed"}`)})
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

func TestFSMSnapshotRestoreIntoFreshFSM(t *testing.T) {
	src := mustOpenFSM(t)
	for i := range 10 {
		mustApply(t, src, sealLog(t, uint64(i+1), testSegments(i*10, 10)...))
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot is taken are not in it.
	mustApply(t, src, sealLog(t, 11, testSegment(1000)))
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed %v, cancelled %v", sink.closed, sink.cancelled)
	}

	dst := mustOpenFSM(t)
	mustApply(t, dst, sealLog(t, 1, testSegment(5000))) // state to be discarded
	changed := dst.changes()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Restore did not fire Changed")
	}
	if dst.applied.Load() != 10 || dst.lastSeq.Load() != 100 {
		t.Fatalf("restored applied %d, last seq %d; want 10, 100", dst.applied.Load(), dst.lastSeq.Load())
	}
	if _, ok, _ := dst.segment(testSegment(5000).Key); ok {
		t.Fatal("state from before the restore survived it")
	}
	if _, ok, _ := dst.segment(testSegment(1000).Key); ok {
		t.Fatal("a write after the snapshot is in it")
	}
	want, _ := src.after(0, 100)
	got, _ := dst.after(0, 1000)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored catalog has %d entries, want the first 100 of the source", len(got))
	}
	if c, _ := dst.count(); c != 100 {
		t.Fatalf("restored count %d, want 100", c)
	}
	// The restored catalog keeps assigning seqs where it left off.
	mustApply(t, dst, sealLog(t, 11, testSegment(2000)))
	if dst.lastSeq.Load() != 101 {
		t.Fatalf("seq after restore %d, want 101", dst.lastSeq.Load())
	}
}

func TestFSMRestoreRejectsGarbage(t *testing.T) {
	f := mustOpenFSM(t)
	mustApply(t, f, sealLog(t, 1, testSegment(0)))
	err := f.Restore(io.NopCloser(strings.NewReader(strings.Repeat("not a bolt file ", 1024))))
	if err == nil {
		t.Fatal("Restore accepted garbage")
	}
	if _, ok, err := f.segment(testSegment(0).Key); !ok || err != nil {
		t.Fatalf("catalog after a failed restore: found %v, %v", ok, err)
	}
}

func TestRetainIndex(t *testing.T) {
	f := mustOpenFSM(t)
	var segs []archive.Segment
	for i, until := range []time.Time{
		time.Date(2032, 1, 3, 0, 0, 0, 0, time.UTC),
		time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC),
		{}, // zero: sorts first
		time.Date(2032, 1, 2, 0, 0, 0, 0, time.UTC),
	} {
		s := testSegment(i)
		s.RetainUntil = until
		segs = append(segs, s)
	}
	mustApply(t, f, sealLog(t, 1, segs...))
	keys, err := f.retainedUntil(time.Date(2032, 1, 2, 12, 0, 0, 0, time.UTC), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{segs[2].Key, segs[1].Key, segs[3].Key}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("retained before 2032-01-02T12: %v, want %v", keys, want)
	}
}

func TestCatalogNeedsSnapshot(t *testing.T) {
	logs := raft.NewInmemStore()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(t.TempDir(), 1, newRaftLogger(testLog(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := logs.StoreLogs([]*raft.Log{
		{Index: 1, Type: raft.LogConfiguration},
		{Index: 2, Type: raft.LogCommand},
		{Index: 3, Type: raft.LogNoop},
		{Index: 4, Type: raft.LogBarrier},
		{Index: 5, Type: raft.LogCommand},
	}); err != nil {
		t.Fatal(err)
	}
	sink, err := snaps.Create(raft.SnapshotVersionMax, 4, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		applied uint64
		want    bool
		wantErr bool
	}{
		{applied: 0, want: true},    // catalog lost
		{applied: 1, want: true},    // a command between catalog and snapshot
		{applied: 2, want: false},   // only a no-op and a barrier in between
		{applied: 4, want: false},   // as new as the snapshot
		{applied: 5, want: false},   // newer than the snapshot
		{applied: 9, wantErr: true}, // ahead of all raft state
	} {
		got, err := catalogNeedsSnapshot(tc.applied, logs, snaps)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("applied %d: got %v, %v; want %v, error %v", tc.applied, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestLogStore(t *testing.T) {
	s, err := openLogStore(filepath.Join(t.TempDir(), raftFile))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("missing stable key: %v, want raft's \"not found\"", err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); v != 7 || err != nil {
		t.Fatalf("GetUint64 = %d, %v", v, err)
	}
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 2, Type: raft.LogCommand, Data: []byte{byte(i)},
			AppendedAt: time.Date(2025, 1, 1, 0, 0, int(i), 0, time.UTC)})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 4); err != nil {
		t.Fatal(err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 5 || last != 10 {
		t.Fatalf("first %d, last %d; want 5, 10", first, last)
	}
	var got raft.Log
	if err := s.GetLog(7, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, logs[6]) {
		t.Fatalf("GetLog(7) = %+v, want %+v", got, *logs[6])
	}
	if err := s.GetLog(3, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(deleted) = %v, want ErrLogNotFound", err)
	}
}
