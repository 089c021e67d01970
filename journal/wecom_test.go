package journal

// The fixtures in testdata/wecom are WeCom 会话内容存档 messages in the shape
// DecryptData returns, from the message formats (消息格式) of
// https://developer.work.weixin.qq.com/document/path/91774 as reproduced in
// binarywang/WxJava's WxCpMsgAuditTest and the Landray chat handlers; the few
// types those omit (todo, vote, voiptext, qydiskfile, meeting_notification)
// follow the field lists of silenceper/wechat and ArtisanCloud/PowerWeChat.
// testdata/wecom/README.md says which is which.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

var wecomLimits = Limits{MaxFieldBytes: 1 << 20}

func decodeWeComBody(body []byte) (Result, error) {
	return WeCom{}.Decode(Request{Body: body, Now: now, Tenant: "acme", Limits: wecomLimits})
}

func mustDecodeWeCom(t *testing.T, body []byte) Result {
	t.Helper()
	res, err := decodeWeComBody(body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res
}

func wecomFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wecom", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWeComEveryDocumentedType(t *testing.T) {
	const d, g = archive.KindDirect, archive.KindGroup
	cases := map[string]struct {
		kind string
		text []string
	}{
		"text":                 {d, []string{"这是一条引用/回复消息：\"\n------\n@nick777"}},
		"image":                {d, []string{"[image]", "50de8e5ae8ffe4f1df7a93841f71993a"}},
		"revoke":               {d, nil},
		"agree":                {d, []string{"[agree]", "wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ"}},
		"disagree":             {d, []string{"[disagree]"}},
		"voice":                {d, []string{"[voice]", "9db09c7fa627c9e53f17736c786a74d5"}},
		"video":                {d, []string{"[video]"}},
		"card":                 {d, []string{"微信联系人", "wmGAgeDQAAGjFmfnP7A3j2JxQDdLNhSw"}},
		"location":             {d, []string{"xxx管理中心", "北京市xxx区xxx路xxx大厦x座"}},
		"emotion":              {d, []string{"[emotion]"}},
		"file":                 {d, []string{"资料.docx"}},
		"link":                 {d, []string{"邀请你加入群聊", "技术支持群，进入可查看详情"}},
		"weapp":                {d, []string{"开始聊天前请仔细阅读服务须知事项", "服务须知"}},
		"chatrecord":           {d, []string{"群聊", "test", "test2"}},
		"todo":                 {g, []string{"测试待办", "下午三点前提交报价单"}},
		"vote":                 {g, []string{"团建地点", "杭州", "苏州"}},
		"collect":              {g, []string{"这是填表title", "表项1，文本", "表项4，时间"}},
		"redpacket":            {d, []string{"恭喜发财，大吉大利"}},
		"meeting":              {g, []string{"夕会"}},
		"switch":               {d, []string{"device switch by XuJinSheng"}},
		"docmsg":               {g, []string{"测试&演示客户"}},
		"markdown":             {g, []string{"请前往系统查看，谢谢。"}},
		"news":                 {g, []string{"service", "test", "http://xxx"}},
		"calendar":             {g, []string{"xxx业绩复盘会", "aaa"}},
		"mixed":                {g, []string{"你好[微笑]", "[image]", "368b6c18c82e6441bfd89b343e9d2429"}},
		"meeting_voice_call":   {d, []string{"[meeting_voice_call]", "65eb1cdd3e7a3c1740ecd74220b6c627.docx"}},
		"voip_doc_share":       {d, []string{"欢迎使用微盘.pdf.pdf"}},
		"external_redpacket":   {g, []string{"恭喜发财，大吉大利"}},
		"sphfeed":              {d, []string{"云游天地旅行家", "瑞士丨盖尔默缆车"}},
		"voiptext":             {d, []string{"[voiptext]"}},
		"qydiskfile":           {g, []string{"2020年度客户合同.xlsx"}},
		"meeting_notification": {g, []string{"会议已开始，请尽快入会"}},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "wecom", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if _, ok := cases[name]; !ok && name != "chatdata" {
			t.Errorf("fixture %s has no test case", f)
		}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			body := wecomFixture(t, name+".json")
			res := mustDecodeWeCom(t, body)
			if len(res.Records) != 1 || res.Meta != nil {
				t.Fatalf("%d records, meta %v; want 1 record, no meta", len(res.Records), res.Meta)
			}
			m := res.Records[0].Message
			if m.Platform != "wecom" || m.Tenant != "acme" || m.Conversation.Kind != c.kind || m.SentAt.IsZero() {
				t.Fatalf("platform %q tenant %q kind %q sent %v", m.Platform, m.Tenant, m.Conversation.Kind, m.SentAt)
			}
			if want := name; name != "revoke" && m.Type != want {
				t.Fatalf("type %q, want %q", m.Type, want)
			}
			for _, s := range c.text {
				if !strings.Contains(m.Text, s) {
					t.Errorf("text %q lacks %q", m.Text, s)
				}
			}
			if m.Raw != string(bytes.TrimSpace(body)) || m.RawEncoding != archive.RawText {
				t.Fatalf("raw is not the message as received:\n%s", m.Raw)
			}
			if len(m.Attachments) != 0 {
				t.Fatalf("attachments %+v made up without the bytes", m.Attachments)
			}
		})
	}
}

