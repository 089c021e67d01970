package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/holdfast/holdfast/archive"
)

func TestAppliedTrackerFollowsTheCompletePrefix(t *testing.T) {
	a := newAppliedTracker(10)
	if a.upTo() != 9 {
		t.Fatalf("fresh tracker at %d, want 9", a.upTo())
	}
	a.mark(15, 19) // a later request committed first
	if a.upTo() != 9 {
		t.Fatalf("after a range beyond a gap: %d, want 9", a.upTo())
	}
	a.mark(10, 14)
	if a.upTo() != 19 {
		t.Fatalf("gap filled: %d, want 19", a.upTo())
	}
	a.mark(3, 5) // before the start: ignored
	a.mark(20, 20)
	if a.upTo() != 20 {
		t.Fatalf("after 20: %d", a.upTo())
	}
}

// ingestBacklog accepts n messages in batches with storage down.
func ingestBacklog(t *testing.T, n *testNode, prefix string, count int) {
	t.Helper()
	for i := 0; i < count; i += 100 {
		var b strings.Builder
		for j := i; j < min(i+100, count); j++ {
			b.WriteString(msg(fmt.Sprintf("%s-%d", prefix, j), "backlog") + "\n")
		}
		n.ingest("/v1/messages", "application/x-ndjson", []byte(b.String()))
	}
}

// Build 11 / Found 13 of issue 11: a restart replays into the ledger only
// what the ledger may have lost — the records after its checkpoint — not
// the whole un-uploaded spool, and the records of the backlog are still
// duplicates after it and uploaded once storage returns.
func TestRestartReplaysOnlyAfterTheLedgerCheckpoint(t *testing.T) {
	dir := t.TempDir()
	store := mustOpenStore(t)
	store.down.Store(true)
	n := mustStartNode(t, dir, store)
	ingestBacklog(t, n, "b", 1500)
	// The checkpoint moves on its own while storage is down.
	waitFor(t, "the ledger checkpoint to reach the end of the spool", func() bool {
		cp, ok, err := n.gw.ledger.checkpoint()
		return err == nil && ok && cp == n.gw.spool.LastLSN()
	})
	ingestBacklog(t, n, "tail", 10)
	n.stop()

	n2 := mustStartNode(t, dir, store)
	if pending := n2.gw.spool.LastLSN() + 1 - n2.gw.spool.Watermark(); pending < 1510 {
		t.Fatalf("only %d records spooled after the restart, want the whole backlog", pending)
	}
	if n2.gw.replayed > 10 {
		t.Fatalf("the restart replayed %d records into the ledger; the checkpoint covered all but at most the last 10", n2.gw.replayed)
	}
	for _, id := range []string{"b-0", "b-1499", "tail-9"} {
		again := n2.ingest("/v1/messages", "", []byte(msg(id, "backlog")))
		if !again[0].Duplicate {
			t.Fatalf("%s is not a duplicate after the restart", id)
		}
	}
	store.down.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n2.gw.WaitStored(ctx); err != nil {
		t.Fatal(err)
	}
	got := storedRecords(t, store)
	if len(got) != 1510 {
		t.Fatalf("stored %d versions, want 1510", len(got))
	}
	for k, c := range got {
		if c != 1 {
			t.Fatalf("%s stored %d times", k, c)
		}
	}
}

// What the ledger lost after its checkpoint (unsynced writes, a crash)
// comes back from the spool at the next start.
func TestRestartReplaysWhatTheLedgerLostAfterTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	store := mustOpenStore(t)
	store.down.Store(true)
	n := mustStartNode(t, dir, store)
	ingestBacklog(t, n, "kept", 200)
	waitFor(t, "the ledger checkpoint to reach the end of the spool", func() bool {
		cp, ok, err := n.gw.ledger.checkpoint()
		return err == nil && ok && cp == n.gw.spool.LastLSN()
	})
	cp := n.gw.spool.LastLSN()
	ingestBacklog(t, n, "lost", 200)
	n.stop()

	// Simulate the crash: the ledger keeps its checkpoint at cp and loses
	// every entry written after it.
	l := mustOpenLedger(t, filepath.Join(dir, "gw", "ledger"))
	if err := l.setCheckpoint(cp); err != nil {
		t.Fatal(err)
	}
	b := l.db.NewBatch()
	for i := 0; i < 200; i++ {
		p := versionPrefix(archive.MessageID("acme", "generic", fmt.Sprintf("lost-%d", i)))
		if err := b.DeleteRange(p, append(p[:len(p)-1:len(p)-1], 1), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	l.Close()

	n2 := mustStartNode(t, dir, store)
	if n2.gw.replayed != 200 {
		t.Fatalf("replayed %d records, want the 200 after the checkpoint", n2.gw.replayed)
	}
	for _, id := range []string{"kept-0", "lost-0", "lost-199"} {
		if again := n2.ingest("/v1/messages", "", []byte(msg(id, "backlog"))); !again[0].Duplicate {
			t.Fatalf("%s is not a duplicate after the restart", id)
		}
	}
}

// A range that will not be applied before a restart holds the checkpoint
// below it for good, and later ranges are not kept.
func TestAppliedTrackerFreezesBelowARangeNeverApplied(t *testing.T) {
	a := newAppliedTracker(1)
	a.mark(1, 4)
	if !a.freeze(5) {
		t.Fatal("first freeze reported as a repeat")
	}
	a.mark(9, 12)
	a.mark(5, 8) // would close the gap, but 5.. was never applied
	if a.upTo() != 4 || len(a.done) != 0 {
		t.Fatalf("frozen tracker at %d with %d ranges kept, want 4 and none", a.upTo(), len(a.done))
	}
	if a.freeze(13) {
		t.Fatal("second freeze reported as the first")
	}
}
