package gateway

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/journal"
)

// FuzzAuditRecord follows what a request turns into, as the daemon does
// it: the URL path, query, remote address and caller of a request become
// an audit event (newAuditEvent, readSearchParams, auditView, escape), the
// event an audit record (auditWriter.build, admit, stamp), the record a
// segment, and the segment what every node's follower reads and indexes
// (Codec.Scan, Index.IndexSegment; see fuzzing below). Whatever the bytes, the record is
// valid UTF-8, its hash survives the segment byte for byte, it is found
// in the index, and every byte the client sent can be read back from it.
//
//	go test -run '^$' -fuzz FuzzAuditRecord -fuzztime 1000000x ./gateway/
func FuzzAuditRecord(f *testing.F) {
	f.Add("\xff\xfe", "q=%ff%fe", "127.0.0.1:1", "supervisor")
	f.Add("abc", "q=%22unterminated&platform=%c3,x&size=7", "[::1]:80", "名前")
	f.Add("\xed\xa0\x80", "sender=%e2%80%a8&from=\xff", "\xc3", "\xff")
	f.Add("<&>\u2028", "q=a%00b&cursor=%ff&facets=maybe", "", "")
	codec, err := archive.NewCodec()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(codec.Close)
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	ix, err := index.Open(index.Config{Dir: filepath.Join(f.TempDir(), "index")}, quiet.WithField("test", "fuzz"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ix.Close() })
	now := time.Date(2026, 12, 4, 1, 2, 3, 4, time.UTC)
	g := &Gateway{cfg: Config{NodeID: "n1", Now: func() time.Time { return now }}}
	rules := &archive.Rules{Default: mustPeriod(f, "10y"), Floor: time.Hour}
	var seq uint64
	// Indexing costs a Bleve batch and a bolt commit (tens of ms): the
	// seed corpus and every input the fuzzer kept (testdata/fuzz) go all
	// the way into the index on each `go test`; while fuzzing, the
	// segment is followed as far as the indexer's read of it (Scan).
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	f.Fuzz(func(t *testing.T, target, rawQuery, remote, actor string) {
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/v1/search", RawQuery: rawQuery}, RemoteAddr: remote, Header: http.Header{}}
		r = r.WithContext(context.WithValue(context.Background(), callerKey{}, caller{Name: actor, Role: RoleSupervisor}))
		ev := newAuditEvent(r, AuditReadMessage)
		ev.Target, ev.Status = target, http.StatusNotFound
		p, _ := readSearchParams(r)
		ev.Query, ev.Escaped = p.auditView()
		ev.Time, ev.Node = now, "n1"
		ev.escape()
		seq++
		ev.Chain, ev.Seq, ev.Prev = "fuzz", seq, ""
		rec, err := auditWriter{g}.build(ev, now)
		if err != nil {
			t.Fatal(err)
		}
		m := rec.rec.Message
		if e := admit(withAuditWriter(context.Background()), []journal.Record{rec.rec}); e != nil {
			t.Fatalf("audit record refused: %v", e)
		}
		stamp(&m, rules, now)
		if m.SHA256 != rec.sha {
			t.Fatalf("accept seals to %s, the chain links %s", m.SHA256, rec.sha)
		}
		line, err := m.Line()
		if err != nil {
			t.Fatal(err)
		}
		w := codec.NewWriter(AuditTenant, 0)
		w.Add(m.ID, m.Version, m.SHA256, m.RetainUntil, line)
		sealed, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		var got []archive.Message
		if err := codec.Scan(sealed.Data, func(sm archive.Message, l []byte, _ archive.ManifestEntry) error {
			if string(l) != string(line) {
				t.Fatalf("stored line differs from the sealed one")
			}
			again, err := sm.Line()
			if err != nil || string(again) != string(line) {
				t.Fatalf("decoded record re-encodes differently (%v)", err)
			}
			got = append(got, sm)
			return nil
		}); err != nil {
			t.Fatalf("the follower cannot read the segment: %v", err)
		}
		if len(got) != 1 {
			t.Fatalf("%d records read back", len(got))
		}
		if fuzzing {
			checkLossless(t, got[0], target, remote, actor, p.Q)
			return
		}
		seg := archive.Segment{Key: "segments/_audit/fuzz-" + strconv.FormatUint(seq, 10), Tenant: AuditTenant, SHA256: sealed.SHA256, Count: 1}
		if err := ix.IndexSegment(seq, seg, sealed.Data); err != nil {
			t.Fatalf("index: %v", err)
		}
		if hits, err := ix.Versions(m.ID); err != nil || len(hits) != 1 || hits[0].SHA256 != m.SHA256 {
			t.Fatalf("indexed record not found: %v %+v", err, hits)
		}
		checkLossless(t, got[0], target, remote, actor, p.Q)
	})
}

// checkLossless decodes the audit event of m and checks that the target,
// remote address, actor and query text are the bytes sent, escaped or not.
func checkLossless(t *testing.T, m archive.Message, target, remote, actor, q string) {
	t.Helper()
	raw, err := m.RawBytes()
	if err != nil {
		t.Fatal(err)
	}
	var ev AuditEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("audit payload: %v", err)
	}
	back := func(field, v string) string {
		if !slices.Contains(ev.Escaped, field) {
			return v
		}
		s, err := strconv.Unquote(v)
		if err != nil {
			t.Fatalf("%s escaped as %q: %v", field, v, err)
		}
		return s
	}
	if got := back("target", ev.Target); got != target {
		t.Fatalf("target %q recorded as %q", target, ev.Target)
	}
	if got := back("actor", ev.Actor); got != actor {
		t.Fatalf("actor %q recorded as %q", actor, ev.Actor)
	}
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	if got := back("remote", ev.Remote); got != remote {
		t.Fatalf("remote %q recorded as %q", remote, ev.Remote)
	}
	if q != "" {
		v, _ := ev.Query["q"].(string)
		if got := back("query.q", v); got != q {
			t.Fatalf("q %q recorded as %q", q, v)
		}
	}
}
