package journal

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holdfast/holdfast/archive"
)

// DingTalk decodes what a DingTalk (钉钉) enterprise robot receives, for
// POST /v1/sources/dingtalk: the robot callback ("机器人接收消息") JSON,
// one callback per delivery as DingTalk sends it, or a JSON array or NDJSON
// of callbacks as a forwarder replays them.
//
// A callback carries msgId, conversationId, conversationType ("1" a 1:1
// chat with the robot, "2" a group), conversationTitle, the sender
// (senderStaffId, senderId, senderNick, senderCorpId), the robot
// (chatbotUserId, chatbotCorpId), createAt (milliseconds) and msgtype with
// its body: text.content for "text"; content.richText[] for "richText";
// content.downloadCode for "picture"; content.recognition (speech to
// text) for "audio"; content.duration and videoType for "video";
// content.fileName for "file". The searchable text is the text, the rich
// text's text parts, an audio's recognition or a file's name; a picture or
// a video without words is archived with the placeholder "[picture]" or
// "[video]" (the download code stays in the raw callback: holdfast does not
// fetch media).
//
// Recalls: DingTalk does not call a robot back when a member recalls
// (撤回) a message, and its event subscription has no recall event for
// chat messages. A recall therefore arrives in holdfast's documented
// extension of the callback shape: the callback fields that identify the
// message and the person who recalled it, with "action":"recall", createAt
// set to the time of the recall, and no body, e.g.
//
//	{"action":"recall","msgId":"msg…","conversationId":"cid…","conversationType":"2",
//	 "senderStaffId":"manager4220","createAt":1774089000000}
//
// The recall becomes a new version (action recall) of the message with
// that msgId. "action" absent or "send" is an ordinary message.
//
// External senders: senderStaffId is the sender's userid in the robot's
// organisation and is only present for its own members. A sender without
// a senderStaffId, or whose senderCorpId is not the robot's chatbotCorpId,
// is marked External and identified by senderId.
//
// Signature: DingTalk sends the headers timestamp (milliseconds) and sign =
// base64(HMAC-SHA256(appSecret, timestamp+"\n"+appSecret)). When AppSecret
// is set both must be present, the timestamp within an hour of the
// reception time and the sign must verify, else Decode returns
// ErrSignature. The sign covers the timestamp only, not the body: it
// proves the sender knows the secret, not that the body is intact.
type DingTalk struct {
	// AppSecret is the robot's appSecret; empty disables the check.
	AppSecret string
}

var _ Source = DingTalk{}

// dingTalkSignWindow is how far a callback's timestamp may be from the
// reception time, as DingTalk's documentation requires.
const dingTalkSignWindow = time.Hour

// Platform returns "dingtalk".
func (DingTalk) Platform() string { return "dingtalk" }

// Decode checks the signature, then decodes every callback of the body.
func (d DingTalk) Decode(req Request) (Result, error) {
	if d.AppSecret != "" {
		if err := checkDingTalkSign(req.Header, d.AppSecret, req.Now); err != nil {
			return Result{}, err
		}
	}
	items, e := splitSourceBody(req.Body)
	if e != nil {
		return Result{}, e
	}
	recs := make([]Record, 0, len(items))
	for _, it := range items {
		m, e := dingTalkMessage(it, req.Tenant, req.Limits, req.Now)
		if e != nil {
			return Result{}, e
		}
		recs = append(recs, Record{Line: it.line, Message: m})
	}
	return Result{Records: recs}, nil
}

// checkDingTalkSign verifies the timestamp and sign headers.
func checkDingTalkSign(h http.Header, secret string, now time.Time) error {
	ts, sign, err := signedHeaders(h, "timestamp", "sign", time.UnixMilli, now, dingTalkSignWindow)
	if err != nil {
		return fmt.Errorf("dingtalk: %w", err)
	}
	got, err := base64.StdEncoding.DecodeString(sign)
	if err != nil || !hmac.Equal(got, macSHA256(secret, ts+"\n"+secret)) {
		return fmt.Errorf("dingtalk: sign does not verify: %w", ErrSignature)
	}
	return nil
}

// dingTalkCallback is the robot callback, with holdfast's "action"
// extension for recalls.
type dingTalkCallback struct {
	Action            string          `json:"action"`
	MsgID             string          `json:"msgId"`
	MsgType           string          `json:"msgtype"`
	CreateAt          epochMillis     `json:"createAt"`
	ConversationID    string          `json:"conversationId"`
	ConversationType  string          `json:"conversationType"`
	ConversationTitle string          `json:"conversationTitle"`
	SenderID          string          `json:"senderId"`
	SenderNick        string          `json:"senderNick"`
	SenderStaffID     string          `json:"senderStaffId"`
	SenderCorpID      string          `json:"senderCorpId"`
	ChatbotUserID     string          `json:"chatbotUserId"`
	ChatbotCorpID     string          `json:"chatbotCorpId"`
	Text              *dingTalkText   `json:"text"`
	Content           json.RawMessage `json:"content"`
}

