package archive

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/holdfast/holdfast/internal/corpus"
)

// checkCanonical fails t unless the direct encoder writes exactly what
// encoding/json writes for m: the canonical form and the whole line.
func checkCanonical(t *testing.T, m Message) {
	t.Helper()
	got, ok := m.appendCanonical(nil)
	if !ok {
		t.Fatalf("appendCanonical refused %+v", m)
	}
	if want := m.reflectCanonical(); string(got) != string(want) {
		t.Fatalf("canonical form differs from json.Marshal\n got %s\nwant %s", got, want)
	}
	line, err := m.Line()
	if err != nil {
		t.Fatal(err)
	}
	// Line is json.Marshal(m) for a message whose content times are UTC,
	// as they are after Seal.
	u := m
	u.SentAt, u.ReceivedAt = m.SentAt.UTC(), m.ReceivedAt.UTC()
	if want, _ := json.Marshal(u); string(line) != string(want) {
		t.Fatalf("Line differs from json.Marshal\n got %s\nwant %s", line, want)
	}
}

// corpusMessage is what the gateway makes of a corpus record: the record's
// JSON line kept as the raw payload, received and retained at fixed times.
func corpusMessage(t testing.TB, c corpus.Message, i int) Message {
	t.Helper()
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	m := Message{
		Version: i % 3, Action: ActionSend, Platform: c.Platform, Tenant: "default", SourceID: c.SourceID,
		Conversation: Conversation{ID: c.Conversation.ID, Kind: c.Conversation.Kind, Name: c.Conversation.Name},
		From:         Participant{ID: c.From.ID, Name: c.From.Name},
		SentAt:       c.SentAt, ReceivedAt: c.SentAt.Add(time.Duration(i) * 1234567 * time.Nanosecond),
		Type: c.Type, Text: c.Text,
		RetainUntil: c.SentAt.AddDate(7, 0, 0), Policy: []string{"", "default", "chat-7y"}[i%3],
	}
	for _, p := range c.To {
		m.To = append(m.To, Participant{ID: p.ID, Name: p.Name})
	}
	m.SetRaw(raw)
	return m
}

func TestCanonicalCorpus(t *testing.T) {
	dir, err := corpus.Dir()
	if errors.Is(err, corpus.ErrNoData) {
		t.Skip("no conversation data (../shared/data): ", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	msgs, err := corpus.Mixed(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	var cjk, sealed int
	for i, c := range msgs {
		m := corpusMessage(t, c, i)
		if strings.ContainsFunc(m.Text, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
			cjk++
		}
		checkCanonical(t, m)
		if i%2 == 0 {
			m.Seal()
			sealed++
			if m.Hash() != m.SHA256 {
				t.Fatal("Hash differs from the hash Seal recorded")
			}
			checkCanonical(t, m)
		}
	}
	if cjk == 0 {
		t.Fatalf("no Chinese text among %d corpus messages", len(msgs))
	}
	t.Logf("%d corpus messages (%d with CJK text, %d sealed) encode as json.Marshal does", len(msgs), cjk, sealed)
}

// edgeMessage holds every field, with s in each string.
func edgeMessage(s string) Message {
	return Message{
		ID: s, Version: -7, Action: Action(s), Platform: s, Tenant: s, SourceID: s,
		Conversation: Conversation{ID: s, Kind: s, Name: s},
		From:         Participant{ID: s, Name: s, Department: s, External: true},
		To:           []Participant{{ID: s}, {ID: "b", Name: s, External: true}, {ID: s, Department: s}},
		SentAt:       time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		ReceivedAt:   time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.FixedZone("CST", 8*3600)),
		Type:         s, Text: s,
		Attachments: []Attachment{{Name: s, ContentType: s, Size: 1 << 40, SHA256: s}, {Name: s, Size: 0}},
		Raw:         s, RawEncoding: s, SHA256: s, Policy: s,
		RetainUntil: time.Date(2033, 1, 2, 0, 0, 0, 1, time.FixedZone("", -(3*3600+30*60))),
	}
}

func TestCanonicalEdgeCases(t *testing.T) {
	var all strings.Builder
	for b := 0; b < utf8.RuneSelf; b++ {
		all.WriteByte(byte(b))
	}
	strs := []string{
		"", "plain", `<script>alert("x&y")</script>`, "a\u2028b\u2029c", "\u2027\u202a",
		"tab\tnl\nret\rbs\bff\f\x00\x01\x1f\x7f", `back\slash "quoted"`, all.String(),
		"中文消息，带标点。", "emoji 😀 and 𝄞", "\xff\xfe invalid \xc3", "\xe2\x80", "\xed\xa0\x80",
		strings.Repeat("长", 1000), "\ufffd", "\u00e9\u0301", "\u2028", "x\u2029", "\u2029y", "\xe2\x80\xa8",
		"\xff\u2028<", "\u2028\xff", "\xe2\x80", "a\xe2", "\xe2\x81\xa8",
	}
	for _, s := range strs {
		checkCanonical(t, edgeMessage(s))
	}
	// Empty and nil slices, zero times, absent optional fields.
	checkCanonical(t, Message{})
	checkCanonical(t, Message{To: []Participant{}, Attachments: []Attachment{}})
	checkCanonical(t, Message{SentAt: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), ReceivedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)})
	m := edgeMessage("x")
	m.Seal()
	checkCanonical(t, m)
}

