package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

func TestIngestFormsAndReadBack(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	one := n.ingest("/v1/messages", "application/json", []byte(msg("a-1", "hello")))
	arr := n.ingest("/v1/messages", "application/json", []byte("[\n"+msg("a-2", "two")+",\n"+msg("a-3", "three")+"\n]"))
	nd := n.ingest("/v1/messages?ack=stored", "application/x-ndjson", []byte(msg("a-4", "four")+"\n\n"+msg("a-5", "五")+"\n"))
	if len(one) != 1 || len(arr) != 2 || len(nd) != 2 {
		t.Fatalf("accepted %d, %d, %d", len(one), len(arr), len(nd))
	}
	if one[0].ID != archive.MessageID("acme", "generic", "a-1") || one[0].Version != 0 || len(one[0].SHA256) != 64 {
		t.Fatalf("answer %+v", one[0])
	}
	// ack=stored answered only after the WORM PUT: the record is in a segment.
	got := n.get(nd[1].ID)
	if len(got.Versions) != 1 || got.Versions[0].State != "stored" || got.Versions[0].Segment == "" {
		t.Fatalf("after ack=stored: %+v", got.Versions)
	}
	v := got.Versions[0]
	if v.Text != "五" || v.SHA256 != nd[1].SHA256 || v.Verify() != nil {
		t.Fatalf("read back %+v", v.Message)
	}
	if !v.RetainUntil.Equal(v.SentAt.AddDate(7, 0, 0)) {
		t.Fatalf("retain_until %v, want sent_at + 7y", v.RetainUntil)
	}
	// The segment is locked in COMPLIANCE mode at least as long as the record.
	info, err := n.store.Stat(context.Background(), v.Segment)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode != archive.ModeCompliance || info.RetainUntil.Before(v.RetainUntil) {
		t.Fatalf("segment lock %s until %v, record until %v", info.Mode, info.RetainUntil, v.RetainUntil)
	}
	if err := n.store.DeleteVersion(context.Background(), v.Segment, info.VersionID); err == nil {
		t.Fatal("deleting a locked segment succeeded")
	}
	// Raw payload is kept exactly as received when none is given.
	if v.Raw != msg("a-5", "五") {
		t.Fatalf("raw = %q", v.Raw)
	}
	// The rest reach storage through max_age without anyone waiting.
	if err := n.gw.WaitStored(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := storedRecords(t, n.store)
	for _, a := range append(append(one, arr...), nd...) {
		if recs[fmt.Sprintf("%s/v0", a.ID)] != 1 {
			t.Fatalf("%s stored %d times", a.ID, recs[a.ID+"/v0"])
		}
	}
}

func TestIngestIsIdempotent(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	first := n.ingest("/v1/messages?ack=stored", "", []byte(msg("dup", "once")))
	again := n.ingest("/v1/messages?ack=stored", "", []byte(msg("dup", "once")))
	inOne := n.ingest("/v1/messages?ack=stored", "application/x-ndjson", []byte(msg("dup2", "x")+"\n"+msg("dup2", "x")))
	if again[0].ID != first[0].ID || !again[0].Duplicate || again[0].SHA256 != first[0].SHA256 {
		t.Fatalf("second send answered %+v, first %+v", again[0], first[0])
	}
	if inOne[0].Duplicate || !inOne[1].Duplicate || inOne[1].ID != inOne[0].ID {
		t.Fatalf("duplicate within one request: %+v", inOne)
	}
	// An edit sent twice without a version is one version.
	e1 := n.ingest("/v1/messages?ack=stored", "", []byte(msg("dup", "edited", `"action":"edit"`)))
	e2 := n.ingest("/v1/messages?ack=stored", "", []byte(msg("dup", "edited", `"action":"edit"`)))
	if e1[0].Version != 1 || e2[0].Version != 1 || !e2[0].Duplicate {
		t.Fatalf("edit resend: %+v then %+v", e1[0], e2[0])
	}
	recs := storedRecords(t, n.store)
	if recs[first[0].ID+"/v0"] != 1 || recs[first[0].ID+"/v1"] != 1 || recs[inOne[0].ID+"/v0"] != 1 {
		t.Fatalf("stored copies: %v", recs)
	}
}

func TestEditsAndRecallAreVersions(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	n.ingest("/v1/messages", "", []byte(msg("m1", "original")))
	n.ingest("/v1/messages", "", []byte(msg("m1", "first edit", `"action":"edit"`)))
	n.ingest("/v1/messages", "", []byte(msg("m1", "second edit", `"action":"edit"`)))
	last := n.ingest("/v1/messages?ack=stored", "", []byte(msg("m1", "", `"action":"recall"`)))
	if last[0].Version != 3 {
		t.Fatalf("recall is version %d, want 3", last[0].Version)
	}
	got := n.get(last[0].ID)
	want := []struct {
		action archive.Action
		text   string
	}{{archive.ActionSend, "original"}, {archive.ActionEdit, "first edit"}, {archive.ActionEdit, "second edit"}, {archive.ActionRecall, ""}}
	if len(got.Versions) != len(want) {
		t.Fatalf("%d versions, want %d", len(got.Versions), len(want))
	}
	for i, w := range want {
		v := got.Versions[i]
		if v.Version != i || v.Action != w.action || v.Text != w.text || v.State != "stored" || v.Verify() != nil {
			t.Fatalf("version %d = %s %q (%s), want %s %q", i, v.Action, v.Text, v.State, w.action, w.text)
		}
	}
	// ?version= picks one.
	code, _, b := n.do(http.MethodGet, "/v1/messages/"+last[0].ID+"?version=1", RoleSupervisor, "", nil)
	var one getAnswer
	if code != http.StatusOK || json.Unmarshal(b, &one) != nil || len(one.Versions) != 1 || one.Versions[0].Text != "first edit" {
		t.Fatalf("?version=1: %d %s", code, b)
	}
	// An explicit version that is taken by another action is a conflict.
	code, _, b = n.do(http.MethodPost, "/v1/messages", RoleIngest, "", []byte(msg("m1", "x", `"action":"delete"`, `"version":2`)))
	if code != http.StatusConflict {
		t.Fatalf("conflicting version: %d %s", code, b)
	}
}

func TestAttachmentsStoredOnceUnderLock(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	data := []byte("%PDF-1.4 term sheet")
	att := fmt.Sprintf(`"attachments":[{"name":"terms.pdf","content_type":"application/pdf","data":%q}]`, base64.StdEncoding.EncodeToString(data))
	a := n.ingest("/v1/messages?ack=stored", "", []byte(msg("att-1", "", att)))
	b := n.ingest("/v1/messages?ack=stored", "", []byte(msg("att-2", "same file", att)))
	v := n.get(a[0].ID).Versions[0]
	if len(v.Attachments) != 1 || v.Attachments[0].Size != int64(len(data)) {
		t.Fatalf("attachments %+v", v.Attachments)
	}
	key := archive.AttachmentKey("acme", v.Attachments[0].SHA256)
	vers, err := n.store.Versions(context.Background(), key)
	if err != nil || len(vers) != 1 {
		t.Fatalf("attachment versions %d, %v", len(vers), err)
	}
	info, err := n.store.Stat(context.Background(), key)
	if err != nil || info.Mode != archive.ModeCompliance || info.RetainUntil.Before(v.RetainUntil) {
		t.Fatalf("attachment lock %+v, %v", info, err)
	}
	_ = b
}

func TestBadInputIsRefusedWhole(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	big := strings.Repeat("x", 10<<20)
	cases := []struct {
		name        string
		role        string
		contentType string
		body        string
		status      int
		code        string
		field       string
		line        int
	}{
		{"malformed json", RoleIngest, "application/x-ndjson", msg("b1", "ok") + "\n{\"platform\": \n", 400, CodeInvalidJSON, "", 2},
		{"malformed array", RoleIngest, "", "[" + msg("b1", "ok") + ",\n{\"x\"]", 400, CodeInvalidJSON, "", 2},
		{"wrong type", RoleIngest, "", msg("b1", "ok", `"version":"one"`), 400, CodeInvalidField, "version", 1},
		{"wrong nested type", RoleIngest, "", strings.Replace(msg("b1", "ok"), `"to":[{"id":"bob"}]`, `"to":"bob"`, 1), 400, CodeInvalidField, "to", 1},
		{"unknown action", RoleIngest, "application/x-ndjson", msg("b1", "ok") + "\n" + msg("b2", "ok", `"action":"forward"`), 400, CodeInvalidField, "action", 2},
		{"send without content", RoleIngest, "", msg("b1", ""), 400, CodeInvalidField, "text", 1},
		{"unknown field", RoleIngest, "", msg("b1", "ok", `"colour":"red"`), 400, CodeInvalidField, "colour", 1},
		{"server field", RoleIngest, "", msg("b1", "ok", `"sha256":"abc"`), 400, CodeInvalidField, "sha256", 1},
		{"bad time", RoleIngest, "", strings.Replace(msg("b1", "ok"), "2026-11-20T10:00:00Z", "20/11/2026", 1), 400, CodeInvalidField, "sent_at", 1},
		{"future time", RoleIngest, "", strings.Replace(msg("b1", "ok"), "2026-11-20T10:00:00Z", "2099-01-01T00:00:00Z", 1), 400, CodeInvalidField, "sent_at", 1},
		{"missing sender", RoleIngest, "", strings.Replace(msg("b1", "ok"), `"from":{"id":"alice","department":"rates"}`, `"from":{}`, 1), 400, CodeInvalidField, "from.id", 1},
		{"bad base64", RoleIngest, "", msg("b1", "", `"attachments":[{"name":"a","data":"!!"}]`), 400, CodeInvalidField, "attachments[0].data", 1},
		{"ten megabyte field", RoleIngest, "", msg("b1", big), 413, CodeTooLarge, "text", 1},
		{"invalid utf-8", RoleIngest, "application/x-ndjson", msg("b1", "ok") + "\n" + strings.Replace(msg("b2", "cafX"), "X", "\xe9", 1), 400, CodeInvalidUTF8, "", 2},
		{"not an object", RoleIngest, "", `"hello"`, 400, CodeInvalidJSON, "", 1},
		{"empty", RoleIngest, "", "", 400, CodeBadRequest, "", 1},
		{"wrong content type", RoleIngest, "text/csv", msg("b1", "ok"), 415, CodeUnsupported, "", 0},
		{"missing token", "", "", msg("b1", "ok"), 401, CodeUnauthorized, "", 0},
		{"wrong role", RoleSupervisor, "", msg("b1", "ok"), 403, CodeForbidden, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, b := n.do(http.MethodPost, "/v1/messages", c.role, c.contentType, []byte(c.body))
			var e errorAnswer
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("answer is not a JSON error: %d %q", code, b)
			}
			if code != c.status || e.Error.Code != c.code || e.Error.Field != c.field || e.Error.Line != c.line {
				t.Fatalf("got %d %+v, want %d code=%s field=%q line=%d", code, e.Error, c.status, c.code, c.field, c.line)
			}
			if e.Error.Message == "" {
				t.Fatal("error without a message")
			}
		})
	}
	// Nothing of a refused request was archived, not even its good lines.
	if n.gw.spool.LastLSN() != 0 {
		t.Fatalf("refused requests wrote %d spool records", n.gw.spool.LastLSN())
	}
	code, _, _ := n.do(http.MethodGet, "/v1/messages/"+archive.MessageID("acme", "generic", "b1"), RoleSupervisor, "", nil)
	if code != http.StatusNotFound {
		t.Fatalf("a record of a refused request was archived: GET answered %d", code)
	}
	// Oversized body.
	code, _, b := n.do(http.MethodPost, "/v1/messages", RoleIngest, "", bytes.Repeat([]byte(" "), 33<<20))
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %s", code, b)
	}
	// Reading needs the supervisor role.
	code, _, _ = n.do(http.MethodGet, "/v1/messages/x", RoleIngest, "", nil)
	if code != http.StatusForbidden {
		t.Fatalf("ingest token read a message: %d", code)
	}
}

