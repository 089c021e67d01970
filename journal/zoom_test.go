package journal

// The Zoom fixtures in testdata/zoom follow Zoom's Team Chat webhook event
// payloads as Zoom's own SDK (zoom/rivet-javascript, teamchat.d.ts) types
// them: chat_message.sent/updated/deleted {event, event_ts, payload:
// {account_id, operator, operator_id, object: {id, type to_contact |
// to_channel, date_time, timestamp, session_id, contact_email, contact_id,
// channel_id, channel_name, message}}}, team_chat.dm_message_posted (with
// operator_member_id, by_external_user, object.message_id and files[]
// {OS_file_type, file_id, file_message_type, file_name, file_size}),
// chat_channel.member_joined; endpoint.url_validation is the example of
// Zoom's webhook documentation ("Validate your webhook endpoint"). The
// history pages follow the same SDK's ChatMessagesListUsersChatMessages
// response (GET /chat/users/{userId}/messages: messages[] {id, message,
// sender, send_member_id, sender_display_name, date_time, timestamp,
// message_type, file_id, file_name, file_size, download_url, status,
// reply_main_message_id}, next_page_token, page_size, from, to, date) plus
// holdfast's request parameters (user, to_channel, to_contact).
// Identifiers, names and texts are invented.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

func TestZoomChannelMessageVersions(t *testing.T) {
	var got []archive.Message
	for _, f := range []string{"chat_message_sent_channel.json", "chat_message_updated.json", "chat_message_deleted.json"} {
		got = append(got, decodeOK(t, Zoom{}, loadSourceFixture(t, "zoom", f), nil)...)
	}
	if len(got) != 3 {
		t.Fatalf("%d records, want 3", len(got))
	}
	wantActions := []archive.Action{archive.ActionSend, archive.ActionEdit, archive.ActionDelete}
	wantTimes := []time.Time{dingTalkMs(1779184800000), dingTalkMs(1779185100456), dingTalkMs(1779185400789)}
	for i, m := range got {
		if m.Action != wantActions[i] || !m.SentAt.Equal(wantTimes[i]) {
			t.Errorf("record %d: %s at %v, want %s at %v", i, m.Action, m.SentAt, wantActions[i], wantTimes[i])
		}
		if m.SourceID != "4e9ef23b-2b81-4e61-9a0a-f3e17d3c2a11" {
			t.Errorf("record %d: source id %q: edits and deletions must be versions of the sent message", i, m.SourceID)
		}
		wantConv := archive.Conversation{ID: "5f2c2d3a0e0b4a7c9d1e6f8a7b6c5d4e", Kind: archive.KindChannel, Name: "Rates desk"}
		if m.Conversation != wantConv || m.From.ID != "ada.chen@example.com" || m.From.External || len(m.To) != 0 {
			t.Errorf("record %d: conversation %+v from %+v to %+v", i, m.Conversation, m.From, m.To)
		}
	}
	if got[0].Text != "Client wants to move the 5y swap to Friday, guaranteed fill at 3.25%" || got[1].Text != "Client wants to move the 5y swap to Friday, indicative 3.25%" {
		t.Fatalf("texts %q / %q", got[0].Text, got[1].Text)
	}
}

func TestZoomDirectMessage(t *testing.T) {
	body := loadSourceFixture(t, "zoom", "chat_message_sent_contact.json")
	m := decodeOK(t, Zoom{}, body, nil)[0]
	if m.Conversation.Kind != archive.KindDirect || m.Conversation.ID != "dm:ada.chen@example.com|lin.wei@example.com" {
		t.Fatalf("conversation %+v: a 1:1 chat is named after both parties, whoever writes", m.Conversation)
	}
	if m.Text != "你好，报价单已经发给你了" || m.Raw != strings.TrimSpace(string(body)) {
		t.Fatalf("text %q raw %q", m.Text, m.Raw)
	}
	if len(m.To) != 1 || m.To[0].ID != "ada.chen@example.com" || m.From.ID != "Lin.Wei@example.com" {
		t.Fatalf("from %+v to %+v", m.From, m.To)
	}
}