func TestWeComTextKeptExactly(t *testing.T) {
	m := mustDecodeWeCom(t, wecomFixture(t, "text.json")).Records[0].Message
	if m.Text != "这是一条引用/回复消息：\"\n------\n@nick777" {
		t.Fatalf("text %q", m.Text)
	}
	if m.SourceID != "CAQQluDa4QUY0On2rYSAgAMgzPrShAE=" || m.Action != archive.ActionSend {
		t.Fatalf("source id %q action %q", m.SourceID, m.Action)
	}
	if want := time.UnixMilli(1547087894783).UTC(); !m.SentAt.Equal(want) || m.SentAt.Location() != time.UTC {
		t.Fatalf("sent at %v, want %v", m.SentAt, want)
	}
	for name, want := range map[string]string{
		"mixed":      "你好[微笑]\n\n[image]\n368b6c18c82e6441bfd89b343e9d2429",
		"chatrecord": "群聊\ntest\ntest2",
		"vote":       "团建地点\n杭州\n苏州",
	} {
		if got := mustDecodeWeCom(t, wecomFixture(t, name+".json")).Records[0].Message.Text; got != want {
			t.Errorf("%s text %q, want %q", name, got, want)
		}
	}
}

// A puller forwards GetChatData's answer with the plaintext of each entry:
// the recall becomes a version of the message it recalls, and the highest
// seq is handed back.
func TestWeComChatdataEnvelope(t *testing.T) {
	res := mustDecodeWeCom(t, wecomFixture(t, "chatdata.json"))
	if len(res.Records) != 3 {
		t.Fatalf("%d records, want 3", len(res.Records))
	}
	if seq, ok := res.Meta["seq"].(uint64); !ok || seq != 198 {
		t.Fatalf("meta %v, want seq 198", res.Meta)
	}
	first, sent, recall := res.Records[0].Message, res.Records[1].Message, res.Records[2].Message
	if first.Text != "您好，请问需要什么帮助？" || !first.To[0].External || first.From.External {
		t.Fatalf("first message %+v", first)
	}
	if sent.Text != "报价单已发你邮箱" || !strings.HasPrefix(sent.Raw, `{"msgid":"CAQQvPnc`) {
		t.Fatalf("decrypted string not read as the message: text %q raw %q", sent.Text, sent.Raw)
	}
	if recall.Action != archive.ActionRecall || recall.SourceID != sent.SourceID {
		t.Fatalf("recall %q of %q, want a recall of %q", recall.Action, recall.SourceID, sent.SourceID)
	}
	if archive.MessageID(recall.Tenant, recall.Platform, recall.SourceID) != archive.MessageID(sent.Tenant, sent.Platform, sent.SourceID) {
		t.Fatal("the recall is not a version of the recalled message")
	}
	if !recall.SentAt.Equal(time.UnixMilli(1603875615723)) || !strings.Contains(recall.Raw, `"pre_msgid"`) {
		t.Fatalf("recall dated %v, raw %q", recall.SentAt, recall.Raw)
	}
	if recall.Conversation != sent.Conversation {
		t.Fatalf("recall in %+v, message in %+v", recall.Conversation, sent.Conversation)
	}
	if lines := []int{res.Records[0].Line, res.Records[1].Line, res.Records[2].Line}; lines[0] != 5 || lines[1] <= lines[0] || lines[2] <= lines[1] {
		t.Fatalf("lines %v", lines)
	}
}

