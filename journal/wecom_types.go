package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast/archive"
)

const wecomPlatform = "wecom"

// wecomMessage is what every decrypted message shares, and the fields of a
// switch log ({"msgid","action":"switch","time","user"}).
type wecomMessage struct {
	MsgID   string   `json:"msgid"`
	Action  string   `json:"action"`
	From    string   `json:"from"`
	ToList  []string `json:"tolist"`
	RoomID  string   `json:"roomid"`
	MsgTime *int64   `json:"msgtime"`
	MsgType string   `json:"msgtype"`
	Time    *int64   `json:"time"`
	User    string   `json:"user"`
}

const (
	// minWeComMillis is 1973-03-03 in milliseconds: a smaller msgtime is
	// seconds, not the milliseconds WeCom documents, and would date the
	// message in 1970.
	minWeComMillis = 100_000_000_000
	// minExternalIDLen: an external_userid is "wo" or "wm" and 30 more
	// characters; a short id such as "wong" is an internal userid.
	minExternalIDLen = 24
	// maxWeComNesting bounds how deep chatrecord and mixed items, whose
	// content is JSON text of its own, are read for text.
	maxWeComNesting = 4
)

// wecomBodyKeys names the key a type's body is under when it is not the
// type's own name.
var wecomBodyKeys = map[string]string{
	"external_redpacket": "redpacket", "docmsg": "doc", "markdown": "info", "news": "info",
	"meeting_notification": "info", "voiptext": "info", "qydiskfile": "info",
}

// wecomTextFields names, per type, the body fields that make its searchable
// text, in order; "a.b" is field b of the object (or of each object of the
// array) a. A field may be a string or an array of strings. mixed and
// chatrecord are read item by item (wecomItemsText).
var wecomTextFields = map[string][]string{
	"text":                 {"content"},
	"image":                {"md5sum"},
	"voice":                {"md5sum"},
	"video":                {"md5sum"},
	"emotion":              {"md5sum"},
	"agree":                {"userid"},
	"disagree":             {"userid"},
	"card":                 {"corpname", "userid"},
	"location":             {"title", "address"},
	"file":                 {"filename", "md5sum"},
	"link":                 {"title", "description", "link_url"},
	"weapp":                {"title", "description", "displayname"},
	"todo":                 {"title", "content"},
	"vote":                 {"votetitle", "voteitem"},
	"collect":              {"room_name", "title", "details.ques"},
	"redpacket":            {"wish"},
	"external_redpacket":   {"wish"},
	"meeting":              {"topic", "address", "remarks"},
	"docmsg":               {"title", "link_url"},
	"markdown":             {"content", "markdown"},
	"news":                 {"item.title", "item.description", "item.url"},
	"calendar":             {"title", "place", "remarks", "creatorname", "attendeename"},
	"meeting_voice_call":   {"demofiledata.filename"},
	"voip_doc_share":       {"filename", "md5sum"},
	"sphfeed":              {"sph_name", "feed_desc"},
	"voiptext":             nil,
	"mixed":                nil, // its items, see wecomItemsText
	"chatrecord":           nil, // its title and items
	"qydiskfile":           {"filename"},
	"meeting_notification": {"content"},
}

// wecomGenericFields make the text of a type WeCom added after this table.
var wecomGenericFields = []string{"title", "name", "filename", "content", "description"}

// wecomLabelled types open their text with "[type]": their body alone says
// little (a media id, a consent) or nothing known.
var wecomLabelled = map[string]bool{
	"image": true, "voice": true, "video": true, "emotion": true, "agree": true,
	"disagree": true, "meeting_voice_call": true, "voiptext": true,
}

// record turns the entry's decrypted message into a record.
func (e wecomEntry) record(tenant string, lim Limits, now time.Time) (Record, *Error) {
	if lim.MaxFieldBytes > 0 && int64(len(e.data)) > lim.MaxFieldBytes {
		field := "" // the message itself
		if e.chatdata {
			field = e.entryField("decrypted")
		}
		return Record{}, &Error{Kind: KindTooLarge, Field: field, Line: e.line,
			Msg: fmt.Sprintf("the message is %d bytes, more than the %d allowed (http.max_field_bytes)", len(e.data), lim.MaxFieldBytes)}
	}
	var m wecomMessage
	if err := json.Unmarshal(e.data, &m); err != nil {
		je := jsonError(e.data, e.line, err)
		if je.Field != "" {
			je.Field = e.field(je.Field)
		}
		return Record{}, je
	}
	if e.msgid != "" && m.MsgID != e.msgid {
		return Record{}, badField(e.line, e.field("msgid"), "msgid %q is not the chatdata entry's msgid %q", m.MsgID, e.msgid)
	}
	msg, names, fe := e.message(&m)
	if fe != nil {
		return Record{}, fe
	}
	msg.Platform, msg.Tenant = wecomPlatform, tenant
	if fe := Finish(&msg, e.data, e.line, lim, now); fe != nil {
		return Record{}, e.rename(fe, names)
	}
	return Record{Line: e.line, Message: msg}, nil
}

