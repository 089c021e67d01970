package journal

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// Teams decodes Microsoft Teams messages in the shape Microsoft Graph
// returns them (the chatMessage resource), for POST /v1/sources/teams and
// for holdfast import teams (ReadTeams): one chatMessage, a JSON array of
// them, or a collection page {"value": [...], "@odata.nextLink": ...} as
// the export APIs (getAllMessages) and the list APIs return it. There is no
// platform signature to check: the forwarder authenticates with its ingest
// token.
//
// Identity: a chatMessage id is unique only within its chat or channel, so
// the source id is the conversation id (chatId, or channelIdentity's
// channelId), "/", and the message id. A chatId ending in
// "@unq.gbl.spaces" is a 1:1 chat (direct), any other chat a group chat;
// a channel message is in a channel.
//
// Content: an html body is turned into text (tags dropped, entities
// decoded, line breaks kept for <br>, <p> and <div>, an <at> mention keeps
// the name, an emoji its character); a channel message's subject comes
// first. Attachments add what a person would search: a file's name (the
// file stays in SharePoint; holdfast does not fetch it), the text of a card,
// the text of a forwarded message. A system event (members added, chat
// renamed...) is archived with type systemEventMessage, the event's name
// and the display names it mentions as text, and its initiator as sender.
//
// Versions: the API returns a message's current state, not its history.
// One chatMessage yields, in this order:
//   - a send, dated createdDateTime, when the body is the created state: the
//     message was never edited (and, if deleted, its body is still there);
//   - an edit, dated lastEditedDateTime, when the message was edited: its
//     body is the edited text, so no send is made up from it (the original
//     text is gone; a send delivered earlier, by a live forwarder, stays
//     version 0, and a send arriving again is de-duplicated by the gateway);
//   - a delete, dated deletedDateTime, when deletedDateTime is set.
//
// A deleted message whose body Graph has emptied yields its delete only;
// a message with nothing to read at all (emptied by a data loss prevention
// policy) is archived with its type as text, "[message]".
//
// Edits are read from lastEditedDateTime: lastModifiedDateTime also
// changes on a reaction. Only in a payload without lastEditedDateTime is a
// lastModifiedDateTime later than createdDateTime (and not the deletion)
// taken as the edit. The same chatMessage always yields the same records,
// so a re-import or a redelivery adds nothing.
//
// External senders: a user whose userIdentityType is not aadUser or
// onPremiseAadUser (guests, personal Microsoft accounts, Skype, phone and
// email users, federated users...), an application (a bot, a connector), or
// a user whose tenantId is not HomeTenantID (when set).
type Teams struct {
	// HomeTenantID is the organisation's Microsoft Entra tenant id. When
	// set, a user of another tenant (an external access user) is External.
	HomeTenantID string
}

var _ Source = Teams{}

// teamsSystemSender stands for Teams itself, the sender of a system event
// that names no initiator.
var teamsSystemSender = archive.Participant{ID: "teams:system", Name: "Microsoft Teams"}

// teamsFields names the chatMessage field a Finish error is about.
var teamsFields = map[string]string{
	"source_id": "id", "conversation.id": "chatId", "from.id": "from.user.id",
	"from.name": "from.user.displayName", "sent_at": "createdDateTime", "text": "body.content",
}

// Platform returns "teams".
func (Teams) Platform() string { return "teams" }

// Decode decodes every chatMessage of the body. There is no signature to
// check.
func (t Teams) Decode(req Request) (Result, error) {
	items, e := splitSourceBody(req.Body)
	if e != nil {
		return Result{}, e
	}
	var recs []Record
	for _, it := range items {
		msgs, e := teamsItems(it)
		if e != nil {
			return Result{}, e
		}
		for _, mi := range msgs {
			versions, e := t.versions(mi.data, mi.line, req.Tenant, req.Limits, req.Now)
			if e != nil {
				return Result{}, e
			}
			for _, m := range versions {
				recs = append(recs, Record{Line: mi.line, Message: m})
			}
		}
	}
	return Result{Records: recs}, nil
}

