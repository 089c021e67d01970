package journal

// testdata/slack/export is laid out as Slack's help article "How to read
// Slack data exports" (slack.com/help/articles/220556107) describes an
// export: users.json (users.list member objects), channels.json,
// groups.json, dms.json, mpims.json and a folder of <YYYY-MM-DD>.json
// message arrays per conversation; the messages are in the shape of
// Slack's message event reference (docs.slack.dev/reference/events/message)
// and of exported messages (user_profile, replies, files). The full-data
// test builds a real export from ../shared/data with slackfixture.

import (
	"archive/zip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/internal/corpus"
	"github.com/holdfast/holdfast/internal/slackfixture"
)

const slackExportDir = "testdata/slack/export"

// readSlackItems reads an export, every item in order.
func readSlackItems(t *testing.T, path string) []Item {
	t.Helper()
	var items []Item
	err := ReadSlackExport(path, "acme", Limits{MaxFieldBytes: 1 << 20}, slackNow, func(it Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func itemsByWhere(items []Item) map[string]Item {
	m := map[string]Item{}
	for _, it := range items {
		m[it.Where] = it
	}
	return m
}

func TestReadSlackExportOrderAndRejections(t *testing.T) {
	items := readSlackItems(t, slackExportDir)
	var got []string
	for _, it := range items {
		got = append(got, it.Where)
	}
	want := []string{
		"users.json#6",
		"D0DM000001/2026-11-20.json#1",
		"deal-desk/2026-11-20.json#1",
		"general/2026-11-19.json#1", "general/2026-11-19.json#2", "general/2026-11-19.json#3", "general/2026-11-19.json#4",
		"general/2026-11-19.json#5", "general/2026-11-19.json#6", "general/2026-11-19.json#7", "general/2026-11-19.json#8",
		"general/2026-11-20.json#1", "general/2026-11-20.json#2", "general/2026-11-20.json#3", "general/2026-11-20.json#4",
		"general/2026-11-20.json#5",
		"mpdm-alice--bob--carol.guest-1/2026-11-20.json#1",
		"old-project/2026-11-20.json#1",
		"random/2026-11-20.json",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("items\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rejected := map[string]string{
		"users.json#6":              "id",
		"general/2026-11-20.json#2": "ts",
		"general/2026-11-20.json#3": "ts",
		"general/2026-11-20.json#4": "user",
		"random/2026-11-20.json":    "",
	}
	for _, it := range items {
		field, bad := rejected[it.Where]
		var e *Error
		switch {
		case bad && (!errors.As(it.Err, &e) || e.Field != field || e.Msg == ""):
			t.Errorf("%s: %v, want a rejection naming field %q", it.Where, it.Err, field)
		case !bad && it.Err != nil:
			t.Errorf("%s: rejected: %v", it.Where, it.Err)
		case it.Bytes <= 0:
			t.Errorf("%s: %d bytes", it.Where, it.Bytes)
		}
	}
	if e := itemsByWhere(items)["general/2026-11-20.json#2"].Err.(*Error); e.Line != 9 {
		t.Errorf("message without ts: line %d, want 9 (where it starts in its file)", e.Line)
	}
}

func TestReadSlackExportRecords(t *testing.T) {
	items := itemsByWhere(readSlackItems(t, slackExportDir))
	rec := func(where string) archive.Message {
		t.Helper()
		it := items[where]
		if it.Err != nil || it.Record.Message.SourceID == "" {
			t.Fatalf("%s: %+v", where, it)
		}
		return it.Record.Message
	}

	m := rec("general/2026-11-19.json#2")
	if m.Tenant != "acme" || m.Platform != "slack" || m.Action != archive.ActionSend || m.SourceID != "C0G9QF9GW:1795078860.000200" {
		t.Errorf("plain message %+v", m)
	}
	if m.Conversation != (archive.Conversation{ID: "C0G9QF9GW", Kind: archive.KindChannel, Name: "general"}) {
		t.Errorf("conversation %+v", m.Conversation)
	}
	if m.From != (archive.Participant{ID: "U0G9QF9C6", Name: "alice"}) {
		t.Errorf("from %+v, want alice by her display name", m.From)
	}
	if want := "Hi @Bob Li, the Q3 pricing deck is at deck (https://example.com/deck) & the draft contract is in #random"; m.Text != want {
		t.Errorf("text %q, want %q", m.Text, want)
	}
	wantTo := []archive.Participant{{ID: "U0G9QF9C7", Name: "Bob Li"}, {ID: "U0G9QF9C8", Name: "Carol (Acme Legal)", External: true}, {ID: "U0EXT00001", Name: "dave", External: true}}
	if len(m.To) != len(wantTo) {
		t.Fatalf("to %+v, want %+v", m.To, wantTo)
	}
	for i := range wantTo {
		if m.To[i] != wantTo[i] {
			t.Errorf("to[%d] = %+v, want %+v", i, m.To[i], wantTo[i])
		}
	}
	raw, _ := m.RawBytes()
	if !strings.HasPrefix(strings.TrimSpace(string(raw)), "{") || !strings.Contains(string(raw), `"client_msg_id": "5b2f6a3e`) || strings.Contains(string(raw), "1795079000.000300") {
		t.Errorf("raw is not this one message as exported: %s", raw)
	}

	edited := rec("general/2026-11-19.json#3")
	if edited.Action != archive.ActionSend || edited.Text != "Revised number: 1,250 units" || !edited.SentAt.Equal(slackTS(t, "1795079000.000300")) {
		t.Errorf("edited message %+v: want one send with its current text at its send time", edited)
	}
	if !strings.Contains(edited.Raw, `"edited"`) {
		t.Errorf("the edit is not kept in raw")
	}

	if reply := rec("general/2026-11-19.json#5"); !reply.From.External || reply.From.Name != "Carol (Acme Legal)" || !strings.Contains(reply.Raw, `"thread_ts": "1795079600.000400"`) {
		t.Errorf("guest's thread reply %+v", reply)
	}
	if file := rec("general/2026-11-19.json#6"); file.Type != "file" || file.Text != "Q3-pricing.xlsx (Q3 pricing)" || len(file.Attachments) != 0 {
		t.Errorf("file share %+v", file)
	}
	if bot := rec("general/2026-11-19.json#7"); bot.Type != "bot_message" || bot.From.ID != "B0BOT00001" || bot.From.Name != "deploybot" ||
		bot.Text != "Deployed pricing-service v1.2.3\nto production by @alice" {
		t.Errorf("bot message %+v", bot)
	}
	if join := rec("general/2026-11-19.json#1"); join.Type != "channel_join" || join.Text != "@dave has joined the channel" || !join.From.External {
		t.Errorf("join %+v", join)
	}
	if ext := rec("general/2026-11-19.json#8"); !ext.From.External {
		t.Errorf("Slack Connect user %+v is not external", ext.From)
	}
	if zh := rec("general/2026-11-20.json#1"); zh.Text != "已确认，合同第 5 条需要法务审核" || zh.From.Name != "Bob Li" {
		t.Errorf("Chinese message %+v", zh)
	}

	dm := rec("D0DM000001/2026-11-20.json#1")
	if dm.Conversation.Kind != archive.KindDirect || dm.Conversation.ID != "D0DM000001" || len(dm.To) != 1 || dm.To[0].ID != "U0G9QF9C7" {
		t.Errorf("DM %+v to %+v", dm.Conversation, dm.To)
	}
	if mp := rec("mpdm-alice--bob--carol.guest-1/2026-11-20.json#1"); mp.Conversation.Kind != archive.KindGroup || mp.Conversation.ID != "G0MPIM0001" || len(mp.To) != 2 {
		t.Errorf("mpim %+v to %+v", mp.Conversation, mp.To)
	}
	if g := rec("deal-desk/2026-11-20.json#1"); g.Conversation != (archive.Conversation{ID: "G0DEALDESK", Kind: archive.KindChannel, Name: "deal-desk"}) {
		t.Errorf("private channel %+v", g.Conversation)
	}
	if old := rec("old-project/2026-11-20.json#1"); old.Conversation.ID != "old-project" || old.Conversation.Kind != archive.KindChannel {
		t.Errorf("unlisted folder %+v", old.Conversation)
	}
}

// An edit delivered later by the Events API is a version of the imported
// message.
func TestReadSlackExportJoinsEventsAPI(t *testing.T) {
	imported := itemsByWhere(readSlackItems(t, slackExportDir))["general/2026-11-19.json#2"].Record.Message
	body := strings.NewReplacer("C123ABC456", "C0G9QF9GW", "1355517523.000005", "1795078860.000200", "1358878755.000001", "1795078900.000001").
		Replace(string(slackFixture(t, "message_changed.json")))
	res, err := Slack{SigningSecret: slackTestSecret}.Decode(slackRequest([]byte(body)))
	if err != nil || len(res.Records) != 1 {
		t.Fatalf("%d records, %v", len(res.Records), err)
	}
	if edit := res.Records[0].Message; edit.SourceID != imported.SourceID {
		t.Fatalf("edit of %q, imported %q", edit.SourceID, imported.SourceID)
	}
}

func TestReadSlackExportZip(t *testing.T) {
	want := readSlackItems(t, slackExportDir)
	for name, prefix := range map[string]string{"flat": "", "in a folder": "export/"} {
		t.Run(name, func(t *testing.T) {
			zipPath := filepath.Join(t.TempDir(), "export.zip")
			writeZip(t, zipPath, prefix, slackExportDir)
			got := readSlackItems(t, zipPath)
			if len(got) != len(want) {
				t.Fatalf("%d items from the zip, %d from the directory", len(got), len(want))
			}
			for i := range want {
				if got[i].Where != want[i].Where || got[i].Record.Message.Raw != want[i].Record.Message.Raw || (got[i].Err == nil) != (want[i].Err == nil) {
					t.Fatalf("item %d: %s %v, want %s %v", i, got[i].Where, got[i].Err, want[i].Where, want[i].Err)
				}
			}
		})
	}
}

func writeZip(t *testing.T, zipPath, prefix, dir string) {
	t.Helper()
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	err = fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return err
		}
		w, err := zw.Create(prefix + p)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(zw.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
}

func TestReadSlackExportNotAnExport(t *testing.T) {
	notZip := filepath.Join(t.TempDir(), "export.zip")
	if err := os.WriteFile(notZip, []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"missing":       filepath.Join(t.TempDir(), "nothing-here"),
		"empty dir":     t.TempDir(),
		"not a zip":     notZip,
		"events folder": "testdata/slack/events",
	} {
		t.Run(name, func(t *testing.T) {
			called := false
			err := ReadSlackExport(path, "", Limits{}, slackNow, func(Item) error { called = true; return nil })
			if err == nil || called {
				t.Fatalf("err %v, fn called %v; want an error and no item", err, called)
			}
		})
	}
}

func TestReadSlackExportStopsOnFnError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := ReadSlackExport(slackExportDir, "", Limits{}, slackNow, func(Item) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("err %v after %d items; want fn's error after 3", err, n)
	}
}

// TestReadSlackExportRealData builds a full export from the public Slack
// communities in ../shared/data and checks that every message comes out
// once, from its user, with its text.
func TestReadSlackExportRealData(t *testing.T) {
	if testing.Short() {
		t.Skip("reads ~50k messages; skipped with -short")
	}
	data, err := corpus.Dir()
	if errors.Is(err, corpus.ErrNoData) {
		t.Skipf("no conversation data: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := slackfixture.Build(dir, data)
	if err != nil {
		t.Fatal(err)
	}
	if st.Channels != 3 || st.Files == 0 || len(st.Messages) < 50000 {
		t.Fatalf("built %d channels, %d files, %d messages", st.Channels, st.Files, len(st.Messages))
	}
	want := map[string]slackfixture.Message{}
	for _, m := range st.Messages {
		want[m.File+"#"+strconv.Itoa(m.Index)] = m
	}
	seen := 0
	err = ReadSlackExport(dir, "acme", Limits{MaxFieldBytes: 1 << 20}, slackNow, func(it Item) error {
		w, ok := want[it.Where]
		switch {
		case !ok:
			t.Errorf("%s: not a message of the export, or twice", it.Where)
		case it.Err != nil:
			t.Errorf("%s: rejected: %v", it.Where, it.Err)
		default:
			m := it.Record.Message
			if m.SourceID != w.ChannelID+":"+w.TS || m.From.ID != w.User || m.From.Name != w.UserName || m.Conversation.Name != w.Channel {
				t.Errorf("%s: %s from %+v in %+v, want %s:%s from %s (%s) in %s", it.Where, m.SourceID, m.From, m.Conversation, w.ChannelID, w.TS, w.User, w.UserName, w.Channel)
			}
			if text := slackPlain(w.Text, func(string) string { return "" }); m.Text != text || (!strings.ContainsAny(w.Text, "<&") && m.Text != w.Text) {
				t.Errorf("%s: text %q, want %q", it.Where, m.Text, text)
			}
		}
		delete(want, it.Where)
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 0 || seen != len(st.Messages) {
		t.Fatalf("%d messages read, %d of %d never came out", seen, len(want), len(st.Messages))
	}
}

// FuzzSlackExport: whatever a day file holds, the import yields an item per
// message or one rejection, never panics, and every record passed Finish.
// The metadata and seeds are small: the fuzzer minimises every new input.
func FuzzSlackExport(f *testing.F) {
	users := []byte(`[{"id":"U1","team_id":"T1","profile":{"display_name":"alice"}},{"id":"U2","team_id":"T2","is_restricted":true}]`)
	channels := []byte(`[{"id":"C1","name":"general","members":["U1","U2"]}]`)
	for _, seed := range []string{
		`[{"type":"message","user":"U1","text":"hi <@U2> &amp; <https://x.test|x>","ts":"1795078860.000200"}]`,
		`[{"type":"message","subtype":"bot_message","bot_id":"B1","text":"","attachments":[{"title":"t","text":"x"}],"ts":"1.2"}]`,
		`[{"user":"U1","files":[{"name":"a.pdf","title":"A"}],"ts":"1.3","edited":{"user":"U1","ts":"1.4"}}]`,
		`[{"user":"U2","text":"","blocks":[{"type":"rich_text","elements":[{"text":"b"}]}],"ts":"1.5","user_team":"T9"}]`,
		`[{"ts":"1.5","subtype":"message_deleted","deleted_ts":"1.0"},{"ts":2}]`,
		`[{"ts":"1.6","subtype":"message_changed","message":{"user":"U1","ts":"1.0","text":"x"}}]`,
		`{"not":"an array"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, day []byte) {
		fsys := fstest.MapFS{
			"users.json":              {Data: users},
			"channels.json":           {Data: channels},
			"general/2026-11-19.json": {Data: day},
		}
		err := readSlackExport(fsys, "", Limits{MaxFieldBytes: 4096}, slackNow, func(it Item) error {
			if it.Err != nil {
				var e *Error
				if !errors.As(it.Err, &e) || e.Msg == "" || it.Where == "" {
					t.Fatalf("%s: rejection %v is not a payload *Error", it.Where, it.Err)
				}
				return nil
			}
			if m := it.Record.Message; m.SourceID == "" || m.From.ID == "" || m.Conversation.ID != "C1" || !m.Action.Valid() {
				t.Fatalf("%s: unfinished record %+v", it.Where, m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
