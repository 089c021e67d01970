package journal

// The DingTalk fixtures in testdata/dingtalk follow the robot callback
// ("机器人接收消息", https://open.dingtalk.com/document/orgapp/receive-message)
// as DingTalk documents it — conversationId, atUsers, chatbotCorpId,
// chatbotUserId, msgId, senderNick, isAdmin, senderStaffId,
// sessionWebhookExpiredTime, createAt, senderCorpId, conversationType,
// senderId, conversationTitle, isInAtList, sessionWebhook, text.content,
// msgtype — and, for the richText, picture and file bodies, the callbacks
// captured in the test resources of the dingtalk-stream-sdk crate
// (test_resources/cb_msg_rich_text.json, cb_msg_picture.json,
// cb_msg_file.json); audio's content {duration, downloadCode, recognition}
// and video's {duration, downloadCode, videoType} are those of the official
// stream SDKs. recall.json is holdfast's documented recall extension (see
// DingTalk). Identifiers, names and texts are invented.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

var sourceLimits = Limits{MaxFieldBytes: 1 << 20}

// loadSourceFixture reads testdata/<dir>/<name>.
func loadSourceFixture(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeOK decodes body with src and fails the test on an error.
func decodeOK(t *testing.T, src Source, body []byte, h http.Header) []archive.Message {
	t.Helper()
	res, err := src.Decode(Request{Header: h, Body: body, Now: now, Tenant: "acme", Limits: sourceLimits})
	if err != nil {
		t.Fatalf("%s: %v", src.Platform(), err)
	}
	msgs := make([]archive.Message, len(res.Records))
	for i, r := range res.Records {
		if r.ExplicitVersion || r.Message.Version != 0 {
			t.Fatalf("record %d carries a version: the ledger assigns versions", i)
		}
		msgs[i] = r.Message
	}
	return msgs
}

// decodeErr decodes body with src and returns the *Error it must fail with.
func decodeErr(t *testing.T, src Source, body []byte) *Error {
	t.Helper()
	res, err := src.Decode(Request{Body: body, Now: now, Limits: sourceLimits})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: err = %v, want an *Error", src.Platform(), err)
	}
	if len(res.Records) != 0 {
		t.Fatalf("%s: %d records returned with an error", src.Platform(), len(res.Records))
	}
	return e
}

