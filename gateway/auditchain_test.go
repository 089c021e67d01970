package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/audit"
)

// verifyTrail runs the verifier of `holdfast audit verify` on store.
func verifyTrail(t *testing.T, store archive.ObjectStore) *audit.Report {
	t.Helper()
	codec, err := archive.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	rep, err := audit.Verify(context.Background(), store, codec)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestAuditChainContinuesAcrossRestart: concurrent audited requests form
// one unbroken chain, and a restarted node continues it where it stopped.
func TestAuditChainContinuesAcrossRestart(t *testing.T) {
	dir, store := t.TempDir(), mustOpenStore(t)
	// 40 searches at once by one caller: the search budget's per-caller
	// cap is not what this test is about.
	unlimited := func(c *Config) { c.SearchesPerCaller = -1 }
	n := mustStartNode(t, dir, store, unlimited)
	audited := func(n *testNode, count int) {
		var wg sync.WaitGroup
		for i := 0; i < count; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code, _, b := n.do(http.MethodGet, "/v1/search?q=w"+strconv.Itoa(i), RoleSupervisor, "", nil); code != http.StatusOK {
					t.Errorf("search: %d %s", code, b)
				}
			}()
		}
		wg.Wait()
	}
	audited(n, 40)
	n.stop()
	n2 := mustStartNode(t, dir, store, unlimited)
	audited(n2, 15)
	n2.waitSearchable()
	rep := verifyTrail(t, store)
	if !rep.OK() || len(rep.Chains) != 1 || rep.Records != 55 {
		t.Fatalf("audit trail after a restart: %+v", rep)
	}
	if c := rep.Chains[0]; c.Node != "n1" || c.First != 1 || c.Last != 55 || c.Records != 55 {
		t.Fatalf("chain %+v, want seq 1..55", c)
	}
}

// fakeBatch builds records the way auditWriter does and "spools" them
// into ledger, failing when told to.
type fakeBatch struct {
	fail   error
	ledger map[string]string // id -> sha256
	built  []AuditEvent
}

func (f *fakeBatch) now() time.Time { return time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC) }

func (f *fakeBatch) build(ev AuditEvent, _ time.Time) (auditRecord, error) {
	f.built = append(f.built, ev)
	id := archive.MessageID(AuditTenant, AuditPlatform, auditSourceID(ev.Chain, ev.Seq))
	return auditRecord{id: id, sha: "sha-" + strconv.FormatUint(ev.Seq, 10) + "-" + ev.Action}, nil
}

func (f *fakeBatch) spool(_ context.Context, recs []auditRecord, _ time.Time) error {
	if f.fail != nil {
		return f.fail
	}
	for _, r := range recs {
		f.ledger[r.id] = r.sha
	}
	return nil
}

func (f *fakeBatch) lookup(id string) (string, bool, error) {
	sha, ok := f.ledger[id]
	return sha, ok, nil
}