func TestWeComConversations(t *testing.T) {
	msg := func(from, to, room string) string {
		return `{"msgid":"m-` + from + `","action":"send","from":"` + from + `","tolist":["` + to + `"],"roomid":"` + room +
			`","msgtime":1603875600000,"msgtype":"text","text":{"content":"hi"}}`
	}
	res := mustDecodeWeCom(t, []byte(msg("zhangsan", "wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ", "")+"\n"+
		msg("wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ", "zhangsan", "")+"\n"+msg("zhangsan", "lisi", "wrErxtDgAA0jgXE5")))
	a, b, group := res.Records[0].Message, res.Records[1].Message, res.Records[2].Message
	if a.Conversation != b.Conversation || a.Conversation.Kind != archive.KindDirect {
		t.Fatalf("the two directions of a 1:1 chat are %+v and %+v", a.Conversation, b.Conversation)
	}
	if a.Conversation.ID != "direct:wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ,zhangsan" {
		t.Fatalf("direct conversation id %q", a.Conversation.ID)
	}
	if group.Conversation != (archive.Conversation{ID: "wrErxtDgAA0jgXE5", Kind: archive.KindGroup}) {
		t.Fatalf("group conversation %+v", group.Conversation)
	}
}

func TestWeComExternalParticipants(t *testing.T) {
	m := mustDecodeWeCom(t, wecomFixture(t, "external_redpacket.json")).Records[0].Message
	if !m.From.External || !m.To[0].External || m.To[1].External {
		t.Fatalf("from %+v to %+v: wo… ids are external, tiny-six768 is not", m.From, m.To)
	}
	for id, want := range map[string]bool{
		"wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ": true, "wo137MCgAAYW6pIiKKrDe5SlzEhSgwbA": true,
		"wong": false, "wmartin": false, "XuJinSheng": false,
	} {
		if got := wecomParty(id).External; got != want {
			t.Errorf("%s external = %v, want %v", id, got, want)
		}
	}
}

// A type WeCom adds later is archived with its type and what it has to
// search, rather than rejected.
func TestWeComUnknownTypeArchived(t *testing.T) {
	res := mustDecodeWeCom(t, []byte(`{"msgid":"n1","action":"send","from":"zhangsan","tolist":["lisi"],"roomid":"",`+
		`"msgtime":1700000000000,"msgtype":"ai_summary","ai_summary":{"title":"周会纪要","level":2}}`+"\n"+
		`{"msgid":"n2","action":"send","from":"zhangsan","tolist":["lisi"],"roomid":"","msgtime":1700000000000,"msgtype":"sticker_pack"}`))
	if m := res.Records[0].Message; m.Type != "ai_summary" || m.Text != "[ai_summary]\n周会纪要" {
		t.Fatalf("type %q text %q", m.Type, m.Text)
	}
	if m := res.Records[1].Message; m.Type != "sticker_pack" || m.Text != "[sticker_pack]" {
		t.Fatalf("type %q text %q", m.Type, m.Text)
	}
}

func TestWeComSwitch(t *testing.T) {
	m := mustDecodeWeCom(t, wecomFixture(t, "switch.json")).Records[0].Message
	if m.Conversation != (archive.Conversation{ID: "switch:XuJinSheng", Kind: archive.KindDirect}) || m.From.ID != "XuJinSheng" {
		t.Fatalf("conversation %+v from %+v", m.Conversation, m.From)
	}
	if m.SourceID != "125289002219525886280" || !m.SentAt.Equal(time.UnixMilli(1554119421840)) {
		t.Fatalf("source id %q sent %v", m.SourceID, m.SentAt)
	}
}

func TestWeComForms(t *testing.T) {
	msg := string(bytes.TrimSpace(wecomFixture(t, "text.json")))
	entry := `{"seq":7,"msgid":"CAQQluDa4QUY0On2rYSAgAMgzPrShAE=","decrypted":` + msg + `}`
	for name, c := range map[string]struct {
		body  string
		lines []int
		seq   any
	}{
		"object":              {msg, []int{1}, nil},
		"object over lines":   {"\n{\n  \"msgid\": \"x1\", \"action\": \"send\", \"from\": \"a\", \"tolist\": [\"b\"],\n  \"msgtime\": 1603875600000, \"msgtype\": \"text\", \"text\": {\"content\": \"hi\"}\n}\n", []int{2}, nil},
		"array":               {"[\n" + msg + ",\n" + msg + "\n]", []int{2, 3}, nil},
		"ndjson":              {msg + "\n\n" + msg + "\r\n", []int{1, 3}, nil},
		"chatdata entry line": {entry + "\n" + msg, []int{1, 2}, uint64(7)},
		"envelope one line":   {`{"errcode":0,"chatdata":[` + entry + `,` + entry + `]}`, []int{1, 1}, uint64(7)},
	} {
		t.Run(name, func(t *testing.T) {
			res := mustDecodeWeCom(t, []byte(c.body))
			if len(res.Records) != len(c.lines) {
				t.Fatalf("%d records, want %d", len(res.Records), len(c.lines))
			}
			for i, r := range res.Records {
				if r.Line != c.lines[i] {
					t.Errorf("record %d on line %d, want %d", i, r.Line, c.lines[i])
				}
			}
			if got := res.Meta["seq"]; got != c.seq {
				t.Fatalf("seq %v, want %v", got, c.seq)
			}
		})
	}
}