// ReadTeams reads a file of Microsoft Graph chatMessages for holdfast
// import teams: the saved responses of the export or list APIs (one page
// or chatMessage, or a JSON array of them, or one per line). It is
// Teams{}.Import.
func ReadTeams(r io.Reader, tenant string, lim Limits, now time.Time, fn func(Item) error) error {
	return Teams{}.Import(r, tenant, lim, now, fn)
}

// Import reads chatMessages as ReadTeams does, marking the users of other
// tenants external. Items come in file order, each chatMessage's versions
// in the order send, edit, delete; Where is "page P message M" (or
// "message N" for a chatMessage outside a page), followed by "(edit)" or
// "(delete)" for a message's later versions. A chatMessage that cannot be
// archived is a rejected Item and the import continues; input that is not
// valid JSON ends it with an *Error. fn's error stops the read and is
// returned.
func (t Teams) Import(r io.Reader, tenant string, lim Limits, now time.Time, fn func(Item) error) error {
	return eachJSONValue(r, func(n int, v json.RawMessage) error {
		msgs, e := teamsItems(item{line: 1, data: v})
		if e != nil {
			return fn(Item{Err: e, Where: fmt.Sprintf("value %d", n), Bytes: int64(len(v))})
		}
		for i, mi := range msgs {
			where := fmt.Sprintf("page %d message %d", n, i+1)
			if !mi.paged {
				where = fmt.Sprintf("message %d", n)
			}
			versions, e := t.versions(mi.data, i+1, tenant, lim, now)
			if err := emitItems(fn, where, i+1, int64(len(mi.data)), versions, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// teamsItem is one chatMessage of the input, with its line.
type teamsItem struct {
	item
	paged bool // it came from a collection's value
}

// teamsItems returns the chatMessages of one JSON object: the object, or
// the elements of a collection page's value.
func teamsItems(it item) ([]teamsItem, *Error) {
	var page struct {
		ID    *json.RawMessage   `json:"id"`
		Value *[]json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(it.data, &page); err != nil {
		return nil, jsonError(it.data, it.line, err)
	}
	if page.Value == nil || page.ID != nil {
		return []teamsItem{{item: it}}, nil
	}
	out := make([]teamsItem, 0, len(*page.Value))
	at := 0
	for _, v := range *page.Value {
		// The elements are byte-exact slices of the page: find each one
		// after the previous to number its line.
		off := at + max(0, bytes.Index(it.data[at:], v))
		at = min(off+len(v), len(it.data))
		out = append(out, teamsItem{item: item{line: it.line + bytes.Count(it.data[:off], []byte{'\n'}), data: v}, paged: true})
	}
	return out, nil
}

// teamsMessage is the part of a chatMessage holdfast reads.
type teamsMessage struct {
	ID                   string            `json:"id"`
	MessageType          string            `json:"messageType"`
	CreatedDateTime      string            `json:"createdDateTime"`
	LastModifiedDateTime string            `json:"lastModifiedDateTime"`
	LastEditedDateTime   json.RawMessage   `json:"lastEditedDateTime"`
	DeletedDateTime      string            `json:"deletedDateTime"`
	Subject              string            `json:"subject"`
	ChatID               string            `json:"chatId"`
	ChannelIdentity      *teamsChannel     `json:"channelIdentity"`
	From                 *teamsIdentitySet `json:"from"`
	Body                 teamsBody         `json:"body"`
	Attachments          []teamsAttachment `json:"attachments"`
	EventDetail          map[string]any    `json:"eventDetail"`
}

type teamsChannel struct {
	TeamID    string `json:"teamId"`
	ChannelID string `json:"channelId"`
}

type teamsIdentitySet struct {
	User        *teamsIdentity `json:"user"`
	Application *teamsIdentity `json:"application"`
	Device      *teamsIdentity `json:"device"`
}

type teamsIdentity struct {
	ID               string `json:"id"`
	DisplayName      string `json:"displayName"`
	UserIdentityType string `json:"userIdentityType"`
	TenantID         string `json:"tenantId"`
}

type teamsBody struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

type teamsAttachment struct {
	ContentType string `json:"contentType"`
	ContentURL  string `json:"contentUrl"`
	Content     string `json:"content"`
	Name        string `json:"name"`
}

// versions are the records one chatMessage stands for (see Teams).
func (t Teams) versions(raw []byte, line int, tenant string, lim Limits, now time.Time) ([]archive.Message, *Error) {
	var g teamsMessage
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, jsonError(raw, line, err)
	}
	created, e := parseTimeField(g.CreatedDateTime, "createdDateTime", line)
	if e != nil {
		return nil, e
	}
	deleted, e := parseTimeField(g.DeletedDateTime, "deletedDateTime", line)
	if e != nil {
		return nil, e
	}
	edited, e := g.editTime(created, deleted, line)
	if e != nil {
		return nil, e
	}
	m := archive.Message{Platform: "teams", Tenant: tenant, Conversation: g.conversation(), From: t.sender(&g)}
	if g.ID != "" {
		// Without a conversation the record is refused for it.
		m.SourceID = m.Conversation.ID + "/" + g.ID
	}
	m.Type, m.Text = g.content()
	hasContent := strings.TrimSpace(m.Text) != ""
	var out []archive.Message
	if hasContent || deleted.IsZero() {
		v := m
		v.Action, v.SentAt = archive.ActionSend, created
		if !edited.IsZero() {
			v.Action, v.SentAt = archive.ActionEdit, edited
		} else if !hasContent {
			// Nothing to read (a message emptied by a policy): the type
			// is all a person can search for.
			v.Text = "[" + cmp.Or(g.MessageType, "message") + "]"
		}
		out = append(out, v)
	}
	if !deleted.IsZero() {
		v := m
		v.Action, v.SentAt, v.Text = archive.ActionDelete, deleted, ""
		out = append(out, v)
	}
	for i := range out {
		if e := platformField(Finish(&out[i], raw, line, lim, now), teamsFields); e != nil {
			return nil, e
		}
	}
	return out, nil
}

// editTime is when the message was last edited, zero when it was not.
func (g *teamsMessage) editTime(created, deleted time.Time, line int) (time.Time, *Error) {
	if len(g.LastEditedDateTime) > 0 {
		var s *string
		if err := json.Unmarshal(g.LastEditedDateTime, &s); err != nil {
			return time.Time{}, badField(line, "lastEditedDateTime", "lastEditedDateTime must be a time or null")
		}
		if s == nil {
			return time.Time{}, nil
		}
		return parseTimeField(*s, "lastEditedDateTime", line)
	}
	modified, e := parseTimeField(g.LastModifiedDateTime, "lastModifiedDateTime", line)
	if e != nil || !modified.After(created) || modified.Equal(deleted) {
		return time.Time{}, e
	}
	return modified, nil
}

// conversation is the chat or channel of the message.
func (g *teamsMessage) conversation() archive.Conversation {
	if c := g.ChannelIdentity; c != nil && c.ChannelID != "" {
		return archive.Conversation{ID: c.ChannelID, Kind: archive.KindChannel}
	}
	if g.ChatID == "" {
		return archive.Conversation{}
	}
	kind := archive.KindGroup
	if strings.HasSuffix(g.ChatID, "@unq.gbl.spaces") {
		kind = archive.KindDirect
	}
	return archive.Conversation{ID: g.ChatID, Kind: kind}
}

// sender is who sent the message: from, or a system event's initiator.
func (t Teams) sender(g *teamsMessage) archive.Participant {
	set := g.From
	if set == nil || (set.User == nil && set.Application == nil && set.Device == nil) {
		set = eventInitiator(g.EventDetail)
	}
	switch {
	case set == nil:
	case set.User != nil:
		u := set.User
		return archive.Participant{ID: u.ID, Name: u.DisplayName, External: t.externalUser(u)}
	case set.Application != nil:
		return archive.Participant{ID: set.Application.ID, Name: set.Application.DisplayName, External: true}
	case set.Device != nil:
		return archive.Participant{ID: set.Device.ID, Name: set.Device.DisplayName, External: true}
	}
	if g.MessageType == "systemEventMessage" {
		return teamsSystemSender
	}
	return archive.Participant{}
}

func (t Teams) externalUser(u *teamsIdentity) bool {
	switch u.UserIdentityType {
	case "", "aadUser", "onPremiseAadUser":
		return t.HomeTenantID != "" && u.TenantID != "" && !strings.EqualFold(u.TenantID, t.HomeTenantID)
	}
	return true
}

// eventInitiator is a system event's initiator, or nil.
func eventInitiator(detail map[string]any) *teamsIdentitySet {
	init, ok := detail["initiator"]
	if !ok {
		return nil
	}
	b, err := json.Marshal(init)
	if err != nil {
		return nil
	}
	var set teamsIdentitySet
	if json.Unmarshal(b, &set) != nil {
		return nil
	}
	return &set
}

// content is the message's type and searchable text.
func (g *teamsMessage) content() (string, string) {
	if g.MessageType == "systemEventMessage" {
		return "systemEventMessage", eventText(g.EventDetail)
	}
	body := g.Body.Content
	if strings.EqualFold(g.Body.ContentType, "html") {
		body = htmlToText(body)
	}
	var parts []string
	for _, s := range []string{g.Subject, body} {
		if strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	}
	typ := "text"
	if len(parts) == 0 && len(g.Attachments) > 0 {
		typ = attachmentKind(g.Attachments[0].ContentType)
	}
	for _, a := range g.Attachments {
		if s := attachmentText(a); s != "" {
			parts = append(parts, s)
		}
	}
	return typ, strings.Join(parts, "\n")
}

// attachmentKind names the kind of message whose only content is an
// attachment of contentType.
func attachmentKind(contentType string) string {
	switch {
	case contentType == "reference":
		return "file"
	case strings.HasPrefix(contentType, "application/vnd.microsoft.card."):
		return "card"
	}
	return cmp.Or(contentType, "text")
}

// attachmentText is what a person would search for in an attachment: a
// file's name, a card's text, a forwarded message's text.
func attachmentText(a teamsAttachment) string {
	switch {
	case a.ContentType == "reference":
		if a.Name != "" {
			return a.Name
		}
		return path.Base(a.ContentURL)
	case a.ContentType == "forwardedMessageReference":
		var fwd struct {
			OriginalMessageContent string `json:"originalMessageContent"`
		}
		if json.Unmarshal([]byte(a.Content), &fwd) == nil {
			return htmlToText(fwd.OriginalMessageContent)
		}
	case strings.HasPrefix(a.ContentType, "application/vnd.microsoft.card."):
		var card any
		if json.Unmarshal([]byte(a.Content), &card) == nil {
			return strings.Join(cardTexts(card), "\n")
		}
	case a.ContentType == "messageReference":
		// A quoted message: its text belongs to that message.
		return ""
	}
	return a.Name
}

// cardTexts collects the visible texts of a card: its text, title and
// subtitle values.
func cardTexts(card any) []string {
	return collectStrings(card, func(k string) bool { return k == "text" || k == "title" || k == "subtitle" }, nil)
}

// eventText describes a system event: its kind ("membersAdded") and the
// display names it mentions, its initiator's excepted.
func eventText(detail map[string]any) string {
	kind, _ := detail["@odata.type"].(string)
	kind = strings.TrimSuffix(strings.TrimPrefix(kind, "#microsoft.graph."), "EventMessageDetail")
	kind = cmp.Or(kind, "systemEvent")
	rest := make(map[string]any, len(detail))
	for k, v := range detail {
		if k != "initiator" && k != "@odata.type" {
			rest[k] = v
		}
	}
	isName := func(k string) bool { return k == "displayName" || strings.HasSuffix(k, "DisplayName") }
	names := slices.Compact(collectStrings(rest, isName, nil))
	if len(names) == 0 {
		return kind
	}
	return kind + ": " + strings.Join(names, ", ")
}

// collectStrings collects the non-blank string values of the keys keep
// accepts, anywhere in v: arrays in order, an object's keys sorted, so that
// the same value always gives the same list.
func collectStrings(v any, keep func(key string) bool, out []string) []string {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if s, ok := v[k].(string); ok && keep(k) && strings.TrimSpace(s) != "" {
				out = append(out, s)
				continue
			}
			out = collectStrings(v[k], keep, out)
		}
	case []any:
		for _, e := range v {
			out = collectStrings(e, keep, out)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
