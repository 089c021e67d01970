package gateway

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

func TestIDFilterNeverForgets(t *testing.T) {
	f := newIDFilter()
	f.ready = true
	const n = 400000 // three parts
	for i := 0; i < n; i++ {
		f.add(archive.MessageID("acme", "slack", fmt.Sprint(i)))
	}
	if len(f.parts) < 3 {
		t.Fatalf("%d parts for %d ids; the filter did not grow", len(f.parts), n)
	}
	for i := 0; i < n; i++ {
		if id := archive.MessageID("acme", "slack", fmt.Sprint(i)); f.absent(id) {
			t.Fatalf("id %d added but reported absent", i)
		}
	}
	var maybe int
	for i := n; i < 2*n; i++ {
		if !f.absent(archive.MessageID("acme", "slack", fmt.Sprint(i))) {
			maybe++
		}
	}
	rate := float64(maybe) / n
	if rate > 0.05 {
		t.Fatalf("%.1f%% of new ids answered maybe", 100*rate)
	}
	t.Logf("%d ids in %d parts (%d KiB): %.2f%% of new ids answered maybe", n, len(f.parts), f.bytes>>10, 100*rate)
	f.ready = false
	if f.absent("x") {
		t.Fatal("a filter not yet filled answered absent")
	}
}

func TestIDFilterSaturates(t *testing.T) {
	f := newIDFilter()
	f.ready = true
	f.bytes = maxIDFilterBytes // as if every byte were taken
	f.add("a")
	if !f.full || f.absent("b") || f.absent("a") {
		t.Fatalf("a filter that cannot grow must answer maybe to everything (full %v)", f.full)
	}
}

func mustOpenLedger(t *testing.T, dir string) *ledger {
	t.Helper()
	l, err := openLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func waitFilled(t *testing.T, l *ledger) {
	t.Helper()
	waitFor(t, "the id filter", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.ids.ready
	})
}

func ledgerRecords(n int, action archive.Action) []*record {
	recs := make([]*record, n)
	for i := range recs {
		recs[i] = &record{line: i + 1, msg: archive.Message{Tenant: "acme", Platform: "slack", SourceID: fmt.Sprint(i),
			Action: action, Text: "x", SentAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	}
	return recs
}

func assignAndCommit(t *testing.T, l *ledger, recs []*record) {
	t.Helper()
	if e := l.assign(recs, func(m *archive.Message) { m.Seal() }); e != nil {
		t.Fatal(e)
	}
	lsns := make([]uint64, len(recs))
	for i := range lsns {
		lsns[i] = uint64(i + 1)
	}
	if err := l.commit(recs, lsns); err != nil {
		t.Fatal(err)
	}
}

// TestLedgerIdempotentAcrossReopen: ids written before a restart are
// duplicates after it, whether the id filter is still filling or filled,
// and new ids are not.
func TestLedgerIdempotentAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledger")
	l := mustOpenLedger(t, dir)
	assignAndCommit(t, l, ledgerRecords(5000, archive.ActionSend))
	assignAndCommit(t, l, ledgerRecords(10, archive.ActionEdit))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, filled := range []bool{false, true} {
		l := mustOpenLedger(t, dir)
		if filled {
			waitFilled(t, l)
		}
		recs := append(ledgerRecords(5000, archive.ActionSend), ledgerRecords(10, archive.ActionEdit)...)
		if e := l.assign(recs, func(m *archive.Message) { m.Seal() }); e != nil {
			t.Fatal(e)
		}
		for i, r := range recs {
			if !r.duplicate || (i >= 5000 && r.msg.Version != 1) || r.msg.SHA256 == "" {
				t.Fatalf("filled %v: record %d after reopen: duplicate %v v%d sha %q", filled, i, r.duplicate, r.msg.Version, r.msg.SHA256)
			}
		}
		// A new id is a send at version 0; a new edit of a known id is
		// the next version; an edit of an unknown id is version 1.
		fresh := ledgerRecords(1, archive.ActionSend)
		fresh[0].msg.SourceID = "new"
		edit := ledgerRecords(1, archive.ActionEdit)
		edit[0].msg.Text = "edited again"
		lone := ledgerRecords(1, archive.ActionEdit)
		lone[0].msg.SourceID = "never sent"
		more := append(append(fresh, edit...), lone...)
		if e := l.assign(more, func(m *archive.Message) { m.Seal() }); e != nil {
			t.Fatal(e)
		}
		if more[0].duplicate || more[0].msg.Version != 0 || more[1].duplicate || more[1].msg.Version != 2 || more[2].duplicate || more[2].msg.Version != 1 {
			t.Fatalf("filled %v: new send %+v v%d, new edit v%d, lone edit v%d", filled, more[0].duplicate, more[0].msg.Version, more[1].msg.Version, more[2].msg.Version)
		}
		l.release(more)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkLedgerAssign measures assigning sends of new ids against a
// ledger that already holds many, with the id filter and, saturated, with
// a Pebble lookup for every id.
func BenchmarkLedgerAssign(b *testing.B) {
	for _, mode := range []string{"filter", "lookup"} {
		b.Run(mode, func(b *testing.B) {
			l, err := openLedger(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			if mode == "lookup" {
				l.mu.Lock()
				l.ids.full = true
				l.mu.Unlock()
			}
			next := 0
			batch := func() []*record {
				recs := make([]*record, 250)
				for i := range recs {
					recs[i] = &record{msg: archive.Message{Tenant: "acme", Platform: "slack", SourceID: fmt.Sprint(next), Action: archive.ActionSend}}
					next++
				}
				return recs
			}
			lsns := make([]uint64, 250)
			run := func(recs []*record) {
				if e := l.assign(recs, func(*archive.Message) {}); e != nil {
					b.Fatal(e)
				}
				if err := l.commit(recs, lsns); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < 800; i++ { // 200,000 ids already held
				run(batch())
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				recs := batch()
				b.StartTimer()
				run(recs)
			}
		})
	}
}