func TestWeComErrors(t *testing.T) {
	const ok = `{"msgid":"m1","action":"send","from":"a","tolist":["b"],"roomid":"","msgtime":1603875600000,"msgtype":"text","text":{"content":"x"}}`
	with := func(old, repl string) string { return strings.Replace(ok, old, repl, 1) }
	for name, c := range map[string]struct {
		body  string
		kind  ErrorKind
		field string
		line  int
	}{
		"empty":                 {" \n", KindEmpty, "", 1},
		"no msgid":              {with(`"msgid":"m1",`, ""), KindInvalid, "msgid", 1},
		"msgtime string":        {with(`1603875600000`, `"1603875600000"`), KindInvalid, "msgtime", 1},
		"msgtime seconds":       {with(`1603875600000`, `1603875600`), KindInvalid, "msgtime", 1},
		"no msgtime":            {with(`"msgtime":1603875600000,`, ""), KindInvalid, "msgtime", 1},
		"in the future":         {with(`1603875600000`, `1990000000000`), KindInvalid, "msgtime", 1},
		"no from":               {with(`"from":"a",`, ""), KindInvalid, "from", 1},
		"empty recipient":       {with(`["b"]`, `["b",""]`), KindInvalid, "tolist[1]", 1},
		"no msgtype":            {with(`"msgtype":"text",`, ""), KindInvalid, "msgtype", 1},
		"unknown action":        {with(`"send"`, `"edit"`), KindInvalid, "action", 1},
		"revoke without target": {with(`"send"`, `"recall"`), KindInvalid, "revoke.pre_msgid", 1},
		"switch without time":   {`{"msgid":"s","action":"switch","user":"u"}`, KindInvalid, "time", 1},
		"switch without user":   {`{"msgid":"s","action":"switch","time":1554119421840}`, KindInvalid, "user", 1},
		"bad second line":       {ok + "\n" + with(`"from":"a",`, ""), KindInvalid, "from", 2},
		"malformed line":        {ok + "\n{\"msgid\":\n", KindSyntax, "", 2},
		"malformed object":      {"{\n  \"msgid\": \"m\",\n  \"action\" \"send\"\n}", KindSyntax, "", 3},
		"array of strings":      {`["x"]`, KindSyntax, "", 1},
		"not utf-8":             {"{\"msgid\":\"\xff\"}", KindEncoding, "", 1},
		"still encrypted":       {`{"chatdata":[{"seq":1,"msgid":"m1","encrypt_chat_msg":"..."}]}`, KindInvalid, "chatdata[0].decrypted", 1},
		"chatdata not array":    {`{"chatdata":{"seq":1}}`, KindInvalid, "chatdata", 1},
		"empty chatdata":        {`{"chatdata":[]}`, KindEmpty, "chatdata", 1},
		"negative seq":          {`{"chatdata":[{"seq":-1,"decrypted":` + ok + `}]}`, KindInvalid, "chatdata[0].seq", 1},
		"msgid mismatch":        {`{"chatdata":[{"msgid":"other","decrypted":` + ok + `}]}`, KindInvalid, "chatdata[0].decrypted.msgid", 1},
		"decrypted not object":  {`{"chatdata":[{"decrypted":"not json"}]}`, KindInvalid, "chatdata[0].decrypted", 1},
		"field in entry":        {"{\"chatdata\":[\n" + `{"decrypted":` + ok + "},\n" + `{"decrypted":` + with(`"from":"a",`, "") + "}]}", KindInvalid, "chatdata[1].decrypted.from", 3},
		"entry line field":      {`{"seq":3,"decrypted":` + with(`["b"]`, `"b"`) + `}`, KindInvalid, "decrypted.tolist", 1},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := decodeWeComBody([]byte(c.body))
			if len(res.Records) != 0 {
				t.Fatalf("%d records returned with an error: a body is accepted whole or not at all", len(res.Records))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if e.Kind != c.kind || e.Field != c.field || e.Line != c.line {
				t.Fatalf("kind %d field %q line %d (%v), want kind %d field %q line %d", e.Kind, e.Field, e.Line, e, c.kind, c.field, c.line)
			}
		})
	}
}

func TestWeComTooLarge(t *testing.T) {
	_, err := WeCom{}.Decode(Request{Body: wecomFixture(t, "image.json"), Now: now, Limits: Limits{MaxFieldBytes: 200}})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindTooLarge {
		t.Fatalf("error %v, want too large", err)
	}
}