func TestStorageOutageSpoolsThenDrains(t *testing.T) {
	store := mustOpenStore(t)
	n := mustStartNode(t, t.TempDir(), store, func(c *Config) { c.SpoolMaxBytes = 256 << 10 })
	store.down.Store(true)
	var ids []string
	for i := 0; i < 50; i++ {
		a := n.ingest("/v1/messages", "", []byte(msg(fmt.Sprintf("out-%d", i), "during the outage")))
		ids = append(ids, a[0].ID)
	}
	// Acks keep coming from the spool while storage is down...
	if store.puts.Load() != 0 {
		t.Fatal("stored while down")
	}
	// ...until the spool limit: then 503 with Retry-After, nothing accepted.
	filler := strings.Repeat("y", 60<<10)
	var full bool
	for i := 0; i < 20 && !full; i++ {
		code, h, b := n.do(http.MethodPost, "/v1/messages", RoleIngest, "", []byte(msg(fmt.Sprintf("fill-%d", i), filler)))
		switch code {
		case http.StatusAccepted:
			a := ingestAnswer{}
			_ = json.Unmarshal(b, &a)
			ids = append(ids, a.Accepted[0].ID)
		case http.StatusServiceUnavailable:
			full = true
			if h.Get("Retry-After") == "" || !strings.Contains(string(b), CodeSpoolFull) {
				t.Fatalf("503 without Retry-After or code: %v %s", h, b)
			}
		default:
			t.Fatalf("ingest during outage: %d %s", code, b)
		}
	}
	if !full {
		t.Fatal("the spool never filled")
	}
	code, _, _ := n.do(http.MethodGet, "/readyz", "", "", nil)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with a full spool: %d", code)
	}
	// Storage returns: the spool drains by itself.
	store.down.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.gw.WaitStored(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "spool to empty", func() bool { return n.gw.spool.Size() == 0 || n.gw.spool.Watermark() > n.gw.spool.LastLSN() })
	recs := storedRecords(t, store)
	for _, id := range ids {
		if recs[id+"/v0"] != 1 {
			t.Fatalf("%s stored %d times after the outage", id, recs[id+"/v0"])
		}
	}
	// And ingest is accepted again.
	n.ingest("/v1/messages", "", []byte(msg("after", "back")))
}

