package journal

// The Teams fixtures in testdata/teams are Microsoft Graph chatMessage
// resources as Microsoft documents them: getallmessages.json is the
// response example of "chats: getAllMessages" (api-reference/v1.0/api/
// chats-getallmessages.md in microsoftgraph/microsoft-graph-docs-contrib);
// the html bodies with <at> mentions, <emoji>, <attachment> and
// <systemEventMessage/>, the reference (file) and adaptive card
// attachments, the from identities (aadUser with tenantId, anonymousGuest,
// a bot application) and the membersAdded system event follow "Working with
// Microsoft Teams messaging APIs in Microsoft Graph" (concepts/
// teams-messaging-overview.md), which also documents lastEditedDateTime,
// lastModifiedDateTime (changed by reactions) and deletedDateTime. The
// edited and deleted messages are written in that shape; export.ndjson is
// two saved pages, the second with a message whose createdDateTime is not
// a time. Identifiers, names and texts are invented where the examples had
// none.

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

const teamsHomeTenant = "2432b57b-0abd-43db-aa7b-16eadd115d34"

func mustTeamsTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTeamsGetAllMessagesPage(t *testing.T) {
	body := loadSourceFixture(t, "teams", "getallmessages.json")
	res, err := Teams{}.Decode(Request{Body: body, Now: now, Tenant: "acme", Limits: sourceLimits})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 2 {
		t.Fatalf("%d records, want 2", len(res.Records))
	}
	group, direct := res.Records[0].Message, res.Records[1].Message
	if group.Conversation != (archive.Conversation{ID: "19:3c9e92a344704332bbf5bda58f4d37b1@thread.v2", Kind: archive.KindGroup}) {
		t.Errorf("group chat conversation %+v", group.Conversation)
	}
	if direct.Conversation.Kind != archive.KindDirect {
		t.Errorf("a @unq.gbl.spaces chat is 1:1: %+v", direct.Conversation)
	}
	if group.SourceID != "19:3c9e92a344704332bbf5bda58f4d37b1@thread.v2/1621973534864" {
		t.Errorf("source id %q: a message id is unique only within its chat", group.SourceID)
	}
	if group.Action != archive.ActionSend || group.Text != "Hello user2, user 3" || !group.SentAt.Equal(mustTeamsTime(t, "2021-05-25T20:12:14.864Z")) {
		t.Errorf("send %s %q at %v", group.Action, group.Text, group.SentAt)
	}
	if group.From != (archive.Participant{ID: "0b4f1cf6-54c8-4820-bbb7-2a1f4257ade5", Name: "user1 a"}) {
		t.Errorf("from %+v", group.From)
	}
	for i, r := range res.Records {
		raw := r.Message.Raw
		if !strings.HasPrefix(raw, "{") || strings.Contains(raw, "@odata.nextLink") || !bytes.Contains(body, []byte(raw)) {
			t.Errorf("record %d: raw is not the message's own JSON as received: %.80q", i, raw)
		}
		if want := bytes.Count(body[:bytes.Index(body, []byte(raw))], []byte{'\n'}) + 1; r.Line != want {
			t.Errorf("record %d on line %d, want %d", i, r.Line, want)
		}
	}
}

func TestTeamsChannelHTMLMessage(t *testing.T) {
	msgs := decodeOK(t, Teams{HomeTenantID: teamsHomeTenant}, loadSourceFixture(t, "teams", "channel_mention_file.json"), nil)
	if len(msgs) != 1 {
		t.Fatalf("%d records, want 1: a reaction (lastModifiedDateTime) is not an edit", len(msgs))
	}
	m := msgs[0]
	want := "Q2 pricing\nAlex Wilber the new price list is attached & final.\nRates <5% need sign-off 🙂\n第二季度价格表\nprice-list-q2.xlsx"
	if m.Text != want {
		t.Fatalf("text\n%q\nwant\n%q", m.Text, want)
	}
	if m.Conversation != (archive.Conversation{ID: "19:0b50940236084d258c97b21bd01917b0@thread.skype", Kind: archive.KindChannel}) {
		t.Fatalf("conversation %+v", m.Conversation)
	}
	if m.From.External || m.From.Name != "Robin Kline" || m.Type != "text" || len(m.Attachments) != 0 {
		t.Fatalf("from %+v type %q attachments %+v", m.From, m.Type, m.Attachments)
	}
}