func dingTalkMs(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func TestDingTalkGroupText(t *testing.T) {
	body := loadSourceFixture(t, "dingtalk", "text_group.json")
	msgs := decodeOK(t, DingTalk{}, body, nil)
	if len(msgs) != 1 {
		t.Fatalf("%d records, want 1", len(msgs))
	}
	m := msgs[0]
	want := archive.Message{
		Action: archive.ActionSend, Platform: "dingtalk", Tenant: "acme", SourceID: "msgGDkZWYZlvw7rFtTHcDIFWw==",
		Conversation: archive.Conversation{ID: "cidh6ezDLHQau9V23Es/xSLNoiDDmPuN354KylQ2BaIhuM=", Kind: archive.KindGroup, Name: "华东区销售群"},
		From:         archive.Participant{ID: "032615015535634423", Name: "赵文浩"},
		SentAt:       dingTalkMs(1774085385298), Type: "text", Text: " 这支基金保本保收益，今天下单",
		Raw: strings.TrimSpace(string(body)),
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("record\n got %+v\nwant %+v", m, want)
	}
}

func TestDingTalkDirectFromExternal(t *testing.T) {
	m := decodeOK(t, DingTalk{}, loadSourceFixture(t, "dingtalk", "text_direct_external.json"), nil)[0]
	if m.Conversation.Kind != archive.KindDirect {
		t.Fatalf("conversationType 1 is kind %q, want direct", m.Conversation.Kind)
	}
	if !m.From.External || m.From.ID != "$:LWCP_v1:$Pq81sZ0aXl3Ty9vWmEo2Ug==" || m.From.Name != "Lin (Acme Capital)" {
		t.Fatalf("a sender without staff id from another corp must be external, by senderId: %+v", m.From)
	}
	if len(m.To) != 1 || m.To[0].ID != "$:LWCP_v1:$01B/44e/ph+R21B/X+43WLnAcUVO5BKL" {
		t.Fatalf("a 1:1 message is to the robot: %+v", m.To)
	}
}

func TestDingTalkMessageTypes(t *testing.T) {
	for _, c := range []struct{ file, typ, text string }{
		{"rich_text.json", "richText", "\n合同第三页，请确认"},
		{"file.json", "file", "2026年第一季度客户报价单.xlsx"},
		{"picture.json", "picture", "[picture]"},
		{"audio.json", "audio", "钉钉，让进步发生"},
		{"video.json", "video", "[video]"},
	} {
		t.Run(c.file, func(t *testing.T) {
			m := decodeOK(t, DingTalk{}, loadSourceFixture(t, "dingtalk", c.file), nil)[0]
			if m.Type != c.typ || m.Text != c.text {
				t.Fatalf("type %q text %q, want %q %q", m.Type, m.Text, c.typ, c.text)
			}
			if m.SentAt.IsZero() || m.From.External {
				t.Fatalf("sent_at %v, from %+v", m.SentAt, m.From)
			}
		})
	}
}

func TestDingTalkRecallIsAVersionOfTheMessage(t *testing.T) {
	sent := decodeOK(t, DingTalk{}, loadSourceFixture(t, "dingtalk", "text_group.json"), nil)[0]
	recall := decodeOK(t, DingTalk{}, loadSourceFixture(t, "dingtalk", "recall.json"), nil)[0]
	if recall.Action != archive.ActionRecall || recall.Text != "" {
		t.Fatalf("recall: action %q text %q", recall.Action, recall.Text)
	}
	if archive.MessageID(recall.Tenant, recall.Platform, recall.SourceID) != archive.MessageID(sent.Tenant, sent.Platform, sent.SourceID) {
		t.Fatalf("the recall (%s) is not the same archived message as the send (%s)", recall.SourceID, sent.SourceID)
	}
	if !recall.SentAt.Equal(dingTalkMs(1774085445298)) || !recall.SentAt.After(sent.SentAt) {
		t.Fatalf("recall dated %v, want the recall time after the send (%v)", recall.SentAt, sent.SentAt)
	}
	if recall.Conversation.ID != sent.Conversation.ID || recall.From.ID != sent.From.ID {
		t.Fatalf("recall conversation %+v from %+v", recall.Conversation, recall.From)
	}
}

func TestDingTalkBatch(t *testing.T) {
	nd := loadSourceFixture(t, "dingtalk", "batch.ndjson")
	res, err := DingTalk{}.Decode(Request{Body: nd, Now: now, Limits: sourceLimits})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 2 || res.Records[0].Line != 1 || res.Records[1].Line != 3 {
		t.Fatalf("NDJSON: %d records", len(res.Records))
	}
	lines := strings.Split(strings.TrimSpace(string(nd)), "\n")
	if res.Records[1].Message.Raw != lines[2] {
		t.Fatal("raw of the second callback is not its own line")
	}
	array := "[" + lines[0] + ",\n" + lines[2] + "]"
	if got := decodeOK(t, DingTalk{}, []byte(array), nil); len(got) != 2 || got[1].Type != "picture" {
		t.Fatalf("array: %d records", len(got))
	}
}

// dingTalkSign is DingTalk's signature, computed as its documentation
// describes it.
func dingTalkSign(ts, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestDingTalkSignature(t *testing.T) {
	const secret = "SECd0a8f3c2b1e4"
	body := loadSourceFixture(t, "dingtalk", "text_group.json")
	fresh := strconv.FormatInt(now.Add(-10*time.Minute).UnixMilli(), 10)
	stale := strconv.FormatInt(now.Add(-2*time.Hour).UnixMilli(), 10)
	header := func(ts, sign string) http.Header {
		h := http.Header{}
		h.Set("timestamp", ts)
		h.Set("sign", sign)
		return h
	}
	for name, c := range map[string]struct {
		h  http.Header
		ok bool
	}{
		"valid":        {header(fresh, dingTalkSign(fresh, secret)), true},
		"wrong secret": {header(fresh, dingTalkSign(fresh, "other")), false},
		"stale":        {header(stale, dingTalkSign(stale, secret)), false},
		"missing":      {http.Header{}, false},
		"not a number": {header("soon", dingTalkSign("soon", secret)), false},
		"not base64":   {header(fresh, "%%%"), false},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := DingTalk{AppSecret: secret}.Decode(Request{Header: c.h, Body: body, Now: now, Limits: sourceLimits})
			if c.ok && (err != nil || len(res.Records) != 1) {
				t.Fatalf("valid signature refused: %v", err)
			}
			if !c.ok && (!errors.Is(err, ErrSignature) || len(res.Records) != 0) {
				t.Fatalf("err = %v, want ErrSignature and nothing archived", err)
			}
		})
	}
	if _, err := (DingTalk{}).Decode(Request{Header: header(stale, "x"), Body: body, Now: now, Limits: sourceLimits}); err != nil {
		t.Fatalf("without an AppSecret the headers are not checked: %v", err)
	}
	if _, err := (DingTalk{AppSecret: secret}).Decode(Request{Body: []byte("not json"), Now: now}); !errors.Is(err, ErrSignature) {
		t.Fatalf("the signature is checked before the body: %v", err)
	}
}