// TestAuditChainHead: a batch that could not be spooled gives its numbers
// back; a reopened chain goes on after the last record the ledger holds,
// whether its hint is current, missing, ahead or behind.
func TestAuditChainHead(t *testing.T) {
	dir := t.TempDir()
	f := &fakeBatch{ledger: map[string]string{}}
	c, err := openAuditChain(dir, f.lookup)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.append(ctx, AuditEvent{Action: "a"}, f); err != nil {
		t.Fatal(err)
	}
	f.fail = errors.New("spool full")
	if err := c.append(ctx, AuditEvent{Action: "b"}, f); !errors.Is(err, f.fail) {
		t.Fatalf("append with the spool failing: %v", err)
	}
	f.fail = nil
	if err := c.append(ctx, AuditEvent{Action: "c"}, f); err != nil {
		t.Fatal(err)
	}
	last := f.built[len(f.built)-1]
	if c.head.Seq != 2 || c.head.Prev != "sha-2-c" || len(f.ledger) != 2 || last.Seq != 2 || last.Prev != "sha-1-a" {
		t.Fatalf("after a failed batch: head %+v, last event %+v", c.head, last)
	}
	reopen := func(what string, want uint64, wantPrev string) {
		t.Helper()
		c2, err := openAuditChain(dir, f.lookup)
		if err != nil {
			t.Fatal(err)
		}
		if c2.head.Chain != c.head.Chain || c2.head.Seq != want || c2.head.Prev != wantPrev {
			t.Fatalf("%s: head %+v, want seq %d of chain %s", what, c2.head, want, c.head.Chain)
		}
	}
	hint := func(seq uint64, prev string) {
		t.Helper()
		b, _ := json.Marshal(chainHead{Chain: c.head.Chain, Seq: seq, Prev: prev})
		if err := os.WriteFile(filepath.Join(dir, auditHeadFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reopen("no hint yet", 2, "sha-2-c")
	hint(2, "sha-2-c")
	reopen("current hint", 2, "sha-2-c")
	// Spooled, then killed before the hint was written.
	f.ledger[c.id(3)] = "sha-3-d"
	reopen("hint behind", 3, "sha-3-d")
	hint(9, "sha-9")
	reopen("hint ahead of the ledger", 3, "sha-3-d")
	hint(2, "sha-forged")
	reopen("hint that the ledger contradicts", 3, "sha-3-d")
	// The hint is saved every auditHintEvery records.
	for i := 0; i < auditHintEvery; i++ {
		if err := c.append(ctx, AuditEvent{Action: "x"}, f); err != nil {
			t.Fatal(err)
		}
	}
	var saved chainHead
	if b, err := os.ReadFile(filepath.Join(dir, auditHeadFile)); err != nil || json.Unmarshal(b, &saved) != nil || saved.Seq <= 3 {
		t.Fatalf("hint after %d records: %+v (%v)", auditHintEvery, saved, err)
	}
	if err := os.WriteFile(filepath.Join(dir, auditChainFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openAuditChain(dir, f.lookup); err == nil || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("unreadable chain id: %v", err)
	}
}

func TestAuditEventEscapesInvalidUTF8(t *testing.T) {
	ev := AuditEvent{Actor: "ok", Target: "\xff\xfe", Remote: "a\xc3",
		Query: map[string]any{"q": "fine", "list": []any{"x", "\xe2\x80"}, "n": 3.0, "\xff": "k"}}
	orig := ev.Query["list"].([]any)[1]
	ev.escape()
	want := []string{`query."\xff"`, "query.list[1]", "remote", "target"}
	if strings.Join(ev.Escaped, ",") != strings.Join(want, ",") {
		t.Fatalf("escaped %q, want %q", ev.Escaped, want)
	}
	if s, err := strconv.Unquote(ev.Target); err != nil || s != "\xff\xfe" || ev.Actor != "ok" {
		t.Fatalf("target %q (%v), actor %q", ev.Target, err, ev.Actor)
	}
	if ev.Query["list"].([]any)[1] != strconv.Quote("\xe2\x80") || ev.Query[`"\xff"`] != "k" {
		t.Fatalf("query %v", ev.Query)
	}
	if orig != "\xe2\x80" {
		t.Fatal("escape changed the caller's query")
	}
}

// TestAuditRecordsAreAuditorsOnly: a supervisor reading an audit record by
// id gets exactly the answer for an id that does not exist; the records
// stay out of supervisor searches.
func TestAuditRecordsAreAuditorsOnly(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	if code, _, _ := n.do(http.MethodGet, "/v1/search?q=probe", RoleSupervisor, "", nil); code != http.StatusOK {
		t.Fatal(code)
	}
	n.waitSearchable()
	code, _, b := n.do(http.MethodGet, "/v1/audit?q=probe", RoleAuditor, "", nil)
	var r searchResult
	if code != http.StatusOK || json.Unmarshal(b, &r) != nil || len(r.Hits) != 1 {
		t.Fatalf("audit: %d %s", code, b)
	}
	id, missing := r.Hits[0].ID, strings.Repeat("0", 32)
	c1, _, b1 := n.do(http.MethodGet, "/v1/messages/"+id, RoleSupervisor, "", nil)
	c2, _, b2 := n.do(http.MethodGet, "/v1/messages/"+missing, RoleSupervisor, "", nil)
	if c1 != http.StatusNotFound || c2 != c1 || strings.ReplaceAll(string(b1), id, missing) != string(b2) {
		t.Fatalf("audit record as a supervisor: %d %s; missing id: %d %s", c1, b1, c2, b2)
	}
	for _, role := range []string{RoleAuditor, RoleAdmin} {
		if code, _, b := n.do(http.MethodGet, "/v1/messages/"+id, role, "", nil); code != http.StatusOK || !strings.Contains(string(b), `\"chain\":`) {
			t.Fatalf("%s reading an audit record: %d %s", role, code, b)
		}
	}
	// An auditor sees no message but the audit trail's.
	acc := n.ingest("/v1/messages", "", []byte(msg("m1", "probe message")))
	c3, _, b3 := n.do(http.MethodGet, "/v1/messages/"+acc[0].ID, RoleAuditor, "", nil)
	if c3 != http.StatusNotFound || strings.Contains(string(b3), "probe message") {
		t.Fatalf("auditor reading a message: %d %s", c3, b3)
	}
	if code, _, _ := n.do(http.MethodGet, "/v1/messages/"+id, RoleIngest, "", nil); code != http.StatusForbidden {
		t.Fatalf("ingest token reading an audit record: %d", code)
	}
	if hits := n.searchAll(url.Values{"q": {"probe"}}); len(hits) != 0 {
		t.Fatalf("supervisor search shows %+v", hits)
	}
}