type dingTalkText struct {
	Content string `json:"content"`
}

// dingTalkContent is the union of the content bodies of the message
// types a robot receives.
type dingTalkContent struct {
	RichText []struct {
		Text string `json:"text"`
		Type string `json:"type"`
	} `json:"richText"`
	FileName    string `json:"fileName"`
	Recognition string `json:"recognition"`
	Title       string `json:"title"`
	Text        string `json:"text"`
}

// dingTalkFields names, for each record field Finish may complain about,
// the callback field a DingTalk integrator will look for.
var dingTalkFields = map[string]string{
	"source_id": "msgId", "conversation.id": "conversationId", "from.id": "senderStaffId",
	"sent_at": "createAt", "text": "text.content", "from.name": "senderNick",
	"conversation.name": "conversationTitle", "type": "msgtype",
}

// dingTalkMessage is the record of one callback.
func dingTalkMessage(it item, tenant string, lim Limits, now time.Time) (archive.Message, *Error) {
	var cb dingTalkCallback
	if err := json.Unmarshal(it.data, &cb); err != nil {
		return archive.Message{}, jsonError(it.data, it.line, err)
	}
	m := archive.Message{
		Platform: "dingtalk", Tenant: tenant, SourceID: cb.MsgID,
		Conversation: archive.Conversation{ID: cb.ConversationID, Name: cb.ConversationTitle},
		From:         dingTalkSender(&cb),
		SentAt:       cb.CreateAt.time(),
	}
	switch cb.ConversationType {
	case "1":
		m.Conversation.Kind = archive.KindDirect
		if cb.ChatbotUserID != "" {
			m.To = []archive.Participant{{ID: cb.ChatbotUserID}}
		}
	case "2":
		m.Conversation.Kind = archive.KindGroup
	case "":
	default:
		return m, badField(it.line, "conversationType", "conversationType %q is not \"1\" (1:1) or \"2\" (group)", cb.ConversationType)
	}
	switch cb.Action {
	case "", "send":
		m.Action, m.Type = archive.ActionSend, cb.MsgType
		text, e := dingTalkSearchText(&cb, it.line)
		if e != nil {
			return m, e
		}
		m.Text = text
	case "recall":
		m.Action, m.Type = archive.ActionRecall, cmp.Or(cb.MsgType, "recall")
	default:
		return m, badField(it.line, "action", "action %q is not \"send\" or \"recall\"", cb.Action)
	}
	return m, platformField(Finish(&m, it.data, it.line, lim, now), dingTalkFields)
}

// dingTalkSender is the callback's sender: its staff id when it is a member
// of the robot's organisation, else its DingTalk id, marked external.
func dingTalkSender(cb *dingTalkCallback) archive.Participant {
	p := archive.Participant{ID: cb.SenderStaffID, Name: cb.SenderNick}
	if p.ID == "" {
		p.ID, p.External = cb.SenderID, true
	}
	if cb.SenderCorpID != "" && cb.ChatbotCorpID != "" && cb.SenderCorpID != cb.ChatbotCorpID {
		p.External = true
	}
	return p
}

// dingTalkSearchText is the searchable text of a callback's body.
func dingTalkSearchText(cb *dingTalkCallback, line int) (string, *Error) {
	var c dingTalkContent
	if len(cb.Content) > 0 && !bytes.Equal(cb.Content, []byte("null")) {
		if err := json.Unmarshal(cb.Content, &c); err != nil {
			return "", badField(line, "content", "content of a %s message must be an object: %v", cb.MsgType, err)
		}
	}
	var text string
	switch cb.MsgType {
	case "text":
		if cb.Text != nil {
			text = cb.Text.Content
		}
	case "richText":
		var b strings.Builder
		for _, part := range c.RichText {
			b.WriteString(part.Text)
		}
		text = b.String()
	case "audio":
		text = c.Recognition
	case "file":
		text = c.FileName
	default:
		text = firstText(c.Text, c.Title, c.FileName)
		if text == "" && cb.Text != nil {
			text = cb.Text.Content
		}
	}
	if strings.TrimSpace(text) == "" && cb.MsgType != "" && cb.MsgType != "text" {
		// A picture, a video, a voice message without recognition: the
		// type is what a person can search for.
		text = "[" + cb.MsgType + "]"
	}
	return text, nil
}

// The helpers below are shared by the platform sources of this package
// (DingTalk, Zoom, Teams) and their importers.

// splitSourceBody splits a webhook body into its payloads: one JSON
// object however it is laid out (platforms and people pretty-print), else
// what splitBody accepts: a JSON array of objects or NDJSON.
func splitSourceBody(body []byte) ([]item, *Error) {
	t := bytes.TrimSpace(body)
	if len(t) > 0 && t[0] == '{' && utf8.Valid(t) && json.Valid(t) {
		return []item{{line: lineAt(body, int64(bytes.IndexByte(body, '{'))), data: t}}, nil
	}
	return splitBody(body, false)
}