func TestDingTalkRejects(t *testing.T) {
	good := strings.ReplaceAll(string(loadSourceFixture(t, "dingtalk", "text_direct_external.json")), "\n", "")
	future := strconv.FormatInt(now.Add(48*time.Hour).UnixMilli(), 10)
	for name, c := range map[string]struct {
		body, field string
		line        int
		kind        ErrorKind
	}{
		"no msgId":            {strings.Replace(good, `"msgId":"msgXkq3lTz0bOa9L2vDr1N7cYw==",`, "", 1), "msgId", 1, KindInvalid},
		"conversationType 3":  {strings.Replace(good, `"conversationType":"1"`, `"conversationType":"3"`, 1), "conversationType", 1, KindInvalid},
		"createAt not a time": {strings.Replace(good, `"createAt":1774086385298`, `"createAt":"today"`, 1), "createAt", 1, KindInvalid},
		"no createAt":         {strings.Replace(good, `"createAt":1774086385298,`, "", 1), "createAt", 1, KindInvalid},
		"createAt in 2 days":  {strings.Replace(good, `"createAt":1774086385298`, `"createAt":`+future, 1), "createAt", 1, KindInvalid},
		"empty text":          {strings.Replace(good, `"Can you send the term sheet?"`, `"  "`, 1), "text.content", 1, KindInvalid},
		"no sender":           {strings.Replace(good, `"senderId":"$:LWCP_v1:$Pq81sZ0aXl3Ty9vWmEo2Ug==",`, "", 1), "senderStaffId", 1, KindInvalid},
		"unknown action":      {strings.Replace(good, `{`, `{"action":"edit",`, 1), "action", 1, KindInvalid},
		"content not object":  {strings.Replace(good, `"msgtype":"text"`, `"msgtype":"file","content":[1]`, 1), "content", 1, KindInvalid},
		"second line bad":     {good + "\n" + strings.Replace(good, `"conversationId":"cidQ2y8Z3b1kXJv0mRTx7N5hQw==",`, "", 1), "conversationId", 2, KindInvalid},
		"malformed":           {good[:40], "", 1, KindSyntax},
		"empty":               {" \n", "", 1, KindEmpty},
	} {
		t.Run(name, func(t *testing.T) {
			e := decodeErr(t, DingTalk{}, []byte(c.body))
			if e.Field != c.field || e.Line != c.line || e.Kind != c.kind {
				t.Fatalf("error %q: field %q line %d kind %d, want %q %d %d", e.Error(), e.Field, e.Line, e.Kind, c.field, c.line, c.kind)
			}
		})
	}
}

func TestDingTalkDeterministic(t *testing.T) {
	body := loadSourceFixture(t, "dingtalk", "batch.ndjson")
	if a, b := decodeOK(t, DingTalk{}, body, nil), decodeOK(t, DingTalk{}, body, nil); !reflect.DeepEqual(a, b) {
		t.Fatal("the same callbacks decoded twice differ")
	}
}

// checkFuzzResult asserts what any accepted record must satisfy, and that
// a rejection is an *Error or ErrSignature.
func checkFuzzResult(t *testing.T, res Result, err error) {
	t.Helper()
	var e *Error
	if err != nil {
		if !errors.As(err, &e) && !errors.Is(err, ErrSignature) {
			t.Fatalf("error %v is not an *Error", err)
		}
		if len(res.Records) != 0 {
			t.Fatal("records returned with an error")
		}
		return
	}
	for _, r := range res.Records {
		checkFuzzMessage(t, r.Message)
	}
}

func checkFuzzMessage(t *testing.T, m archive.Message) {
	t.Helper()
	if m.SourceID == "" || m.Conversation.ID == "" || m.From.ID == "" || !m.Action.Valid() || m.SentAt.Location() != time.UTC {
		t.Fatalf("invalid record accepted: %+v", m)
	}
	if m.Action == archive.ActionSend && strings.TrimSpace(m.Text) == "" {
		t.Fatalf("a send without text accepted: %+v", m)
	}
}

func FuzzDingTalk(f *testing.F) {
	for _, name := range []string{"text_group.json", "rich_text.json", "file.json", "recall.json", "batch.ndjson", "video.json"} {
		f.Add(loadSourceFixture(f, "dingtalk", name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := DingTalk{}.Decode(Request{Body: body, Now: now, Limits: Limits{MaxFieldBytes: 4096}})
		checkFuzzResult(t, res, err)
	})
}