func TestRestartUploadsWhatWasSpooled(t *testing.T) {
	dir := t.TempDir()
	store := mustOpenStore(t)
	n := mustStartNode(t, dir, store)
	store.down.Store(true)
	a := n.ingest("/v1/messages", "", []byte(msg("r1", "spooled before restart")))
	n.stop() // graceful, but storage is down: the record stays spooled
	store.down.Store(false)
	if len(storedRecords(t, store)) != 0 {
		t.Fatal("stored while down")
	}
	n2 := mustStartNode(t, dir, store)
	if err := n2.gw.WaitStored(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Idempotency survives the restart.
	again := n2.ingest("/v1/messages?ack=stored", "", []byte(msg("r1", "spooled before restart")))
	if !again[0].Duplicate || again[0].ID != a[0].ID {
		t.Fatalf("after restart: %+v", again[0])
	}
	if got := storedRecords(t, store); got[a[0].ID+"/v0"] != 1 || len(got) != 1 {
		t.Fatalf("stored %v", got)
	}
}

// failingCatalog refuses every write, as a cluster without quorum.
type failingCatalog struct{}

func (failingCatalog) SealSegments(context.Context, []archive.Segment) error {
	return fmt.Errorf("no quorum (test)")
}

func TestCrashAfterPutDoesNotStoreTwice(t *testing.T) {
	// The uploader PUTs a segment, then cannot record it in the catalog and
	// is stopped: the intent stays. At the next start the segment found in
	// storage is kept, not written again.
	dir := t.TempDir()
	store := mustOpenStore(t)
	n := mustStartNode(t, dir, store)
	n.gw.uploader.catalog = failingCatalog{}
	a := n.ingest("/v1/messages", "", []byte(msg("c1", "put but not catalogued")))
	waitFor(t, "the PUT", func() bool { return store.puts.Load() == 1 })
	n.stop()
	if _, ok := n.gw.spool.Intent(); !ok && n.gw.spool.Watermark() <= 1 {
		t.Log("intent cleared unexpectedly")
	}
	n2 := mustStartNode(t, dir, store)
	waitFor(t, "recovery", func() bool { return n2.gw.spool.Watermark() > 1 })
	if store.puts.Load() != 1 {
		t.Fatalf("%d PUTs; recovery wrote the segment again", store.puts.Load())
	}
	if got := storedRecords(t, store); got[a[0].ID+"/v0"] != 1 {
		t.Fatalf("stored %v", got)
	}
	if c, _ := n2.node.SegmentCount(); c != 1 {
		t.Fatalf("catalog holds %d segments, want 1", c)
	}
	if v := n2.get(a[0].ID).Versions; v[0].State != "stored" {
		t.Fatalf("after recovery the version is %s", v[0].State)
	}
}