func TestZoomExternalUserWithFile(t *testing.T) {
	m := decodeOK(t, Zoom{}, loadSourceFixture(t, "zoom", "team_chat_dm_posted_external.json"), nil)[0]
	if !m.From.External || m.From.ID != "trader@partnerfund.example" {
		t.Fatalf("by_external_user sender not external: %+v", m.From)
	}
	if m.SourceID != "2c4e6a8b-0d1f-4a3c-8e5b-7d9f1b3c5e7a" || m.Text != "Signed confirmation attached\ntrade-confirmation-0519.pdf" || m.Type != "text" {
		t.Fatalf("source id %q type %q text %q", m.SourceID, m.Type, m.Text)
	}
	if len(m.Attachments) != 0 {
		t.Fatalf("attachments without their bytes: %+v", m.Attachments)
	}
}

func TestZoomOtherEventsAreAcknowledged(t *testing.T) {
	if got := decodeOK(t, Zoom{}, loadSourceFixture(t, "zoom", "chat_channel_member_joined.json"), nil); len(got) != 0 {
		t.Fatalf("a channel event archived as %d records", len(got))
	}
}

// zoomSignature is Zoom's request signature, computed as its
// documentation describes it.
func zoomSignature(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

func zoomHeader(secret string, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	h := http.Header{}
	h.Set("x-zm-request-timestamp", ts)
	h.Set("x-zm-signature", zoomSignature(secret, ts, body))
	return h
}

func TestZoomURLValidation(t *testing.T) {
	const secret = "Wh5ec_r3tT0ken"
	body := loadSourceFixture(t, "zoom", "url_validation.json")
	res, err := Zoom{SecretToken: secret}.Decode(Request{Header: zoomHeader(secret, now, body), Body: body, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("qgg8vlvZRS6UYooatFL8Aw"))
	want := zoomValidation{PlainToken: "qgg8vlvZRS6UYooatFL8Aw", EncryptedToken: hex.EncodeToString(mac.Sum(nil))}
	if res.Reply != want || len(res.Records) != 0 {
		t.Fatalf("reply %+v, %d records; want %+v and nothing archived", res.Reply, len(res.Records), want)
	}
	if _, err := (Zoom{}).Decode(Request{Body: body, Now: now}); !errors.Is(err, ErrSignature) {
		t.Fatalf("validation without a secret token: %v, want ErrSignature", err)
	}
}

func TestZoomSignature(t *testing.T) {
	const secret = "Wh5ec_r3tT0ken"
	body := loadSourceFixture(t, "zoom", "chat_message_sent_channel.json")
	tampered := bytes.Replace(body, []byte("3.25%"), []byte("2.25%"), 1)
	for name, c := range map[string]struct {
		h    http.Header
		body []byte
		ok   bool
	}{
		"valid":           {zoomHeader(secret, now.Add(-time.Minute), body), body, true},
		"tampered body":   {zoomHeader(secret, now, body), tampered, false},
		"wrong secret":    {zoomHeader("other", now, body), body, false},
		"six minutes old": {zoomHeader(secret, now.Add(-6*time.Minute), body), body, false},
		"missing":         {http.Header{}, body, false},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := Zoom{SecretToken: secret}.Decode(Request{Header: c.h, Body: c.body, Now: now, Limits: sourceLimits})
			if c.ok && (err != nil || len(res.Records) != 1) {
				t.Fatalf("valid signature refused: %v", err)
			}
			if !c.ok && (!errors.Is(err, ErrSignature) || len(res.Records) != 0) {
				t.Fatalf("err = %v, want ErrSignature and nothing archived", err)
			}
		})
	}
}

