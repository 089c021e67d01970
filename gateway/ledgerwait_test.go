package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// A duplicate of a committed version that is still spooled carries that
// version's LSN, so that ?ack=stored waits for it.
func TestDuplicateKnowsWhereItsVersionIsSpooled(t *testing.T) {
	l := mustOpenLedger(t, filepath.Join(t.TempDir(), "ledger"))
	defer l.Close()
	assignAndCommit(t, l, ledgerRecords(3, archive.ActionSend))
	again := ledgerRecords(3, archive.ActionSend)
	if e := l.assign(again, func(m *archive.Message) { m.Seal() }); e != nil {
		t.Fatal(e)
	}
	for i, r := range again {
		if !r.duplicate || r.inflight || r.spooledAt != uint64(i+1) {
			t.Fatalf("record %d: duplicate %v inflight %v spooled at %d, want a duplicate spooled at %d", i, r.duplicate, r.inflight, r.spooledAt, i+1)
		}
	}
}

// A duplicate of a version another request reserved waits for that
// request to commit it, and learns that it failed when it is released.
func TestAwaitVersionFollowsTheReservingRequest(t *testing.T) {
	l := mustOpenLedger(t, filepath.Join(t.TempDir(), "ledger"))
	defer l.Close()
	for _, commit := range []bool{true, false} {
		first := ledgerRecords(1, archive.ActionSend)
		if commit {
			first[0].msg.SourceID = "committed"
		}
		if e := l.assign(first, func(m *archive.Message) { m.Seal() }); e != nil {
			t.Fatal(e)
		}
		dup := ledgerRecords(1, archive.ActionSend)
		dup[0].msg.SourceID = first[0].msg.SourceID
		if e := l.assign(dup, func(m *archive.Message) { m.Seal() }); e != nil {
			t.Fatal(e)
		}
		if !dup[0].inflight {
			t.Fatal("a duplicate of a reservation is not marked in flight")
		}
		type result struct {
			lsn uint64
			err error
		}
		done := make(chan result, 1)
		go func() {
			lsn, err := l.awaitVersion(context.Background(), dup[0])
			done <- result{lsn, err}
		}()
		if commit {
			if err := l.commit(first, []uint64{42}); err != nil {
				t.Fatal(err)
			}
		} else {
			l.release(first)
		}
		select {
		case r := <-done:
			switch {
			case commit && (r.err != nil || r.lsn != 42):
				t.Fatalf("after commit: lsn %d, %v; want 42", r.lsn, r.err)
			case !commit && !errors.Is(r.err, errVersionGone):
				t.Fatalf("after release: %v, want errVersionGone", r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("awaitVersion did not return after commit=%v", commit)
		}
	}
}

// With storage down, ?ack=stored of a request made only of duplicates of
// spooled records answers 503 + Retry-After once the wait runs out, and
// 202 once storage has them.
func TestAckStoredWaitsForSpooledDuplicates(t *testing.T) {
	store := mustOpenStore(t)
	n := mustStartNode(t, t.TempDir(), store, func(c *Config) { c.AckStoredTimeout = 300 * time.Millisecond })
	store.down.Store(true)
	body := []byte(msg("d1", "one") + "\n" + msg("d2", "two"))
	first := n.ingest("/v1/messages", "", body)
	code, h, b := n.do(http.MethodPost, "/v1/messages?ack=stored", RoleIngest, "", body)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(string(b), CodeStoreTimedOut) {
		t.Fatalf("?ack=stored of spooled duplicates with storage down: %d %v %s", code, h, b)
	}
	// Storage back: the sender retries on 503 until it gets its 202.
	store.down.Store(false)
	var again []accepted
	waitFor(t, "?ack=stored to answer 202", func() bool {
		code, _, b := n.do(http.MethodPost, "/v1/messages?ack=stored", RoleIngest, "", body)
		if code == http.StatusServiceUnavailable {
			return false
		}
		var a ingestAnswer
		if code != http.StatusAccepted || json.Unmarshal(b, &a) != nil {
			t.Fatalf("?ack=stored with storage back: %d %s", code, b)
		}
		again = a.Accepted
		return true
	})
	got := storedRecords(t, store)
	for i, a := range again {
		if !a.Duplicate || a.SHA256 != first[i].SHA256 {
			t.Fatalf("second answer %+v, first %+v", a, first[i])
		}
		if got[a.ID+"/v0"] != 1 {
			t.Fatalf("answered stored but %s is stored %d times", a.ID, got[a.ID+"/v0"])
		}
	}
}
