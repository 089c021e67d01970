package journal

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

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
// is set both must be present, the timestamp within SignWindow (an hour by
// default) of the reception time and the sign must verify, else Decode
// returns ErrSignature. The sign covers the timestamp only, not the body:
// it proves the sender knows the secret, not that the body is intact — the
// gateway's ReplayCache refuses the same header pair with another body.
type DingTalk struct {
	// AppSecret is the robot's appSecret; empty disables the check.
	AppSecret string
	// SignWindow is how far the timestamp header may be from the
	// reception time (sources.dingtalk.sign_window); 0 is
	// DingTalkSignWindow, the platform's own hour. A shorter window makes
	// a captured header pair useless sooner.
	SignWindow time.Duration
}

var _ Source = DingTalk{}

// DingTalkSignWindow is how far a callback's timestamp may be from the
// reception time by default: DingTalk's documentation for robot callbacks
// ("timestamp 与系统当前时间戳如果相差1小时以上，则认为是非法的请求") allows
// one hour.
const DingTalkSignWindow = time.Hour

// Platform returns "dingtalk".
func (DingTalk) Platform() string { return "dingtalk" }

// Decode checks the signature, then decodes every callback of the body.
//
// Since the sign does not cover the body, the signature it returns is what
// the gateway's replay cache keys on: the same header pair with another
// body is refused there.
func (d DingTalk) Decode(req Request) (Result, error) {
	var sig *Signature
	if d.AppSecret != "" {
		window := cmp.Or(d.SignWindow, DingTalkSignWindow)
		var err error
		if sig, err = checkDingTalkSign(req.Header, d.AppSecret, req.Now, window); err != nil {
			return Result{}, err
		}
	}
	res, err := decodeDingTalk(req)
	return withSignature(res, err, sig)
}

// decodeDingTalk decodes every callback of a (verified) body.
func decodeDingTalk(req Request) (Result, error) {
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
func checkDingTalkSign(h http.Header, secret string, now time.Time, window time.Duration) (*Signature, error) {
	ts, sign, sig, err := signedHeaders(h, "timestamp", "sign", time.UnixMilli, now, window)
	if err != nil {
		return nil, fmt.Errorf("dingtalk: %w", err)
	}
	got, err := base64.StdEncoding.DecodeString(sign)
	if err != nil || !hmac.Equal(got, macSHA256(secret, ts+"\n"+secret)) {
		return nil, fmt.Errorf("dingtalk: sign does not verify: %w", ErrSignature)
	}
	return sig, nil
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