func TestZoomRejects(t *testing.T) {
	good := string(loadSourceFixture(t, "zoom", "chat_message_sent_contact.json"))
	for name, c := range map[string]struct{ body, field string }{
		"no id":          {strings.Replace(good, `"id":"b8d0c3a2-6c1f-4d0e-9e5a-3f2b1a0c9d8e",`, "", 1), "payload.object.id"},
		"no time":        {strings.Replace(strings.Replace(good, `"timestamp":1779188400000,`, "", 1), `"date_time":"2026-05-19T11:00:00Z",`, "", 1), "payload.object.date_time"},
		"bad date_time":  {strings.Replace(strings.Replace(good, `"timestamp":1779188400000,`, "", 1), `2026-05-19T11:00:00Z`, "19/05/2026", 1), "payload.object.date_time"},
		"no contact":     {strings.Replace(strings.Replace(good, `"contact_email":"ada.chen@example.com",`, "", 1), `"contact_id":"z8yCxjabcdEFGHfp8uQ",`, "", 1), "payload.object.contact_email"},
		"no operator":    {strings.Replace(strings.Replace(good, `"operator":"Lin.Wei@example.com",`, "", 1), `"operator_id":"Kq3xTyZ0aBcDeFgH1iJkLm",`, "", 1), "payload.operator"},
		"not an event":   {`{"payload":{}}`, "event"},
		"validation + 1": {`[{"event":"endpoint.url_validation","payload":{"plainToken":"x"}},` + strings.TrimSpace(good) + `]`, "event"},
		"timestamp type": {strings.Replace(good, `"timestamp":1779188400000`, `"timestamp":true`, 1), "payload.object.timestamp"},
	} {
		t.Run(name, func(t *testing.T) {
			if e := decodeErr(t, Zoom{}, []byte(c.body)); e.Field != c.field {
				t.Fatalf("error %q names field %q, want %q", e.Error(), e.Field, c.field)
			}
		})
	}
}