// message maps m by its action; names translates the fields Finish may
// name into WeCom's.
func (e wecomEntry) message(m *wecomMessage) (archive.Message, map[string]string, *Error) {
	names := map[string]string{
		"source_id": "msgid", "from.id": "from", "from.name": "from", "sent_at": "msgtime",
		"conversation.id": "roomid", "type": "msgtype", "text": wecomBodyKey(m.MsgType),
	}
	switch {
	case m.Action == "switch":
		names["from.id"], names["from.name"], names["sent_at"], names["conversation.id"] = "user", "user", "time", "user"
		msg, fe := e.switchLog(m)
		return msg, names, fe
	case m.Action == "recall" || m.MsgType == "revoke":
		names["source_id"] = "revoke.pre_msgid"
		msg, fe := e.recall(m)
		return msg, names, fe
	case m.Action == "send" || m.Action == "":
		msg, fe := e.send(m)
		return msg, names, fe
	}
	return archive.Message{}, nil, badField(e.line, e.field("action"), "action %q is not one of send, recall, switch", m.Action)
}

func (e wecomEntry) send(m *wecomMessage) (archive.Message, *Error) {
	if strings.TrimSpace(m.MsgType) == "" {
		return archive.Message{}, badField(e.line, e.field("msgtype"), "msgtype is required (text, image, file, ...)")
	}
	msg, all, fe := e.chat(m)
	if fe != nil {
		return archive.Message{}, fe
	}
	msg.SourceID, msg.Action, msg.Type = m.MsgID, archive.ActionSend, m.MsgType
	msg.Text = wecomText(m.MsgType, wecomBody(m.MsgType, all), 0)
	return msg, nil
}

// recall is the recall version of the message revoke.pre_msgid names,
// dated when it was recalled.
func (e wecomEntry) recall(m *wecomMessage) (archive.Message, *Error) {
	msg, all, fe := e.chat(m)
	if fe != nil {
		return archive.Message{}, fe
	}
	pre, _ := wecomBody("revoke", all)["pre_msgid"].(string)
	if strings.TrimSpace(pre) == "" {
		return archive.Message{}, badField(e.line, e.field("revoke.pre_msgid"), "a recall names the recalled message's msgid in revoke.pre_msgid")
	}
	msg.SourceID, msg.Action, msg.Type = pre, archive.ActionRecall, "revoke"
	return msg, nil
}

// chat reads what a chat message (not a switch log) has: its time, parties
// and conversation, and the whole message decoded for its body.
func (e wecomEntry) chat(m *wecomMessage) (archive.Message, map[string]any, *Error) {
	sent, fe := e.millis(m.MsgTime, "msgtime")
	if fe != nil {
		return archive.Message{}, nil, fe
	}
	all, err := decodeWeComObject(e.data)
	if err != nil {
		return archive.Message{}, nil, jsonError(e.data, e.line, err)
	}
	msg := archive.Message{Conversation: wecomConversation(m), From: wecomParty(m.From), SentAt: sent}
	for _, id := range m.ToList {
		msg.To = append(msg.To, wecomParty(id))
	}
	return msg, all, nil
}

// switchLog records that a member switched device: not a chat message,
// archived in a conversation of that member's own.
func (e wecomEntry) switchLog(m *wecomMessage) (archive.Message, *Error) {
	sent, fe := e.millis(m.Time, "time")
	if fe != nil {
		return archive.Message{}, fe
	}
	return archive.Message{
		SourceID: m.MsgID, Action: archive.ActionSend, Type: "switch", SentAt: sent,
		Conversation: archive.Conversation{ID: "switch:" + m.User, Kind: archive.KindDirect},
		From:         wecomParty(m.User), Text: "device switch by " + m.User,
	}, nil
}