// signedHeaders returns a signed webhook's timestamp and signature headers
// once both are present and the timestamp, a Unix time read by at, is
// within window of now; else an error wrapping ErrSignature.
func signedHeaders(h http.Header, tsName, sigName string, at func(int64) time.Time, now time.Time, window time.Duration) (string, string, error) {
	ts, sig := h.Get(tsName), h.Get(sigName)
	if ts == "" || sig == "" {
		return "", "", fmt.Errorf("%s or %s header missing: %w", tsName, sigName, ErrSignature)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", "", fmt.Errorf("%s %q is not a Unix time: %w", tsName, ts, ErrSignature)
	}
	if d := now.Sub(at(n)); d > window || d < -window {
		return "", "", fmt.Errorf("%s %s is more than %s from now: %w", tsName, ts, window, ErrSignature)
	}
	return ts, sig, nil
}

// epochMillis is a Unix time in milliseconds, sent as a JSON number or a
// string of digits (DingTalk documents createAt as a string and sends a
// number).
type epochMillis int64

// UnmarshalJSON accepts a number, a string of digits or null.
func (t *epochMillis) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" || s == "" {
		*t = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// A type error, so that encoding/json names the field.
		return &json.UnmarshalTypeError{Value: "non-integer " + string(b), Type: reflect.TypeFor[int64]()}
	}
	*t = epochMillis(n)
	return nil
}

// time is t as a UTC time, zero when t is not set.
func (t epochMillis) time() time.Time {
	if t <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(t)).UTC()
}

// parseTimeField parses an RFC 3339 time (ISO 8601 with an offset, as
// Zoom and Graph send them) of field; "" is the zero time.
func parseTimeField(s, field string, line int) (time.Time, *Error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, badField(line, field, "%s %q is not an RFC 3339 time such as 2026-01-02T15:04:05.123Z", field, s)
	}
	return t, nil
}

// platformField makes a Finish error name the platform's own field.
func platformField(e *Error, names map[string]string) *Error {
	if e == nil {
		return nil
	}
	if n, ok := names[e.Field]; ok {
		e.Field = n
	}
	return e
}

func macSHA256(key, msg string) []byte {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func firstText(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// finishVersions makes one record of m per action, in order, each
// validated by Finish with raw as its payload.
func finishVersions(m archive.Message, actions []archive.Action, raw []byte, line int, lim Limits, now time.Time, names map[string]string) ([]archive.Message, *Error) {
	out := make([]archive.Message, 0, len(actions))
	for _, a := range actions {
		v := m
		v.Action, v.To = a, append([]archive.Participant(nil), m.To...)
		if e := platformField(Finish(&v, raw, line, lim, now), names); e != nil {
			return nil, e
		}
		out = append(out, v)
	}
	return out, nil
}

// emitItems yields the records of one input message (or the reason it
// was rejected) as import items: the first carries the input's size, the
// others are named after their action.
func emitItems(fn func(Item) error, where string, line int, size int64, msgs []archive.Message, e *Error) error {
	if e != nil {
		return fn(Item{Err: e, Where: where, Bytes: size})
	}
	for i, m := range msgs {
		it := Item{Record: Record{Line: line, Message: m}, Where: where, Bytes: size}
		if i > 0 {
			it.Where, it.Bytes = fmt.Sprintf("%s (%s)", where, m.Action), 0
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// eachJSONValue calls fn with every top-level JSON value of r, numbered
// from 1: the elements of a top-level array, or the values of a stream of
// them (one, or one per line). A syntax error ends the stream: it is
// returned as an *Error naming the value and its byte offset. fn's error
// is returned as it is.
func eachJSONValue(r io.Reader, fn func(n int, v json.RawMessage) error) error {
	br := bufio.NewReader(r)
	first, err := peekNonSpace(br)
	if errors.Is(err, io.EOF) {
		return &Error{Kind: KindEmpty, Line: 1, Msg: "input is empty"}
	}
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	dec := json.NewDecoder(br)
	array := first == '['
	if array {
		if _, err := dec.Token(); err != nil {
			return &Error{Kind: KindSyntax, Msg: "malformed JSON: " + err.Error()}
		}
	}
	for n := 1; !array || dec.More(); n++ {
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) && !array {
			return nil
		}
		if err != nil {
			return &Error{Kind: KindSyntax, Msg: fmt.Sprintf("value %d: malformed JSON near byte %d: %v", n, dec.InputOffset(), err)}
		}
		if err := fn(n, v); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return &Error{Kind: KindSyntax, Msg: "malformed JSON: the array is not closed: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &Error{Kind: KindSyntax, Msg: fmt.Sprintf("unexpected data after the closing ] near byte %d", dec.InputOffset())}
	}
	return nil
}

// peekNonSpace skips white space and returns the next byte, unread.
func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, err
		}
		if !isSpace(b[0]) {
			return b[0], nil
		}
		if _, err := br.ReadByte(); err != nil {
			return 0, err
		}
	}
}
