package journal

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// Slack's names and limits.
const (
	slackPlatform = "slack"
	// slackSignatureWindow is how far X-Slack-Request-Timestamp may be from
	// the reception time before a delivery is refused as a replay.
	slackSignatureWindow = 5 * time.Minute
	// slackMaxRecipients bounds To. A conversation with more other
	// members lists none: the conversation itself names the audience, and
	// a 5,000-member channel would otherwise store 5,000 participants with
	// every message.
	slackMaxRecipients = 50
	// slackUnknownSender is From.ID of a deletion whose event does not
	// carry the deleted message (Slack's documented example does not).
	slackUnknownSender = "unknown"
	// slackNoText is the text of a send that carries nothing searchable
	// (no text, attachment, file name or block text): the message is
	// archived all the same, its raw payload says what it was.
	slackNoText = "(no text)"
)

// Slack decodes Slack Events API deliveries (POST /v1/sources/slack).
//
// Every delivery must be signed with the app's signing secret: the
// X-Slack-Signature header is "v0=" + hex(HMAC-SHA256(secret,
// "v0:" + X-Slack-Request-Timestamp + ":" + body)), and the timestamp must
// be within five minutes of the reception time; anything else is
// ErrSignature. An empty SigningSecret refuses every delivery.
//
// A url_verification delivery is answered with its challenge. An
// event_callback whose event is a "message" becomes one record, its Raw
// the whole delivery:
//   - a plain message, thread reply, thread_broadcast, bot_message,
//     file_share, me_message, channel_join and every other subtype is a
//     send (joins, leaves and topic changes are business records too);
//   - message_changed is an edit of event.message.ts, SentAt the edit's
//     time (event.message.edited.ts, else event.ts); a message_changed
//     without "edited" whose text did not change (Slack adding a link
//     preview or metadata) records nothing;
//   - message_deleted is a delete of event.deleted_ts, SentAt event.ts;
//   - message_replied (a thread's reply count changing) records nothing:
//     the reply arrives as a message of its own.
//
// Other event types (reaction_added, app_mention, member_joined_channel...)
// and other envelope types are acknowledged with a Result holding no
// records, not an error, so that Slack does not retry them.
//
// A record's SourceID is "<channel id>:<ts of the original message>", the
// same for a send, its edits and its deletion, and the same as
// ReadSlackExport gives the message. Conversation.Kind comes from
// channel_type (im: direct, mpim: group, channel and group: channel). Type
// is the message's subtype ("bot_message", "channel_join"...), "file" for
// a file share and "text" for a plain message. Text is the message's text
// with Slack's markup rendered (&lt; &gt; &amp; decoded, <@U123> as
// @U123, <url|label> as "label (url)"), then its legacy attachments' text
// and its files' names and titles; no file bytes are fetched. A sender
// whose user_team, source_team or team differs from the delivery's
// team_id (Slack Connect) is External. Deliveries name no recipients: To
// is empty.
type Slack struct {
	// SigningSecret is the app's signing secret (Basic Information, App
	// Credentials).
	SigningSecret string
}

var _ Source = Slack{}

// Platform returns "slack".
func (Slack) Platform() string { return slackPlatform }

// slackEnvelope is the outer object of an Events API delivery.
type slackEnvelope struct {
	Type      string          `json:"type"`
	Challenge string          `json:"challenge"`
	TeamID    string          `json:"team_id"`
	Event     json.RawMessage `json:"event"`
}

// slackMessage is the part of a Slack message object holdfast reads: the
// same shape in Events API deliveries and in exports.
type slackMessage struct {
	Subtype     string            `json:"subtype"`
	Channel     string            `json:"channel"`
	ChannelType string            `json:"channel_type"`
	User        string            `json:"user"`
	BotID       string            `json:"bot_id"`
	Username    string            `json:"username"`
	BotProfile  *slackBotProfile  `json:"bot_profile"`
	UserProfile *slackProfile     `json:"user_profile"`
	Text        string            `json:"text"`
	TS          string            `json:"ts"`
	Team        string            `json:"team"`
	UserTeam    string            `json:"user_team"`
	SourceTeam  string            `json:"source_team"`
	Edited      *slackEdited      `json:"edited"`
	Files       []slackFile       `json:"files"`
	Attachments []slackAttachment `json:"attachments"`
	Blocks      json.RawMessage   `json:"blocks"`
	// message_changed and message_deleted.
	Message         *slackMessage `json:"message"`
	PreviousMessage *slackMessage `json:"previous_message"`
	DeletedTS       string        `json:"deleted_ts"`
}