// millis reads a WeCom timestamp: milliseconds since 1970, UTC.
func (e wecomEntry) millis(ms *int64, name string) (time.Time, *Error) {
	switch {
	case ms == nil:
		return time.Time{}, badField(e.line, e.field(name), "%s is required: milliseconds since 1970 (UTC)", name)
	case *ms < minWeComMillis:
		return time.Time{}, badField(e.line, e.field(name), "%s %d is not a time in milliseconds since 1970", name, *ms)
	}
	return time.UnixMilli(*ms).UTC(), nil
}

// rename names fe's field as WeCom does.
func (e wecomEntry) rename(fe *Error, names map[string]string) *Error {
	f := fe.Field
	if n, ok := names[f]; ok {
		f = n
	} else if strings.HasPrefix(f, "to[") {
		f = "tolist" + strings.TrimSuffix(strings.TrimPrefix(f, "to"), ".id")
	}
	fe.Field = e.field(f)
	return fe
}

// wecomConversation is the group (roomid) or, for a 1:1 message, the same
// id whichever party sends: "direct:" and the sorted parties.
func wecomConversation(m *wecomMessage) archive.Conversation {
	if m.RoomID != "" {
		return archive.Conversation{ID: m.RoomID, Kind: archive.KindGroup}
	}
	parties := append([]string{m.From}, m.ToList...)
	slices.Sort(parties)
	parties = slices.Compact(parties)
	return archive.Conversation{ID: "direct:" + strings.Join(parties, ","), Kind: archive.KindDirect}
}

func wecomParty(id string) archive.Participant {
	external := len(id) >= minExternalIDLen && (strings.HasPrefix(id, "wo") || strings.HasPrefix(id, "wm"))
	return archive.Participant{ID: id, External: external}
}

func wecomBodyKey(msgtype string) string {
	if k, ok := wecomBodyKeys[msgtype]; ok {
		return k
	}
	return msgtype
}

// wecomBody is the body of a message of type msgtype: under its key, else
// under "info" (where WeCom puts newer types), else the message itself (a
// vote's fields are at its top level).
func wecomBody(msgtype string, msg map[string]any) map[string]any {
	for _, k := range []string{wecomBodyKey(msgtype), "info"} {
		if b, ok := msg[k].(map[string]any); ok {
			return b
		}
	}
	return msg
}

// wecomText is the searchable text of a body of type msgtype: never empty,
// so that every type, known or not, can be archived as a send.
func wecomText(msgtype string, body map[string]any, depth int) string {
	var parts []string
	fields, known := wecomTextFields[msgtype]
	if !known {
		fields = wecomGenericFields
	}
	if !known || wecomLabelled[msgtype] {
		parts = append(parts, "["+msgtype+"]")
	}
	switch msgtype {
	case "mixed":
		parts = append(parts, wecomItemsText(body["item"], "", depth)...)
	case "chatrecord":
		parts = append(parts, wecomStrings(body["title"], nil)...)
		parts = append(parts, wecomItemsText(body["item"], "ChatRecord", depth)...)
	default:
		for _, f := range fields {
			parts = append(parts, wecomStrings(body, strings.Split(f, "."))...)
		}
	}
	parts = slices.DeleteFunc(parts, func(s string) bool { return strings.TrimSpace(s) == "" })
	if len(parts) == 0 {
		return "[" + msgtype + "]"
	}
	return strings.Join(parts, "\n")
}

// wecomItemsText is the text of mixed or chatrecord items: each has a type
// (after prefix, e.g. "ChatRecordText") and a content, the JSON text of a
// body of that type.
func wecomItemsText(items any, prefix string, depth int) []string {
	list, _ := items.([]any)
	var parts []string
	for _, it := range list {
		item, _ := it.(map[string]any)
		typ, _ := item["type"].(string)
		typ = strings.ToLower(strings.TrimPrefix(typ, prefix))
		var body map[string]any
		switch c := item["content"].(type) {
		case map[string]any:
			body = c
		case string:
			if b, err := decodeWeComObject([]byte(c)); err == nil && depth < maxWeComNesting {
				body = b
			} else {
				parts = append(parts, c)
				continue
			}
		default:
			continue
		}
		parts = append(parts, wecomText(typ, body, depth+1))
	}
	return parts
}

// wecomStrings collects the strings at path in v, descending into arrays.
func wecomStrings(v any, path []string) []string {
	switch x := v.(type) {
	case string:
		if len(path) == 0 {
			return []string{x}
		}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, wecomStrings(e, path)...)
		}
		return out
	case map[string]any:
		if len(path) > 0 {
			return wecomStrings(x[path[0]], path[1:])
		}
	}
	return nil
}

func decodeWeComObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return obj, nil
}