func TestTeamsEditsAndDeletions(t *testing.T) {
	msgs := decodeOK(t, Teams{}, loadSourceFixture(t, "teams", "edited_deleted.json"), nil)
	const chat = "19:8ea0e38b-efb3-4757-924a-5f94061cf8c2_976f4b31-fd01-4e0b-9178-29cc40c14438@unq.gbl.spaces/"
	type want struct {
		source string
		action archive.Action
		at     string
		text   string
	}
	wants := []want{
		// Edited: its body is the edited text; the original is gone.
		{chat + "1774500000000", archive.ActionEdit, "2026-03-26T04:55:00Z", "Settlement moved to T+2"},
		// Deleted with its body: the send, then the deletion.
		{chat + "1774501000000", archive.ActionSend, "2026-03-26T04:56:40Z", "I can get you a better rate off the books"},
		{chat + "1774501000000", archive.ActionDelete, "2026-03-26T05:13:20Z", ""},
		// Edited, then deleted, body gone: only the deletion is known.
		{chat + "1774502000000", archive.ActionDelete, "2026-03-26T05:46:40Z", ""},
	}
	if len(msgs) != len(wants) {
		t.Fatalf("%d records, want %d", len(msgs), len(wants))
	}
	for i, w := range wants {
		m := msgs[i]
		if m.SourceID != w.source || m.Action != w.action || !m.SentAt.Equal(mustTeamsTime(t, w.at)) || m.Text != w.text {
			t.Errorf("record %d: %s %s at %v %q, want %s %s at %s %q", i, m.SourceID, m.Action, m.SentAt, m.Text, w.source, w.action, w.at, w.text)
		}
	}
}

func TestTeamsLastModifiedWithoutLastEdited(t *testing.T) {
	body := `{"id":"1","chatId":"19:a@thread.v2","createdDateTime":"2026-01-02T03:04:05Z","lastModifiedDateTime":"2026-01-02T04:00:00Z",` +
		`"from":{"user":{"id":"u1","userIdentityType":"aadUser"}},"body":{"contentType":"text","content":"new text"}}`
	m := decodeOK(t, Teams{}, []byte(body), nil)
	if len(m) != 1 || m[0].Action != archive.ActionEdit || !m[0].SentAt.Equal(mustTeamsTime(t, "2026-01-02T04:00:00Z")) {
		t.Fatalf("a payload without lastEditedDateTime, modified after creation, is an edit: %+v", m)
	}
}

func TestTeamsExternalSenders(t *testing.T) {
	body := loadSourceFixture(t, "teams", "guests_and_bots.json")
	home := decodeOK(t, Teams{HomeTenantID: teamsHomeTenant}, body, nil)
	if len(home) != 3 {
		t.Fatalf("%d records, want 3", len(home))
	}
	for i, m := range home {
		if !m.From.External {
			t.Errorf("record %d: %+v (%s) is not marked external", i, m.From, m.Text)
		}
	}
	if bot := home[2]; bot.Type != "card" || bot.Text != "Approval requested\nLimit increase for desk 7 to 50m" || bot.From.Name != "Flow" {
		t.Errorf("bot card: type %q text %q from %+v", bot.Type, bot.Text, bot.From)
	}
	if m := decodeOK(t, Teams{}, body, nil)[1]; m.From.External {
		t.Errorf("without a home tenant, an aadUser of another tenant cannot be told apart: %+v", m.From)
	}
}

func TestTeamsSystemEvent(t *testing.T) {
	m := decodeOK(t, Teams{}, loadSourceFixture(t, "teams", "system_event.json"), nil)
	if len(m) != 1 || m[0].Type != "systemEventMessage" || m[0].Text != "membersAdded: Alex Wilber" || m[0].From.Name != "Robin Kline" {
		t.Fatalf("system event: %+v", m)
	}
}