type slackBotProfile struct {
	Name string `json:"name"`
}

// slackProfile is a user's profile, in users.json and in a message's
// user_profile.
type slackProfile struct {
	RealName    string `json:"real_name"`
	DisplayName string `json:"display_name"`
	Name        string `json:"name"`
}

// name is what Slack shows for the profile: the display name, else the
// real name, else the user name.
func (p *slackProfile) name() string {
	if p == nil {
		return ""
	}
	return slackFirst(p.DisplayName, p.RealName, p.Name)
}

type slackEdited struct {
	User string `json:"user"`
	TS   string `json:"ts"`
}

type slackFile struct {
	Name  string `json:"name"`
	Title string `json:"title"`
}

// label is what a person would search the file by: its name, and its
// title when that says something else.
func (f slackFile) label() string {
	switch {
	case f.Name == "":
		return f.Title
	case f.Title == "" || f.Title == f.Name:
		return f.Name
	}
	return f.Name + " (" + f.Title + ")"
}

// slackAttachment is a legacy message attachment (a bot's card, a link
// preview).
type slackAttachment struct {
	Pretext  string `json:"pretext"`
	Title    string `json:"title"`
	Text     string `json:"text"`
	Fallback string `json:"fallback"`
}

// Decode checks the delivery's signature, then decodes it (see Slack).
func (s Slack) Decode(req Request) (Result, error) {
	sig, err := s.verify(req)
	if err != nil {
		return Result{}, err
	}
	res, err := decodeSlackDelivery(req)
	return withSignature(res, err, sig)
}

// decodeSlackDelivery decodes a (verified) delivery.
func decodeSlackDelivery(req Request) (Result, error) {
	var env slackEnvelope
	if err := json.Unmarshal(req.Body, &env); err != nil {
		return Result{}, jsonError(req.Body, 1, err)
	}
	switch env.Type {
	case "url_verification":
		if env.Challenge == "" {
			return Result{}, badField(1, "challenge", "a url_verification needs its challenge")
		}
		return Result{Reply: map[string]string{"challenge": env.Challenge}}, nil
	case "event_callback":
		return decodeSlackEvent(req, &env)
	}
	return Result{}, nil
}

// verify checks X-Slack-Signature against the body and the timestamp
// window; every failure wraps ErrSignature.
func (s Slack) verify(req Request) (*Signature, error) {
	if s.SigningSecret == "" {
		return nil, fmt.Errorf("slack: no signing secret configured: %w", ErrSignature)
	}
	ts, sig, signed, err := signedHeaders(req.Header, "X-Slack-Request-Timestamp", "X-Slack-Signature", unixSeconds, req.Now, slackSignatureWindow)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	if !hmac.Equal([]byte(sig), []byte(v0Signature(s.SigningSecret, ts, req.Body))) {
		return nil, fmt.Errorf("slack: X-Slack-Signature does not match the body: %w", ErrSignature)
	}
	return signed, nil
}

// decodeSlackEvent turns an event_callback into its record, if any.
func decodeSlackEvent(req Request, env *slackEnvelope) (Result, error) {
	var head struct {
		Type string `json:"type"`
	}
	if len(env.Event) == 0 || json.Unmarshal(env.Event, &head) != nil {
		return Result{}, badField(1, "event", "an event_callback needs its event object")
	}
	if head.Type != "message" {
		return Result{}, nil
	}
	// Decode the whole body again so that type errors name their full
	// path ("event.message.ts").
	var full struct {
		Event slackMessage `json:"event"`
	}
	if err := json.Unmarshal(req.Body, &full); err != nil {
		return Result{}, jsonError(req.Body, 1, err)
	}
	sc := slackScope{team: env.TeamID, field: "event.", line: 1}
	m, ok, e := sc.record(&full.Event)
	if e != nil {
		return Result{}, e
	}
	if !ok {
		return Result{}, nil
	}
	m.Tenant = req.Tenant
	if e := slackFinish(&m, req.Body, 1, req.Limits, req.Now); e != nil {
		return Result{}, e
	}
	return Result{Records: []Record{{Line: 1, Message: m}}}, nil
}