func TestCanonicalRefusesWhatJSONRefuses(t *testing.T) {
	m := edgeMessage("x")
	m.SentAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := m.appendCanonical(nil); ok {
		t.Fatal("year 10000 encoded; encoding/json refuses it")
	}
	m = edgeMessage("x")
	m.ReceivedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := m.appendCanonical(nil); ok {
		t.Fatal("year -1 encoded; encoding/json refuses it")
	}
	m = edgeMessage("x")
	m.RetainUntil = time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))
	if _, err := json.Marshal(m); err == nil {
		t.Skip("encoding/json accepts a 24h zone offset here")
	}
	if _, err := m.Line(); err == nil {
		t.Fatal("Line encoded a zone offset encoding/json refuses")
	}
}

// TestCanonicalHashPinned pins the canonical form itself: a change to the
// encoder and to encoding/json alike would otherwise go unnoticed, and
// every stored segment would fail verification.
func TestCanonicalHashPinned(t *testing.T) {
	m := edgeMessage("<a&b>\u2028\"中\"\n")
	m.SentAt = time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	if got, want := m.Hash(), "6e7b05b8496b89b7cf4e14d478e2672f9764a158798a678e8f4949eb06687aa6"; got != want {
		t.Fatalf("canonical hash %s, pinned %s", got, want)
	}
	if got, want := MessageID("acme", "wecom", "msg-1"), "ac2826cec6c837555704847667048a48"; got != want {
		t.Fatalf("message id %s, pinned %s", got, want)
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add("plain", "中文", "<&>", int64(0), int64(1))
	f.Add("\u2028", "\xff", "\x00\x1f\x7f", int64(-1), int64(1<<62))
	f.Fuzz(func(t *testing.T, a, b, c string, n1, n2 int64) {
		m := Message{
			ID: a, Version: int(n1), Action: Action(b), Platform: c, Tenant: a, SourceID: b,
			Conversation: Conversation{ID: c, Kind: a},
			From:         Participant{ID: b, Name: c, External: n1%2 == 0},
			SentAt:       time.Unix(0, n2).UTC(), ReceivedAt: time.Unix(n1%(1<<40), n2%1e9),
			Type: a, Text: b, Raw: c, RawEncoding: a,
			RetainUntil: time.Unix(n2%(1<<40), 0).In(time.FixedZone("", int(n1%(14*3600)))),
			SHA256:      b, Policy: c,
		}
		if n1%3 == 0 {
			m.To = []Participant{{ID: c, Department: a}}
			m.Attachments = []Attachment{{Name: b, ContentType: c, Size: n2, SHA256: a}}
		}
		want, jerr := json.Marshal(hashed{
			ID: m.ID, Version: m.Version, Action: m.Action, Platform: m.Platform, Tenant: m.Tenant,
			SourceID: m.SourceID, Conversation: m.Conversation, From: m.From, To: m.To,
			SentAt: m.SentAt.UTC(), ReceivedAt: m.ReceivedAt.UTC(), Type: m.Type, Text: m.Text,
			Attachments: m.Attachments, Raw: m.Raw, RawEncoding: m.RawEncoding,
		})
		got, ok := m.appendCanonical(nil)
		if ok != (jerr == nil) {
			t.Fatalf("appendCanonical ok=%v, json.Marshal error %v", ok, jerr)
		}
		if ok && string(got) != string(want) {
			t.Fatalf("canonical form differs\n got %s\nwant %s", got, want)
		}
		if !ok {
			return
		}
		u := m
		u.SentAt, u.ReceivedAt = m.SentAt.UTC(), m.ReceivedAt.UTC()
		wantLine, lerr := json.Marshal(u)
		line, err := m.Line()
		if (err == nil) != (lerr == nil) {
			t.Fatalf("Line error %v, json.Marshal error %v", err, lerr)
		}
		if err == nil && string(line) != string(wantLine) {
			t.Fatalf("Line differs\n got %s\nwant %s", line, wantLine)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	m := testMessage(1)
	m.SetRaw([]byte(fmt.Sprintf(`{"platform":"slack","source_id":"s-%d","conversation":{"id":"c"},"from":{"id":"u"},"text":"你好 <b>%d</b>"}`, 1, 1)))
	b.ReportAllocs()
	for b.Loop() {
		m.Seal()
		if _, err := m.Line(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonical(b *testing.B) {
	dir, err := corpus.Dir()
	if err != nil {
		b.Skip(err)
	}
	cs, err := corpus.Mixed(dir, 1000)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]Message, len(cs))
	var n int64
	for i, c := range cs {
		msgs[i] = corpusMessage(b, c, i)
		n += int64(len(msgs[i].reflectCanonical()))
	}
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			for i := range msgs {
				msgs[i].canonicalJSON()
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			for i := range msgs {
				msgs[i].reflectCanonical()
			}
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(n)
		cs := make([][]byte, len(msgs))
		for i := range msgs {
			cs[i] = msgs[i].canonicalJSON()
		}
		for b.Loop() {
			for _, c := range cs {
				sha256.Sum256(c)
			}
		}
	})
}
