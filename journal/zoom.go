package journal

import (
	"cmp"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// Zoom decodes Zoom Team Chat webhook events, for POST /v1/sources/zoom:
// one event per delivery as Zoom sends it (a JSON array or NDJSON of events
// is accepted too, for replays).
//
// Messages: chat_message.sent and chat_message.replied, and the newer
// team_chat.dm_message_posted and team_chat.channel_message_posted, are
// sends; chat_message.updated, team_chat.dm_message_updated and
// team_chat.channel_message_updated are edits; chat_message.deleted,
// team_chat.dm_message_deleted and team_chat.channel_message_deleted are
// deletions. Each names the message by payload.object.id (message_id in
// the team_chat events), the same id for the send and every later edit or
// deletion, so they become versions of one archived message. A send is
// dated by payload.object.timestamp (milliseconds; date_time when absent);
// an edit or deletion by event_ts, the time of the change. The sender is
// payload.operator (an email; operator_id when absent), marked External
// when payload.by_external_user is true (the team_chat events say so; the
// chat_message events do not). A channel message's conversation is its
// channel_id; a 1:1 message's conversation is "dm:" and the two parties'
// emails, sorted, so both sides of a chat are one conversation, with the
// contact as recipient. The text is payload.object.message and the names
// of the files sent with it (holdfast does not download them). A deletion
// keeps the message text the event carries. Every other event (reactions,
// channel changes...) is acknowledged with no records.
//
// endpoint.url_validation is answered as Zoom requires: Reply is
// {"plainToken": p, "encryptedToken": hex(HMAC-SHA256(SecretToken, p))},
// and nothing is archived.
//
// Signature: when SecretToken is set, x-zm-signature must be "v0=" +
// hex(HMAC-SHA256(SecretToken, "v0:" + x-zm-request-timestamp + ":" +
// body)) and the timestamp (seconds) within five minutes of the reception
// time, else Decode returns ErrSignature.
type Zoom struct {
	// SecretToken is the app's webhook secret token; empty disables the
	// signature check (and the URL validation, which needs it).
	SecretToken string
}

var _ Source = Zoom{}

// zoomSignWindow is how far x-zm-request-timestamp may be from the
// reception time.
const zoomSignWindow = 5 * time.Minute

// zoomEventActions maps the message events to what they do to a message.
var zoomEventActions = map[string]archive.Action{
	"chat_message.sent":                 archive.ActionSend,
	"chat_message.replied":              archive.ActionSend,
	"team_chat.dm_message_posted":       archive.ActionSend,
	"team_chat.channel_message_posted":  archive.ActionSend,
	"chat_message.updated":              archive.ActionEdit,
	"team_chat.dm_message_updated":      archive.ActionEdit,
	"team_chat.channel_message_updated": archive.ActionEdit,
	"chat_message.deleted":              archive.ActionDelete,
	"team_chat.dm_message_deleted":      archive.ActionDelete,
	"team_chat.channel_message_deleted": archive.ActionDelete,
}

// zoomFileTypes normalises Zoom's file and message types to holdfast's.
var zoomFileTypes = map[string]string{
	"plain_text_message": "text", "jpg_image_file": "image", "png_image_file": "image",
	"gif_file": "image", "giphy_file": "image", "screen shot": "image", "image": "image",
	"audio_file": "audio", "audio": "audio", "audio v2": "audio", "video_file": "video",
	"code_snippet": "code_snippet", "code snippet": "code_snippet", "file_and_text": "file", "file": "file",
}

// Platform returns "zoom".
func (Zoom) Platform() string { return "zoom" }

// Decode checks the signature, answers a URL validation, and decodes the
// message events of the body.
func (z Zoom) Decode(req Request) (Result, error) {
	var sig *Signature
	if z.SecretToken != "" {
		var err error
		if sig, err = checkZoomSignature(req.Header, req.Body, z.SecretToken, req.Now); err != nil {
			return Result{}, err
		}
	}
	res, err := z.decode(req)
	return withSignature(res, err, sig)
}

// decode decodes the events of a (verified) body.
func (z Zoom) decode(req Request) (Result, error) {
	items, e := splitSourceBody(req.Body)
	if e != nil {
		return Result{}, e
	}
	var recs []Record
	for _, it := range items {
		var ev zoomEvent
		if err := json.Unmarshal(it.data, &ev); err != nil {
			return Result{}, jsonError(it.data, it.line, err)
		}
		if ev.Event == "endpoint.url_validation" {
			if len(items) > 1 {
				return Result{}, badField(it.line, "event", "endpoint.url_validation must be sent alone")
			}
			return z.validate(&ev, it.line)
		}
		m, ok, e := ev.message(it, req.Tenant, req.Limits, req.Now)
		if e != nil {
			return Result{}, e
		}
		if ok {
			recs = append(recs, Record{Line: it.line, Message: m})
		}
	}
	return Result{Records: recs}, nil
}

// validate answers Zoom's endpoint.url_validation challenge.
func (z Zoom) validate(ev *zoomEvent, line int) (Result, error) {
	if z.SecretToken == "" {
		return Result{}, fmt.Errorf("zoom: endpoint.url_validation needs the app's secret token, which is not configured: %w", ErrSignature)
	}
	p := ev.Payload.PlainToken
	if p == "" {
		return Result{}, badField(line, "payload.plainToken", "payload.plainToken is required")
	}
	return Result{Reply: zoomValidation{PlainToken: p, EncryptedToken: hex.EncodeToString(macSHA256(z.SecretToken, p))}}, nil
}

// zoomValidation is the answer to endpoint.url_validation.
type zoomValidation struct {
	PlainToken     string `json:"plainToken"`
	EncryptedToken string `json:"encryptedToken"`
}

// checkZoomSignature verifies x-zm-signature over the exact body.
func checkZoomSignature(h http.Header, body []byte, secret string, now time.Time) (*Signature, error) {
	ts, sig, signed, err := signedHeaders(h, "x-zm-request-timestamp", "x-zm-signature", unixSeconds, now, zoomSignWindow)
	if err != nil {
		return nil, fmt.Errorf("zoom: %w", err)
	}
	if !hmac.Equal([]byte(sig), []byte(v0Signature(secret, ts, body))) {
		return nil, fmt.Errorf("zoom: x-zm-signature does not verify: %w", ErrSignature)
	}
	return signed, nil
}

// zoomEvent is a webhook event; its payload.object is decoded once the
// event is known to be about a message.
type zoomEvent struct {
	Event   string      `json:"event"`
	EventTS epochMillis `json:"event_ts"`
	Payload struct {
		Operator       string          `json:"operator"`
		OperatorID     string          `json:"operator_id"`
		ByExternalUser bool            `json:"by_external_user"`
		PlainToken     string          `json:"plainToken"`
		Object         json.RawMessage `json:"object"`
	} `json:"payload"`
}

// zoomObject is payload.object of the message events: id in the
// chat_message events, message_id in the team_chat ones.
type zoomObject struct {
	ID           string      `json:"id"`
	MessageID    string      `json:"message_id"`
	Type         string      `json:"type"`
	DateTime     string      `json:"date_time"`
	Timestamp    epochMillis `json:"timestamp"`
	ContactEmail string      `json:"contact_email"`
	ContactID    string      `json:"contact_id"`
	ChannelID    string      `json:"channel_id"`
	ChannelName  string      `json:"channel_name"`
	Message      string      `json:"message"`
	Files        []zoomFile  `json:"files"`
}

// zoomFile is a file sent with a message: only its name is archived.
type zoomFile struct {
	FileName        string `json:"file_name"`
	FileMessageType string `json:"file_message_type"`
}

// message is the record of a message event; ok is false for the events
// that are not about a message.
func (ev *zoomEvent) message(it item, tenant string, lim Limits, now time.Time) (archive.Message, bool, *Error) {
	if ev.Event == "" {
		return archive.Message{}, false, badField(it.line, "event", "event is required: this is not a Zoom webhook event")
	}
	action, ok := zoomEventActions[ev.Event]
	if !ok {
		return archive.Message{}, false, nil
	}
	var o zoomObject
	if len(ev.Payload.Object) > 0 {
		// The whole event is valid JSON already: only a type can be wrong.
		if err := json.Unmarshal(ev.Payload.Object, &o); err != nil {
			e := jsonError(it.data, it.line, err)
			if e.Field != "" {
				e.Field = "payload.object." + e.Field
			}
			return archive.Message{}, false, e
		}
	}
	p := &ev.Payload
	m := archive.Message{
		Platform: "zoom", Tenant: tenant, Action: action, SourceID: cmp.Or(o.ID, o.MessageID),
		From: archive.Participant{ID: cmp.Or(p.Operator, p.OperatorID), External: p.ByExternalUser},
	}
	channel := o.Type == "to_channel" || (o.Type == "" && o.ChannelID != "")
	zoomConversation(&m, channel, o.ChannelID, o.ChannelName, m.From.ID, cmp.Or(o.ContactEmail, o.ContactID))
	m.Type, m.Text = zoomContent(o.Message, "", o.Files)
	sent, e := zoomTime(o.Timestamp, o.DateTime, "payload.object.date_time", it.line)
	if e != nil {
		return m, false, e
	}
	if action != archive.ActionSend && ev.EventTS > 0 {
		sent = ev.EventTS.time()
	}
	m.SentAt = sent
	names := map[string]string{
		"source_id": "payload.object.id", "from.id": "payload.operator", "sent_at": "payload.object.date_time",
		"text": "payload.object.message", "conversation.id": "payload.object.contact_email",
	}
	if channel {
		names["conversation.id"] = "payload.object.channel_id"
	}
	return m, true, platformField(Finish(&m, it.data, it.line, lim, now), names)
}

// zoomConversation sets where a message was sent: a channel, or the 1:1
// chat of self (the sender, or the owner of a history) with contact.
func zoomConversation(m *archive.Message, channel bool, channelID, channelName, self, contact string) {
	if channel {
		m.Conversation = archive.Conversation{ID: channelID, Kind: archive.KindChannel, Name: channelName}
		return
	}
	m.Conversation = archive.Conversation{ID: zoomDirectID(self, contact), Kind: archive.KindDirect}
	other := contact
	if strings.EqualFold(m.From.ID, contact) {
		other = self
	}
	if other != "" {
		m.To = []archive.Participant{{ID: other}}
	}
}

// zoomDirectID names the 1:1 chat of self and contact the same from both
// sides: "dm:" and their lower-cased emails, sorted. Without the contact
// there is no chat to name ("").
func zoomDirectID(self, contact string) string {
	a, b := strings.ToLower(self), strings.ToLower(contact)
	switch {
	case b == "":
		return ""
	case a == "":
		// The record is refused for its missing sender.
		return "dm:" + b
	case b < a:
		a, b = b, a
	}
	return "dm:" + a + "|" + b
}

// zoomContent is a message's type and searchable text: its words and the
// names of its files.
func zoomContent(message, messageType string, files []zoomFile) (string, string) {
	parts := []string{}
	if strings.TrimSpace(message) != "" {
		parts = append(parts, message)
	}
	typ := zoomFileTypes[messageType]
	for _, f := range files {
		if f.FileName != "" {
			parts = append(parts, f.FileName)
		}
		if typ == "" && message == "" {
			typ = cmp.Or(zoomFileTypes[f.FileMessageType], "file")
		}
	}
	return cmp.Or(typ, cmp.Or(messageType, "text")), strings.Join(parts, "\n")
}

// zoomTime is a message's time: ms when set, else the RFC 3339 dateTime.
func zoomTime(ms epochMillis, dateTime, field string, line int) (time.Time, *Error) {
	if ms > 0 {
		return ms.time(), nil
	}
	return parseTimeField(dateTime, field, line)
}

// ReadZoomHistory reads Zoom Team Chat history for back-fill: the pages of
// GET /chat/users/{userId}/messages as Zoom returns them ({"messages":
// [{id, message, sender, sender_display_name, date_time, timestamp,
// message_type, files, file_name, status, reply_main_message_id...}],
// "next_page_token"...}), one page, a JSON array of pages, or one page per
// line. The response does not say which chat it is about, so each page
// also carries the request's parameters, as holdfast's back-fill writes
// them next to the response: "to_channel" (a channel id) or "to_contact"
// (the contact's email), and for a 1:1 chat "user" (the {userId} whose
// history it is, an email), e.g.
//
//	{"user":"ada@example.com","to_contact":"lin@example.com","messages":[…]}
//
// Every message becomes a send dated by its timestamp. With
// include_deleted_and_edited_message the API marks messages with status:
// an "Edited" message is archived as an edit carrying its current text
// (the original text is not in the history, so no send is made up for
// it); a "Deleted" one as its send (when its text is still there) and a
// deletion. The history gives no time for the edit or deletion: they are
// dated by the message's own time, which keeps a re-import idempotent.
//
// Items come in file order; Where is "page P message M". A message that
// cannot be archived is a rejected Item and the import continues; a page
// that is not valid JSON ends it with an *Error. fn's error stops the read
// and is returned.
func ReadZoomHistory(r io.Reader, tenant string, lim Limits, now time.Time, fn func(Item) error) error {
	return eachJSONValue(r, func(page int, raw json.RawMessage) error {
		var p zoomHistoryPage
		if err := json.Unmarshal(raw, &p); err != nil {
			return fn(Item{Err: jsonError(raw, 1, err), Where: fmt.Sprintf("page %d", page), Bytes: int64(len(raw))})
		}
		if e := p.check(); e != nil {
			return fn(Item{Err: e, Where: fmt.Sprintf("page %d", page), Bytes: int64(len(raw))})
		}
		for i, msg := range *p.Messages {
			where := fmt.Sprintf("page %d message %d", page, i+1)
			msgs, e := p.records(msg, i+1, tenant, lim, now)
			if err := emitItems(fn, where, i+1, int64(len(msg)), msgs, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// zoomHistoryPage is one history response with the parameters it was
// requested with.
type zoomHistoryPage struct {
	User      string             `json:"user"`
	ToChannel string             `json:"to_channel"`
	ToContact string             `json:"to_contact"`
	Messages  *[]json.RawMessage `json:"messages"`
}

// check rejects a page that is not a history response or does not say
// which chat it is about.
func (p *zoomHistoryPage) check() *Error {
	switch {
	case p.Messages == nil:
		return badField(0, "messages", "a history page needs messages (the response of GET /chat/users/{userId}/messages)")
	case (p.ToChannel == "") == (p.ToContact == ""):
		return badField(0, "to_channel", "a history page needs exactly one of to_channel or to_contact: the chat it was requested for")
	case p.ToContact != "" && p.User == "":
		return badField(0, "user", "a 1:1 history page needs user: the {userId} whose history it is")
	}
	return nil
}

// zoomHistoryMessage is one element of a history page's messages.
type zoomHistoryMessage struct {
	ID                string      `json:"id"`
	Message           string      `json:"message"`
	Sender            string      `json:"sender"`
	SenderMemberID    string      `json:"send_member_id"`
	SenderDisplayName string      `json:"sender_display_name"`
	DateTime          string      `json:"date_time"`
	Timestamp         epochMillis `json:"timestamp"`
	MessageType       string      `json:"message_type"`
	Status            string      `json:"status"`
	FileName          string      `json:"file_name"`
	Files             []zoomFile  `json:"files"`
}

// fields names the history fields a Finish error is about.
func (p *zoomHistoryPage) fields() map[string]string {
	conv := "to_contact"
	if p.ToChannel != "" {
		conv = "to_channel"
	}
	return map[string]string{
		"source_id": "id", "from.id": "sender", "sent_at": "date_time", "text": "message",
		"from.name": "sender_display_name", "conversation.id": conv,
	}
}

// records are the versions one history message stands for.
func (p *zoomHistoryPage) records(raw json.RawMessage, n int, tenant string, lim Limits, now time.Time) ([]archive.Message, *Error) {
	var h zoomHistoryMessage
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, jsonError(raw, n, err)
	}
	m := archive.Message{
		Platform: "zoom", Tenant: tenant, SourceID: h.ID,
		From: archive.Participant{ID: cmp.Or(h.Sender, h.SenderMemberID), Name: h.SenderDisplayName},
	}
	zoomConversation(&m, p.ToChannel != "", p.ToChannel, "", p.User, p.ToContact)
	files := h.Files
	if h.FileName != "" && len(files) == 0 {
		files = []zoomFile{{FileName: h.FileName}}
	}
	m.Type, m.Text = zoomContent(h.Message, h.MessageType, files)
	sent, e := zoomTime(h.Timestamp, h.DateTime, "date_time", n)
	if e != nil {
		return nil, e
	}
	m.SentAt = sent
	var actions []archive.Action
	switch h.Status {
	case "", "Normal":
		actions = []archive.Action{archive.ActionSend}
	case "Edited":
		actions = []archive.Action{archive.ActionEdit}
	case "Deleted":
		actions = []archive.Action{archive.ActionDelete}
		if strings.TrimSpace(m.Text) != "" {
			actions = []archive.Action{archive.ActionSend, archive.ActionDelete}
		}
	default:
		return nil, badField(n, "status", "status %q is not Normal, Edited or Deleted", h.Status)
	}
	return finishVersions(m, actions, raw, n, lim, now, p.fields())
}