func TestTeamsRejects(t *testing.T) {
	good := `{"id":"1","chatId":"19:a@thread.v2","createdDateTime":"2026-01-02T03:04:05Z","from":{"user":{"id":"u1"}},"body":{"contentType":"text","content":"hi"}}`
	for name, c := range map[string]struct{ body, field string }{
		"no chat":         {strings.Replace(good, `"chatId":"19:a@thread.v2",`, "", 1), "chatId"},
		"no id":           {strings.Replace(good, `"id":"1",`, "", 1), "id"},
		"no sender":       {strings.Replace(good, `"from":{"user":{"id":"u1"}},`, "", 1), "from.user.id"},
		"bad created":     {strings.Replace(good, "2026-01-02T03:04:05Z", "yesterday", 1), "createdDateTime"},
		"no created":      {strings.Replace(good, `"createdDateTime":"2026-01-02T03:04:05Z",`, "", 1), "createdDateTime"},
		"bad lastEdited":  {strings.Replace(good, `{"id"`, `{"lastEditedDateTime":5,"id"`, 1), "lastEditedDateTime"},
		"value not array": {`{"value":{"id":"1"}}`, "value"},
		"body type":       {strings.Replace(good, `"content":"hi"`, `"content":7`, 1), "body.content"},
	} {
		t.Run(name, func(t *testing.T) {
			if e := decodeErr(t, Teams{}, []byte(c.body)); e.Field != c.field {
				t.Fatalf("error %q names field %q, want %q", e.Error(), e.Field, c.field)
			}
		})
	}
}

func TestReadTeams(t *testing.T) {
	input := loadSourceFixture(t, "teams", "export.ndjson")
	var items []Item
	err := ReadTeams(bytes.NewReader(input), "acme", sourceLimits, now, func(it Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantWhere := []string{"page 1 message 1", "page 1 message 2", "page 2 message 1", "page 2 message 2",
		"page 2 message 2 (delete)", "page 2 message 3", "page 2 message 4"}
	var where []string
	var total int64
	for _, it := range items {
		where = append(where, it.Where)
		total += it.Bytes
	}
	if !reflect.DeepEqual(where, wantWhere) {
		t.Fatalf("items %q, want %q", where, wantWhere)
	}
	var e *Error
	if last := items[len(items)-1]; !errors.As(last.Err, &e) || e.Field != "createdDateTime" {
		t.Fatalf("the message with a bad date must be rejected naming createdDateTime: %v", last.Err)
	}
	for _, it := range items[:len(items)-1] {
		if it.Err != nil || it.Record.Message.Tenant != "acme" || it.Record.Message.Platform != "teams" {
			t.Fatalf("%s: %v %+v", it.Where, it.Err, it.Record.Message)
		}
	}
	if items[4].Bytes != 0 || total <= int64(len(input))/2 || total >= int64(len(input)) {
		t.Fatalf("bytes: the later versions of a message count 0, the total %d of %d", total, len(input))
	}
	var again []Item
	_ = ReadTeams(bytes.NewReader(input), "acme", sourceLimits, now, func(it Item) error { again = append(again, it); return nil })
	if !reflect.DeepEqual(items, again) {
		t.Fatal("the same export read twice gives different items")
	}
}

func FuzzTeams(f *testing.F) {
	for _, name := range []string{"getallmessages.json", "channel_mention_file.json", "edited_deleted.json", "guests_and_bots.json", "system_event.json"} {
		f.Add(loadSourceFixture(f, "teams", name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Teams{HomeTenantID: teamsHomeTenant}.Decode(Request{Body: body, Now: now, Limits: Limits{MaxFieldBytes: 4096}})
		checkFuzzResult(t, res, err)
	})
}

func FuzzReadTeams(f *testing.F) {
	f.Add(loadSourceFixture(f, "teams", "export.ndjson"))
	f.Add(loadSourceFixture(f, "teams", "edited_deleted.json"))
	f.Fuzz(func(t *testing.T, input []byte) {
		err := ReadTeams(bytes.NewReader(input), "acme", Limits{MaxFieldBytes: 4096}, now, checkImportItem(t))
		checkImportError(t, err)
	})
}

func TestSourcesFieldLimit(t *testing.T) {
	small := Limits{MaxFieldBytes: 16}
	// Several fields are over the limit; Finish names one of them.
	for _, c := range []struct {
		src  Source
		body []byte
	}{
		{DingTalk{}, loadSourceFixture(t, "dingtalk", "text_group.json")},
		{Zoom{}, loadSourceFixture(t, "zoom", "chat_message_sent_contact.json")},
		{Teams{}, loadSourceFixture(t, "teams", "guests_and_bots.json")},
	} {
		_, err := c.src.Decode(Request{Body: c.body, Now: now, Limits: small})
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindTooLarge || e.Field == "" {
			t.Errorf("%s: %v, want a KindTooLarge error naming the field", c.src.Platform(), err)
		}
	}
}