func TestReadWeComExport(t *testing.T) {
	var items []Item
	err := ReadWeCom(bytes.NewReader(wecomFixture(t, "export.ndjson")), "acme", wecomLimits, now, func(it Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line  int
		field string
		ok    bool
	}{{1, "", true}, {3, "", true}, {4, "", false}, {5, "msgtime", false}, {6, "", true}}
	if len(items) != len(want) {
		t.Fatalf("%d items, want %d: %+v", len(items), len(want), items)
	}
	for i, w := range want {
		it := items[i]
		if it.Where != fmt.Sprintf("line %d", w.line) || (it.Err == nil) != w.ok || it.Bytes <= 0 {
			t.Fatalf("item %d: where %q err %v bytes %d, want line %d ok=%v", i, it.Where, it.Err, it.Bytes, w.line, w.ok)
		}
		var e *Error
		if !w.ok && (!errors.As(it.Err, &e) || e.Field != w.field || e.Line != w.line) {
			t.Fatalf("item %d error %v, want field %q on its line", i, it.Err, w.field)
		}
	}
	if m := items[1].Record.Message; m.Type != "file" || m.Text != "报价单.xlsx\n18e93fc2ea884df23b3d2d3b8667b9f0" || m.Tenant != "acme" {
		t.Fatalf("file item %+v", m)
	}
	if m := items[4].Record.Message; m.Action != archive.ActionRecall || m.SourceID != items[1].Record.Message.SourceID {
		t.Fatalf("recall item %+v", m)
	}
}

func TestReadWeComDocument(t *testing.T) {
	var wheres []string
	err := ReadWeCom(bytes.NewReader(wecomFixture(t, "chatdata.json")), "acme", wecomLimits, now, func(it Item) error {
		if it.Err != nil {
			t.Fatalf("%s: %v", it.Where, it.Err)
		}
		wheres = append(wheres, it.Where)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(wheres) != 3 || wheres[0] != "line 5 chatdata[0]" || !strings.HasSuffix(wheres[2], "chatdata[2]") {
		t.Fatalf("items at %q", wheres)
	}

	stop := errors.New("stop")
	err = ReadWeCom(strings.NewReader("[\n\"x\"]"), "acme", wecomLimits, now, func(it Item) error {
		if it.Err == nil || it.Where != "line 2" {
			t.Fatalf("item %+v, want a rejected document on line 2", it)
		}
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("error %v, want fn's error back", err)
	}
}

func FuzzWeComDecode(f *testing.F) {
	for _, name := range []string{"text.json", "mixed.json", "chatrecord.json", "chatdata.json", "switch.json", "vote.json", "export.ndjson"} {
		b, err := os.ReadFile(filepath.Join("testdata", "wecom", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"chatdata":[{"seq":1,"decrypted":"{\"msgid\":\"m\",\"msgtype\":\"mixed\",\"mixed\":{\"item\":[{\"type\":\"mixed\",\"content\":\"{}\"}]}}"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := decodeWeComBody(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(res.Records) != 0 {
				t.Fatalf("error %v (records %d)", err, len(res.Records))
			}
			return
		}
		for _, r := range res.Records {
			m := r.Message
			if m.Platform != "wecom" || !m.Action.Valid() || m.SourceID == "" || m.Raw == "" {
				t.Fatalf("record %+v", m)
			}
			if m.Action == archive.ActionSend && strings.TrimSpace(m.Text) == "" {
				t.Fatalf("send without text: %+v", m)
			}
		}
	})
}

func FuzzReadWeCom(f *testing.F) {
	f.Add([]byte(wecomExportSeed))
	f.Add([]byte("{\n\"chatdata\":[{\"decrypted\":{}}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		err := ReadWeCom(bytes.NewReader(data), "acme", wecomLimits, now, func(it Item) error {
			if (it.Err == nil) == (it.Record.Message.SourceID == "") || it.Where == "" {
				t.Fatalf("item %+v", it)
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatalf("read error %v from an in-memory reader", err)
		}
		if n == 0 {
			t.Fatal("no item for a whole input: even an empty one is reported")
		}
	})
}

const wecomExportSeed = `{"msgid":"m1","action":"send","from":"a","tolist":["b"],"msgtime":1603875600000,"msgtype":"text","text":{"content":"x"}}
{"seq":2,"decrypted":{"msgid":"m2","action":"recall","from":"a","tolist":["b"],"msgtime":1603875600001,"msgtype":"revoke","revoke":{"pre_msgid":"m1"}}}
`