// slackFinish bounds the raw payload (Finish bounds every other field),
// then finishes the record.
func slackFinish(m *archive.Message, raw []byte, line int, lim Limits, now time.Time) *Error {
	if lim.MaxFieldBytes > 0 && int64(len(raw)) > lim.MaxFieldBytes {
		return &Error{Kind: KindTooLarge, Field: "raw", Line: line,
			Msg: fmt.Sprintf("the message's JSON is %d bytes, more than the %d allowed (http.max_field_bytes)", len(raw), lim.MaxFieldBytes)}
	}
	return Finish(m, raw, line, lim, now)
}

// slackScope is what a message's record needs beyond the message itself.
type slackScope struct {
	// team is the workspace's team id; "" when unknown.
	team string
	// field prefixes error field names: "event." in a delivery.
	field string
	line  int
	// conv, members and users come from an export's metadata; a delivery
	// has none, its conversation comes from the message.
	conv    archive.Conversation
	members []string
	users   map[string]slackUser
}

// record turns one message object into a record; ok is false when the
// message records nothing (see Slack).
func (sc *slackScope) record(msg *slackMessage) (m archive.Message, ok bool, e *Error) {
	conv := sc.conv
	if conv.ID == "" {
		if strings.TrimSpace(msg.Channel) == "" {
			return m, false, badField(sc.line, sc.field+"channel", "the message's channel is required")
		}
		conv = archive.Conversation{ID: msg.Channel, Kind: slackKind(msg.ChannelType, msg.Channel)}
	}
	switch msg.Subtype {
	case "message_changed":
		return sc.edit(msg, conv)
	case "message_deleted":
		return sc.deletion(msg, conv)
	case "message_replied":
		return m, false, nil
	}
	return sc.send(msg, conv)
}

func (sc *slackScope) send(msg *slackMessage, conv archive.Conversation) (archive.Message, bool, *Error) {
	sent, e := sc.time(msg.TS, "ts")
	if e != nil {
		return archive.Message{}, false, e
	}
	m := sc.message(msg, conv)
	if m.From.ID == "" {
		return m, false, badField(sc.line, sc.field+"user", "the message has neither a user nor a bot_id")
	}
	if strings.TrimSpace(m.Text) == "" {
		m.Text = slackNoText
	}
	m.SentAt = sent
	return m, true, nil
}

func (sc *slackScope) edit(ev *slackMessage, conv archive.Conversation) (archive.Message, bool, *Error) {
	msg := ev.Message
	if msg == nil {
		return archive.Message{}, false, badField(sc.line, sc.field+"message", "a message_changed event needs the changed message")
	}
	if msg.Edited == nil && ev.PreviousMessage != nil && msg.Text == ev.PreviousMessage.Text {
		return archive.Message{}, false, nil
	}
	if _, e := sc.time(msg.TS, "message.ts"); e != nil {
		return archive.Message{}, false, e
	}
	at, e := sc.time(ev.TS, "ts")
	if msg.Edited != nil && msg.Edited.TS != "" {
		at, e = sc.time(msg.Edited.TS, "message.edited.ts")
	}
	if e != nil {
		return archive.Message{}, false, e
	}
	m := sc.message(msg, conv)
	if m.From.ID == "" {
		return m, false, badField(sc.line, sc.field+"message.user", "the changed message has neither a user nor a bot_id")
	}
	m.Action, m.SentAt = archive.ActionEdit, at
	return m, true, nil
}

func (sc *slackScope) deletion(ev *slackMessage, conv archive.Conversation) (archive.Message, bool, *Error) {
	if _, e := sc.time(ev.DeletedTS, "deleted_ts"); e != nil {
		return archive.Message{}, false, e
	}
	at, e := sc.time(ev.TS, "ts")
	if e != nil {
		return archive.Message{}, false, e
	}
	prev := ev.PreviousMessage
	if prev == nil {
		prev = &slackMessage{}
	}
	m := sc.message(prev, conv)
	m.SourceID = slackSourceID(conv.ID, ev.DeletedTS)
	m.Action, m.SentAt, m.Text = archive.ActionDelete, at, ""
	if m.From.ID == "" {
		m.From.ID = slackUnknownSender
	}
	return m, true, nil
}

