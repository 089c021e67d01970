package journal

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

const good = `{"platform":"slack","source_id":"1.2","conversation":{"id":"C1"},"from":{"id":"U1"},"to":[{"id":"U2"}],"sent_at":"2026-11-20T10:00:00+08:00","text":"hi"}`

func TestDecodeJSONForms(t *testing.T) {
	for name, c := range map[string]struct {
		body   string
		ndjson bool
		lines  []int
	}{
		"object":           {good, false, []int{1}},
		"array":            {"[\n" + good + ",\n\n" + good + "\n]", false, []int{2, 4}},
		"ndjson":           {good + "\n\n" + good + "\n", true, []int{1, 3}},
		"ndjson untyped":   {good + "\n" + good, false, []int{1, 2}},
		"array one line":   {"[" + good + "," + good + "]", false, []int{1, 1}},
		"leading space":    {"  \n" + good, false, []int{2}},
		"crlf ndjson":      {good + "\r\n" + good + "\r\n", true, []int{1, 2}},
		"array whitespace": {" [ " + good + " ] ", false, []int{1}},
	} {
		t.Run(name, func(t *testing.T) {
			recs, err := DecodeJSON([]byte(c.body), c.ndjson, Limits{MaxFieldBytes: 1 << 20}, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(c.lines) {
				t.Fatalf("%d records, want %d", len(recs), len(c.lines))
			}
			for i, r := range recs {
				if r.Line != c.lines[i] {
					t.Fatalf("record %d on line %d, want %d", i, r.Line, c.lines[i])
				}
				m := r.Message
				if m.Tenant != DefaultTenant || m.Action != "send" || m.Type != "text" || m.Conversation.Kind != "direct" {
					t.Fatalf("defaults not applied: %+v", m)
				}
				if !m.SentAt.Equal(time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)) || m.SentAt.Location() != time.UTC {
					t.Fatalf("sent_at %v not normalised to UTC", m.SentAt)
				}
			}
		})
	}
}

func TestDecodeJSONRaw(t *testing.T) {
	for name, c := range map[string]struct{ extra, want string }{
		"absent: the record as received": {"", ""},
		"object kept byte for byte":      {`,"raw":{"b": 1,  "a":[2]}`, `{"b": 1,  "a":[2]}`},
		"string unquoted":                {`,"raw":"<xml a=\"1\"/>"`, `<xml a="1"/>`},
	} {
		t.Run(name, func(t *testing.T) {
			body := strings.TrimSuffix(good, "}") + c.extra + "}"
			recs, err := DecodeJSON([]byte(body), false, Limits{MaxFieldBytes: 1 << 20}, now)
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			if want == "" {
				want = body
			}
			if recs[0].Message.Raw != want {
				t.Fatalf("raw = %q, want %q", recs[0].Message.Raw, want)
			}
		})
	}
}

func TestDecodeJSONAttachments(t *testing.T) {
	data := base64.StdEncoding.EncodeToString([]byte("hello"))
	body := strings.TrimSuffix(good, "}") + `,"attachments":[{"name":"a.txt","data":"` + data + `"},{"name":"b.pdf","size":3,"sha256":"` + strings.Repeat("ab", 32) + `"}]}`
	recs, err := DecodeJSON([]byte(body), false, Limits{MaxFieldBytes: 1 << 20}, now)
	if err != nil {
		t.Fatal(err)
	}
	r := recs[0]
	if len(r.Blobs) != 1 || string(r.Blobs[0].Data) != "hello" || len(r.Message.Attachments) != 2 {
		t.Fatalf("blobs %+v attachments %+v", r.Blobs, r.Message.Attachments)
	}
	if r.Message.Attachments[0].SHA256 != r.Blobs[0].SHA256 || r.Message.Attachments[0].Size != 5 {
		t.Fatalf("attachment %+v", r.Message.Attachments[0])
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	cases := []struct {
		name, body string
		kind       ErrorKind
		field      string
		line       int
	}{
		{"version of a send", strings.Replace(good, `"text"`, `"version":2,"text"`, 1), KindInvalid, "version", 1},
		{"edit version 0", strings.Replace(good, `"text"`, `"action":"edit","version":0,"text"`, 1), KindInvalid, "version", 1},
		{"negative version", strings.Replace(good, `"text"`, `"version":-1,"text"`, 1), KindInvalid, "version", 1},
		{"platform case", strings.Replace(good, `"slack"`, `"Sl ack"`, 1), KindInvalid, "platform", 1},
		{"no source id", strings.Replace(good, `"1.2"`, `" "`, 1), KindInvalid, "source_id", 1},
		{"no conversation", strings.Replace(good, `"C1"`, `""`, 1), KindInvalid, "conversation.id", 1},
		{"bad kind", strings.Replace(good, `{"id":"C1"}`, `{"id":"C1","kind":"room"}`, 1), KindInvalid, "conversation.kind", 1},
		{"recipient without id", strings.Replace(good, `[{"id":"U2"}]`, `[{"name":"Bob"}]`, 1), KindInvalid, "to[0].id", 1},
		{"sha mismatch", strings.TrimSuffix(good, "}") + `,"attachments":[{"name":"a","data":"aGVsbG8=","sha256":"` + strings.Repeat("0", 64) + `"}]}`, KindInvalid, "attachments[0].sha256", 1},
		{"no data no sha", strings.TrimSuffix(good, "}") + `,"attachments":[{"name":"a","size":1}]}`, KindInvalid, "attachments[0].sha256", 1},
		{"trailing garbage", "[" + good + "] x", KindSyntax, "", 1},
		{"empty array", "[]", KindEmpty, "", 1},
		{"big raw", strings.TrimSuffix(good, "}") + `,"raw":"` + strings.Repeat("r", 2048) + `"}`, KindTooLarge, "raw", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, err := DecodeJSON([]byte(c.body), false, Limits{MaxFieldBytes: 1024}, now)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, %d records; want an *Error", err, len(recs))
			}
			if recs != nil || e.Kind != c.kind || e.Field != c.field || e.Line != c.line || e.Msg == "" {
				t.Fatalf("got %+v, want kind %d field %q line %d", e, c.kind, c.field, c.line)
			}
		})
	}
}

// FuzzDecodeJSON: whatever the bytes, DecodeJSON returns records or an
// *Error with a line inside the input, and never panics.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(good), false)
	f.Add([]byte("["+good+","+good+"]"), false)
	f.Add([]byte(good+"\n"+good), true)
	f.Add([]byte(`{"platform":"x","raw":{"a":[1,{"b":"\u00e9"}]}}`), false)
	f.Add([]byte("[\n{\"a\":1},\n"), false)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		recs, err := DecodeJSON(body, ndjson, Limits{MaxFieldBytes: 4096}, now)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if lines := strings.Count(string(body), "\n") + 1; e.Line < 0 || e.Line > lines {
				t.Fatalf("line %d outside a %d-line body", e.Line, lines)
			}
			return
		}
		for _, r := range recs {
			if r.Message.SourceID == "" || r.Message.From.ID == "" || r.Message.SentAt.IsZero() {
				t.Fatalf("accepted an incomplete record: %+v", r.Message)
			}
		}
	})
}
