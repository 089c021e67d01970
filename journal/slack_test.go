package journal

// The deliveries under testdata/slack/events are Slack's own: the examples
// of Slack's event reference (docs.slack.dev/reference/events/message and
// its subtype pages, url_verification, reaction_added) and deliveries
// captured from a real workspace (the golden tests of
// github.com/MercuryTechnologies/slack-web); testdata/slack/README.md says
// which is which. The signature test vector is the one of Slack's
// "Verifying requests from Slack" (docs.slack.dev/authentication/
// verifying-requests-from-slack).

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

const slackTestSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// slackNow is the reception time of the test deliveries.
var slackNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// slackRequest is body signed as Slack signs it, received at slackNow.
func slackRequest(body []byte) Request {
	ts := strconv.FormatInt(slackNow.Unix(), 10)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", v0Signature(slackTestSecret, ts, body))
	return Request{Header: h, Body: body, Now: slackNow, Tenant: "acme", Limits: Limits{MaxFieldBytes: 1 << 20}}
}

func slackFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "slack", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeSlack decodes a signed fixture, which must give exactly one record.
func decodeSlack(t *testing.T, name string) archive.Message {
	t.Helper()
	res, err := Slack{SigningSecret: slackTestSecret}.Decode(slackRequest(slackFixture(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(res.Records) != 1 || res.Reply != nil {
		t.Fatalf("%s: %d records, reply %v; want one record", name, len(res.Records), res.Reply)
	}
	return res.Records[0].Message
}

func slackTS(t *testing.T, ts string) time.Time {
	t.Helper()
	tm, ok := slackTime(ts)
	if !ok {
		t.Fatalf("bad ts %q", ts)
	}
	return tm
}

func TestSlackSignatureDocumentedVector(t *testing.T) {
	const (
		ts   = "1531420618"
		body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
		want = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	)
	if got := v0Signature(slackTestSecret, ts, []byte(body)); got != want {
		t.Fatalf("signature %s, want Slack's %s", got, want)
	}
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", want)
	req := Request{Header: h, Body: []byte(body), Now: time.Unix(1531420618+60, 0)}
	// The signature verifies; the form body is then refused as a payload,
	// not as a forgery.
	_, err := Slack{SigningSecret: slackTestSecret}.Decode(req)
	var e *Error
	if !errors.As(err, &e) || errors.Is(err, ErrSignature) {
		t.Fatalf("got %v, want a payload *Error", err)
	}
}

func TestSlackRefusesUnsignedDeliveries(t *testing.T) {
	body := slackFixture(t, "message.json")
	for name, change := range map[string]func(r *Request, s *Slack){
		"tampered body": func(r *Request, _ *Slack) {
			r.Body = []byte(strings.Replace(string(r.Body), "Hello world", "Hello w0rld", 1))
		},
		"wrong secret":       func(_ *Request, s *Slack) { s.SigningSecret = "another-secret" },
		"no secret":          func(_ *Request, s *Slack) { s.SigningSecret = "" },
		"no signature":       func(r *Request, _ *Slack) { r.Header.Del("X-Slack-Signature") },
		"no timestamp":       func(r *Request, _ *Slack) { r.Header.Del("X-Slack-Request-Timestamp") },
		"timestamp not unix": func(r *Request, _ *Slack) { r.Header.Set("X-Slack-Request-Timestamp", "yesterday") },
		"replayed 6 minutes later": func(r *Request, _ *Slack) {
			r.Now = r.Now.Add(6 * time.Minute)
		},
		"stamped 6 minutes ahead": func(r *Request, _ *Slack) {
			r.Now = r.Now.Add(-6 * time.Minute)
		},
		"uppercase hex": func(r *Request, _ *Slack) {
			r.Header.Set("X-Slack-Signature", "v0="+strings.ToUpper(strings.TrimPrefix(r.Header.Get("X-Slack-Signature"), "v0=")))
		},
	} {
		t.Run(name, func(t *testing.T) {
			req, s := slackRequest(body), Slack{SigningSecret: slackTestSecret}
			change(&req, &s)
			res, err := s.Decode(req)
			if !errors.Is(err, ErrSignature) || len(res.Records) != 0 {
				t.Fatalf("got %d records, %v; want ErrSignature", len(res.Records), err)
			}
		})
	}
	// Four minutes late is inside Slack's window.
	req := slackRequest(body)
	req.Now = req.Now.Add(4 * time.Minute)
	if _, err := (Slack{SigningSecret: slackTestSecret}).Decode(req); err != nil {
		t.Fatalf("a delivery 4 minutes old: %v", err)
	}
}

func TestSlackURLVerification(t *testing.T) {
	res, err := Slack{SigningSecret: slackTestSecret}.Decode(slackRequest(slackFixture(t, "url_verification.json")))
	if err != nil {
		t.Fatal(err)
	}
	want := "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
	if r, ok := res.Reply.(map[string]string); !ok || r["challenge"] != want || len(res.Records) != 0 {
		t.Fatalf("reply %#v, %d records; want the challenge and nothing archived", res.Reply, len(res.Records))
	}
}

func TestSlackMessage(t *testing.T) {
	body := slackFixture(t, "message.json")
	m := decodeSlack(t, "message.json")
	if m.Platform != "slack" || m.Tenant != "acme" || m.Action != archive.ActionSend || m.Type != "text" {
		t.Fatalf("record %+v", m)
	}
	if m.SourceID != "C123ABC456:1355517523.000005" || m.Conversation != (archive.Conversation{ID: "C123ABC456", Kind: archive.KindChannel}) {
		t.Fatalf("source id %q, conversation %+v", m.SourceID, m.Conversation)
	}
	if m.From != (archive.Participant{ID: "U123ABC456"}) || len(m.To) != 0 || m.Text != "Hello world" {
		t.Fatalf("from %+v to %+v text %q", m.From, m.To, m.Text)
	}
	if !m.SentAt.Equal(time.Date(2012, 12, 14, 20, 38, 43, 5000, time.UTC)) {
		t.Fatalf("sent at %v", m.SentAt)
	}
	if m.Raw != string(body) {
		t.Fatalf("raw is not the delivery as received")
	}
}

func TestSlackEditIsAVersionOfTheOriginal(t *testing.T) {
	orig, edit := decodeSlack(t, "message.json"), decodeSlack(t, "message_changed.json")
	if archive.MessageID("acme", edit.Platform, edit.SourceID) != archive.MessageID("acme", orig.Platform, orig.SourceID) {
		t.Fatalf("edit %q and original %q are different messages", edit.SourceID, orig.SourceID)
	}
	if edit.Action != archive.ActionEdit || edit.Text != "Hello, world!" || edit.From.ID != "U123ABC456" {
		t.Fatalf("edit %+v", edit)
	}
	if want := slackTS(t, "1358878755.000001"); !edit.SentAt.Equal(want) {
		t.Fatalf("edit at %v, want the edit's time %v", edit.SentAt, want)
	}
}

func TestSlackDeleteIsAVersionOfTheOriginal(t *testing.T) {
	m := decodeSlack(t, "capture_message_deleted.json")
	if m.Action != archive.ActionDelete || m.SourceID != "C043YJGBY49:1663966382.046509" || m.Text != "" {
		t.Fatalf("delete %+v", m)
	}
	if m.From.ID != "U043H11ES4V" || !m.SentAt.Equal(slackTS(t, "1663969383.001500")) {
		t.Fatalf("delete by %+v at %v", m.From, m.SentAt)
	}
	// Slack's documented example carries no previous_message.
	doc := decodeSlack(t, "message_deleted_doc.json")
	if doc.Action != archive.ActionDelete || doc.SourceID != "C123ABC456:1358878749.000002" || doc.From.ID != slackUnknownSender {
		t.Fatalf("documented delete %+v", doc)
	}
}

func TestSlackRecordsNothing(t *testing.T) {
	replied := strings.Replace(string(slackFixture(t, "message_changed.json")), `"message_changed"`, `"message_replied"`, 1)
	for name, body := range map[string][]byte{
		"reaction_added":            slackFixture(t, "reaction_added.json"),
		"link preview added":        slackFixture(t, "capture_message_changed_unfurl.json"),
		"message_replied":           []byte(replied),
		"app_rate_limited envelope": []byte(`{"token":"x","type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820,"api_app_id":"A1"}`),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := Slack{SigningSecret: slackTestSecret}.Decode(slackRequest(body))
			if err != nil || len(res.Records) != 0 || res.Reply != nil {
				t.Fatalf("got %d records, reply %v, %v; want an acknowledgement", len(res.Records), res.Reply, err)
			}
		})
	}
}

func TestSlackSubtypes(t *testing.T) {
	for _, c := range []struct {
		file, typ, kind, from, fromName, text string
		external                              bool
	}{
		{"capture_file_share.json", "file", archive.KindDirect, "U043H11ES4V", "", "message message message\nnamenamename.txt", false},
		{"capture_file_share_slack_connect.json", "file", archive.KindDirect, "U043H11ES4V", "", "message message message", false},
		{"capture_bot_message.json", "bot_message", archive.KindChannel, "B07JWPS5Y5S", "Reacji Channeler", "https://myworkspace.slack.com/archives/C07KTH1T4CQ/p1724954997876929", false},
		{"capture_channel_join.json", "channel_join", archive.KindChannel, "U0442US8QGH", "", "@U0442US8QGH has joined the channel", false},
		{"thread_broadcast.json", "thread_broadcast", archive.KindChannel, "U123ABC456", "", "broadcasting this reply", false},
		{"message_im_chinese.json", "text", archive.KindDirect, "U043H11ES4V", "", "请在周五前把第三季度的报价单发给客户，价格不要低于 <底价>", false},
		{"message_slack_connect_reply.json", "text", archive.KindChannel, "U02N85E78QM", "", "Agreed, @jadel - see the terms (https://example.com/terms?a=1&b=2)", true},
	} {
		t.Run(c.file, func(t *testing.T) {
			m := decodeSlack(t, c.file)
			if m.Action != archive.ActionSend || m.Type != c.typ || m.Conversation.Kind != c.kind {
				t.Fatalf("action %s type %q kind %q, want send %q %q", m.Action, m.Type, m.Conversation.Kind, c.typ, c.kind)
			}
			if m.From.ID != c.from || m.From.Name != c.fromName || m.From.External != c.external {
				t.Fatalf("from %+v, want %s %q external=%v", m.From, c.from, c.fromName, c.external)
			}
			if m.Text != c.text || len(m.Attachments) != 0 {
				t.Fatalf("text %q attachments %v, want %q and no attachment", m.Text, m.Attachments, c.text)
			}
		})
	}
}

func TestSlackErrors(t *testing.T) {
	msg := string(slackFixture(t, "message.json"))
	changed := string(slackFixture(t, "message_changed.json"))
	deleted := string(slackFixture(t, "message_deleted_doc.json"))
	future := strconv.FormatInt(slackNow.Add(48*time.Hour).Unix(), 10) + ".000001"
	for _, c := range []struct {
		name, body string
		kind       ErrorKind
		field      string
	}{
		{"documented bot_message has no channel", string(slackFixture(t, "bot_message_doc.json")), KindInvalid, "event.channel"},
		{"not JSON", msg[:40], KindSyntax, ""},
		{"ts not a timestamp", strings.Replace(msg, `"1355517523.000005"`, `"yesterday"`, 1), KindInvalid, "event.ts"},
		{"ts a number", strings.Replace(msg, `"1355517523.000005"`, `1355517523.000005`, 1), KindInvalid, "event.ts"},
		{"no sender", strings.Replace(msg, `"user": "U123ABC456",`, ``, 1), KindInvalid, "event.user"},
		{"sent in two days", strings.Replace(msg, `"1355517523.000005"`, `"`+future+`"`, 1), KindInvalid, "sent_at"},
		{"edit without message", strings.Replace(changed, `"message": {`, `"msg": {`, 1), KindInvalid, "event.message"},
		{"edit of no ts", strings.Replace(changed, `"ts": "1355517523.000005"`, `"ts": ""`, 1), KindInvalid, "event.message.ts"},
		{"edit at no time", strings.Replace(changed, `"ts": "1358878755.000001"
            }`, `"ts": "later"
            }`, 1), KindInvalid, "event.message.edited.ts"},
		{"delete of nothing", strings.Replace(deleted, `"deleted_ts"`, `"gone_ts"`, 1), KindInvalid, "event.deleted_ts"},
		{"event not an object", `{"type":"event_callback","team_id":"T1","event":"message"}`, KindInvalid, "event"},
		{"challenge missing", `{"type":"url_verification","token":"x"}`, KindInvalid, "challenge"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Slack{SigningSecret: slackTestSecret}.Decode(slackRequest([]byte(c.body)))
			var e *Error
			if !errors.As(err, &e) || len(res.Records) != 0 {
				t.Fatalf("got %d records, %v; want an *Error", len(res.Records), err)
			}
			if e.Kind != c.kind || e.Field != c.field || e.Line < 1 || e.Msg == "" {
				t.Fatalf("got %+v, want kind %d field %q and a line", e, c.kind, c.field)
			}
		})
	}
	t.Run("delivery over the size limit", func(t *testing.T) {
		req := slackRequest([]byte(msg))
		req.Limits.MaxFieldBytes = 256
		_, err := Slack{SigningSecret: slackTestSecret}.Decode(req)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindTooLarge || e.Field != "raw" {
			t.Fatalf("got %v, want raw too large", err)
		}
	})
}