// message fills what every action's record takes from the message.
func (sc *slackScope) message(msg *slackMessage, conv archive.Conversation) archive.Message {
	from := sc.sender(msg)
	return archive.Message{
		Platform:     slackPlatform,
		SourceID:     slackSourceID(conv.ID, msg.TS),
		Conversation: conv,
		From:         from,
		To:           sc.recipients(from.ID),
		Type:         slackType(msg),
		Text:         sc.text(msg),
	}
}

// time parses one of the message's timestamps, naming field when it is
// not one.
func (sc *slackScope) time(ts, field string) (time.Time, *Error) {
	t, ok := slackTime(ts)
	if !ok {
		return t, badField(sc.line, sc.field+field, "%s %q is not a Slack timestamp such as 1355517523.000005", sc.field+field, ts)
	}
	return t, nil
}

// sender is who wrote msg: a user, or a bot without one.
func (sc *slackScope) sender(msg *slackMessage) archive.Participant {
	id := msg.User
	if id == "" {
		id = msg.BotID
	}
	p := sc.participant(id)
	if p.Name == "" {
		var bot string
		if msg.BotProfile != nil {
			bot = msg.BotProfile.Name
		}
		p.Name = slackFirst(msg.UserProfile.name(), msg.Username, bot)
	}
	for _, t := range []string{msg.UserTeam, msg.SourceTeam, msg.Team} {
		if sc.team != "" && t != "" && t != sc.team {
			p.External = true
		}
	}
	return p
}

// text is what a person would search the message by: its text, its legacy
// attachments' text and its files' names, one per line; the text of its
// blocks when it has none of these.
func (sc *slackScope) text(msg *slackMessage) string {
	var parts []string
	add := func(s string) {
		if strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	}
	add(slackPlain(msg.Text, sc.name))
	for _, a := range msg.Attachments {
		add(slackPlain(a.Pretext, sc.name))
		add(slackPlain(a.Title, sc.name))
		add(slackPlain(a.Text, sc.name))
		if strings.TrimSpace(a.Title+a.Text) == "" {
			add(slackPlain(a.Fallback, sc.name))
		}
	}
	for _, f := range msg.Files {
		add(f.label())
	}
	if len(parts) == 0 {
		add(slackPlain(slackBlocksText(msg.Blocks), sc.name))
	}
	return strings.Join(parts, "\n")
}

// slackSourceID is the archive's id of a Slack message: its channel and
// the ts of its original send.
func slackSourceID(channel, ts string) string { return channel + ":" + ts }

// slackKind maps channel_type to a conversation kind; without one, a "D"
// channel id is a direct message.
func slackKind(channelType, channel string) string {
	switch channelType {
	case "im", "app_home":
		return archive.KindDirect
	case "mpim":
		return archive.KindGroup
	case "channel", "group":
		return archive.KindChannel
	}
	if strings.HasPrefix(channel, "D") {
		return archive.KindDirect
	}
	return archive.KindChannel
}

// slackType is the record's type: the subtype, "file" for a file share,
// "text" for a plain message.
func slackType(msg *slackMessage) string {
	switch {
	case msg.Subtype == "file_share", msg.Subtype == "" && len(msg.Files) > 0:
		return "file"
	case msg.Subtype == "":
		return "text"
	}
	return msg.Subtype
}

// slackTime parses a Slack timestamp ("1355517523.000005": Unix seconds,
// a dot, microseconds).
func slackTime(ts string) (time.Time, bool) {
	sec, frac, _ := strings.Cut(ts, ".")
	if sec == "" || len(sec) > 12 || len(frac) > 9 || !slackDigits(sec) || !slackDigits(frac) {
		return time.Time{}, false
	}
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var ns int64
	if frac != "" {
		ns, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	return time.Unix(s, ns).UTC(), true
}

func slackDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func slackFirst(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}