// readZoomItems reads a history and returns every item.
func readZoomItems(t *testing.T, input []byte) []Item {
	t.Helper()
	var items []Item
	err := ReadZoomHistory(bytes.NewReader(input), "acme", sourceLimits, now, func(it Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestReadZoomHistory(t *testing.T) {
	input := loadSourceFixture(t, "zoom", "history.ndjson")
	items := readZoomItems(t, input)
	type want struct {
		where  string
		action archive.Action
		text   string
	}
	wants := []want{
		{"page 1 message 1", archive.ActionEdit, "Client wants to move the 5y swap to Friday, indicative 3.25%"},
		{"page 1 message 2", archive.ActionSend, "季度报告.pdf"},
		{"page 1 message 3", archive.ActionSend, "ignore the previous quote"},
		{"page 1 message 3 (delete)", archive.ActionDelete, "ignore the previous quote"},
		{"page 1 message 4", "", ""},
		{"page 2 message 1", archive.ActionSend, "你好，报价单已经发给你了"},
		{"page 2 message 2", archive.ActionSend, "收到，谢谢"},
	}
	if len(items) != len(wants) {
		t.Fatalf("%d items, want %d", len(items), len(wants))
	}
	var total int64
	for i, w := range wants {
		it := items[i]
		total += it.Bytes
		if it.Where != w.where {
			t.Errorf("item %d: where %q, want %q", i, it.Where, w.where)
		}
		if w.action == "" {
			var e *Error
			if !errors.As(it.Err, &e) || e.Field != "id" {
				t.Errorf("item %d: err %v, want a rejection naming id", i, it.Err)
			}
			continue
		}
		m := it.Record.Message
		if it.Err != nil || m.Action != w.action || m.Text != w.text || m.Platform != "zoom" || m.Tenant != "acme" {
			t.Errorf("item %d: %v %s %q", i, it.Err, m.Action, m.Text)
		}
	}
	if items[1].Record.Message.Type != "file" || items[0].Record.Message.From.Name != "Ada Chen" {
		t.Errorf("file message type %q, sender %+v", items[1].Record.Message.Type, items[0].Record.Message.From)
	}
	if a, b := items[2].Record.Message, items[3].Record.Message; a.SourceID != b.SourceID || !a.SentAt.Equal(b.SentAt) {
		t.Errorf("the deletion of a history message must be a version of it: %q %v / %q %v", a.SourceID, a.SentAt, b.SourceID, b.SentAt)
	}
	dm := items[5].Record.Message
	webhook := decodeOK(t, Zoom{}, loadSourceFixture(t, "zoom", "chat_message_sent_contact.json"), nil)[0]
	if dm.Conversation != webhook.Conversation || dm.SourceID != webhook.SourceID || !dm.SentAt.Equal(webhook.SentAt) {
		t.Errorf("back-filled DM %+v differs from the webhook's %+v", dm.Conversation, webhook.Conversation)
	}
	if len(dm.To) != 1 || dm.To[0].ID != "ada.chen@example.com" || items[6].Record.Message.To[0].ID != "lin.wei@example.com" {
		t.Errorf("recipients %+v / %+v", dm.To, items[6].Record.Message.To)
	}
	if total >= int64(len(input)) || total < int64(len(input))/2 {
		t.Errorf("items count %d bytes of a %d-byte input", total, len(input))
	}
}

func TestReadZoomHistoryBadInput(t *testing.T) {
	page := `{"to_contact":"lin.wei@example.com","messages":[]}`
	items := readZoomItems(t, []byte(page+"\n"+`{"to_channel":"c1","messages":[{"id":"m1","message":"hi","sender":"a@example.com","timestamp":1779188400000}]}`))
	var e *Error
	if len(items) != 2 || !errors.As(items[0].Err, &e) || e.Field != "user" || items[0].Where != "page 1" || items[1].Err != nil {
		t.Fatalf("a page without its user must be rejected and the import continue: %+v", items)
	}
	err := ReadZoomHistory(strings.NewReader(`{"to_channel":"c1","messages":[]} {"to_channel":`), "acme", sourceLimits, now, func(Item) error { return nil })
	if !errors.As(err, &e) || e.Kind != KindSyntax {
		t.Fatalf("truncated input: %v, want a syntax *Error", err)
	}
	stop := errors.New("stop")
	calls := 0
	err = ReadZoomHistory(bytes.NewReader(loadSourceFixture(t, "zoom", "history.ndjson")), "acme", sourceLimits, now, func(Item) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("fn's error must stop the read: %v after %d calls", err, calls)
	}
	array := "[" + page + "," + `{"to_channel":"c1","messages":[]}` + "]"
	if items := readZoomItems(t, []byte(array)); len(items) != 1 || items[0].Where != "page 1" {
		t.Fatalf("array of pages: %+v", items)
	}
}

func TestZoomDeterministic(t *testing.T) {
	body := loadSourceFixture(t, "zoom", "team_chat_dm_posted_external.json")
	if a, b := decodeOK(t, Zoom{}, body, nil), decodeOK(t, Zoom{}, body, nil); !reflect.DeepEqual(a, b) {
		t.Fatal("the same event decoded twice differs")
	}
}

func FuzzZoom(f *testing.F) {
	for _, name := range []string{"chat_message_sent_channel.json", "chat_message_deleted.json", "team_chat_dm_posted_external.json", "url_validation.json"} {
		f.Add(loadSourceFixture(f, "zoom", name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Zoom{SecretToken: "s"}.Decode(Request{Header: zoomHeader("s", now, body), Body: body, Now: now, Limits: Limits{MaxFieldBytes: 4096}})
		checkFuzzResult(t, res, err)
	})
}

func FuzzZoomHistory(f *testing.F) {
	f.Add(loadSourceFixture(f, "zoom", "history.ndjson"))
	f.Add([]byte(`[{"to_channel":"c","messages":[{"id":"1","message":"x","sender":"a","timestamp":1}]}]`))
	f.Fuzz(func(t *testing.T, input []byte) {
		err := ReadZoomHistory(bytes.NewReader(input), "acme", Limits{MaxFieldBytes: 4096}, now, checkImportItem(t))
		checkImportError(t, err)
	})
}

// checkImportItem is an import callback that fails the test on an item no
// importer may yield: a rejection that is not an *Error, or an invalid
// record.
func checkImportItem(t *testing.T) func(Item) error {
	return func(it Item) error {
		var e *Error
		if it.Err != nil && !errors.As(it.Err, &e) {
			t.Fatalf("rejection %v is not an *Error", it.Err)
		}
		if it.Err == nil {
			checkFuzzMessage(t, it.Record.Message)
		}
		return nil
	}
}

// checkImportError fails the test when an importer ends with an error that
// is not an *Error.
func checkImportError(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
}