func TestSlackPlain(t *testing.T) {
	names := func(id string) string { return map[string]string{"U1": "Alice Chen"}[id] }
	for in, want := range map[string]string{
		"plain text":                              "plain text",
		"a &lt;b&gt; &amp;amp; c":                 "a <b> &amp; c",
		"hi <@U1>":                                "hi @Alice Chen",
		"hi <@U2|bobby> and <@U3>":                "hi @bobby and @U3",
		"see <#C1|general> and <#C2>":             "see #general and #C2",
		"<!here> <!channel> <!subteam^S1|@legal>": "@here @channel @legal",
		"<!date^1392734382^{date}|Feb 18, 2014>":  "Feb 18, 2014",
		"<https://x.test/a?b=1&amp;c=2>":          "https://x.test/a?b=1&c=2",
		"<https://x.test|the site>":               "the site (https://x.test)",
		"<mailto:bob@x.test|bob@x.test>":          "bob@x.test",
		"unclosed <https://x.test":                "unclosed <https://x.test",
		"合同 &lt;第5条&gt;":                          "合同 <第5条>",
	} {
		if got := slackPlain(in, names); got != want {
			t.Errorf("slackPlain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSlackTime(t *testing.T) {
	for ts, want := range map[string]time.Time{
		"1355517523.000005": time.Date(2012, 12, 14, 20, 38, 43, 5000, time.UTC),
		"1355517523":        time.Date(2012, 12, 14, 20, 38, 43, 0, time.UTC),
	} {
		if got, ok := slackTime(ts); !ok || !got.Equal(want) {
			t.Errorf("slackTime(%q) = %v %v, want %v", ts, got, ok, want)
		}
	}
	for _, ts := range []string{"", ".5", "-1.0", "1e9", "1355517523.0000050000", "13555175230000.1", " 1.0"} {
		if _, ok := slackTime(ts); ok {
			t.Errorf("slackTime(%q) accepted", ts)
		}
	}
}

// FuzzSlackDecode: whatever a correctly signed body holds, Decode returns
// records that passed Finish, a reply, or an *Error, and never panics.
func FuzzSlackDecode(f *testing.F) {
	for _, name := range []string{"message.json", "message_changed.json", "capture_message_deleted.json",
		"capture_file_share.json", "thread_broadcast.json", "url_verification.json", "reaction_added.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "slack", "events", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"event_callback","event":{"type":"message","subtype":"message_changed","channel":"C1","ts":"1.1","message":{"ts":"1.0","text":"<@U1|x> <!here> <a|b"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Slack{SigningSecret: slackTestSecret}.Decode(slackRequest(body))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" {
				t.Fatalf("error %v is not a payload *Error", err)
			}
			return
		}
		for _, r := range res.Records {
			m := r.Message
			if m.Platform != "slack" || m.SourceID == "" || m.From.ID == "" || m.Conversation.ID == "" || !m.Action.Valid() {
				t.Fatalf("unfinished record %+v", m)
			}
		}
	})
}
