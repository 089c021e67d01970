package gateway

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/holdfast/holdfast/archive"
)

// Pebble removes its obsolete files through reclaimingFS and treats a
// missing file as already removed.
func TestReclaimingFSRemovesAndReportsMissingFiles(t *testing.T) {
	rfs := reclaimingFS{vfs.Default}
	path := filepath.Join(t.TempDir(), "000001.sst")
	if err := os.WriteFile(path, make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rfs.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after Remove: stat %v, want not exist", err)
	}
	if err := rfs.Remove(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove of a missing file: %v, want a not-exist error", err)
	}
}

// keysWithPrefix counts the ledger's keys that start with p.
func keysWithPrefix(t *testing.T, l *ledger, p byte) int {
	t.Helper()
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n
}

// A send or an explicit version is found under its version key; only an
// event without a version of its own gets an event key.
func TestLedgerEventKeysOnlyForUnversionedEvents(t *testing.T) {
	l := mustOpenLedger(t, filepath.Join(t.TempDir(), "ledger"))
	assignAndCommit(t, l, ledgerRecords(100, archive.ActionSend))
	explicit := ledgerRecords(10, archive.ActionEdit)
	for _, r := range explicit {
		r.explicit, r.msg.Version = true, 5
	}
	assignAndCommit(t, l, explicit)
	if n := keysWithPrefix(t, l, 'e'); n != 0 {
		t.Fatalf("%d event keys after sends and explicit versions, want 0", n)
	}
	assignAndCommit(t, l, ledgerRecords(10, archive.ActionEdit))
	if n := keysWithPrefix(t, l, 'e'); n != 10 {
		t.Fatalf("%d event keys after 10 edits without a version, want 10", n)
	}

	// Each is still a duplicate when sent again, and a different event
	// naming a version already held is refused.
	again := append(append(ledgerRecords(100, archive.ActionSend), explicit[0]), ledgerRecords(10, archive.ActionEdit)...)
	for _, r := range again {
		r.duplicate = false
	}
	if e := l.assign(again, func(m *archive.Message) { m.Seal() }); e != nil {
		t.Fatal(e)
	}
	for i, r := range again {
		if !r.duplicate || r.msg.SHA256 == "" {
			t.Fatalf("record %d sent again: duplicate %v sha %q", i, r.duplicate, r.msg.SHA256)
		}
	}
	other := ledgerRecords(1, archive.ActionDelete)
	other[0].explicit, other[0].msg.Version = true, 5
	if e := l.assign(other, func(m *archive.Message) { m.Seal() }); e == nil || e.Status != http.StatusConflict {
		t.Fatalf("a delete claiming the version an edit holds: %v, want 409", e)
	}
}

// Once a batch is located, a version reads as stored in its segment and
// frame; a location written for another version at the same LSN (a spool
// started over) is not applied to it.
func TestLedgerLocateAndResolve(t *testing.T) {
	l := mustOpenLedger(t, filepath.Join(t.TempDir(), "ledger"))
	recs := ledgerRecords(1200, archive.ActionSend)
	assignAndCommit(t, l, recs) // LSNs 1..1200
	located := [][]ledgerEntry{nil, nil}
	for i, r := range recs {
		e := ledgerEntry{ID: r.msg.ID, Version: r.msg.Version, SHA256: r.msg.SHA256, LSN: uint64(i + 1),
			Entry: archive.ManifestEntry{FrameOffset: int64(i / 100 * 4096), FrameLength: 4096, Pos: i % 100 * 40, Len: 40}}
		located[i%2] = append(located[i%2], e)
	}
	if e, err := l.version(recs[7].msg.ID, 0); err != nil || e.Segment != "" || e.LSN != 8 {
		t.Fatalf("before locate: %+v, %v; want spooled at lsn 8", e, err)
	}
	if err := l.locate(1, []string{"seg-even", "seg-odd"}, located); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 7, 1199} {
		got, err := l.versions(recs[i].msg.ID)
		if err != nil || len(got) != 1 {
			t.Fatalf("versions of record %d: %+v, %v", i, got, err)
		}
		e := got[0]
		want := []string{"seg-even", "seg-odd"}[i%2]
		if e.Segment != want || e.LSN != 0 || e.Entry.FrameOffset != int64(i/100*4096) || e.Entry.Pos != i%100*40 || e.Entry.Len != 40 ||
			e.Entry.ID != recs[i].msg.ID || e.Entry.SHA256 != recs[i].msg.SHA256 {
			t.Fatalf("record %d located as %+v", i, e)
		}
	}

	// The spool starts over at LSN 1: a new version spooled there is not
	// the one located at LSN 1 before.
	fresh := ledgerRecords(1, archive.ActionSend)
	fresh[0].msg.SourceID = "after the spool started over"
	assignAndCommit(t, l, fresh)
	if e, err := l.version(fresh[0].msg.ID, 0); err != nil || e.Segment != "" || e.LSN != 1 {
		t.Fatalf("new version at a located LSN: %+v, %v; want spooled at lsn 1", e, err)
	}
}
