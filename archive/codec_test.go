package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func mustCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testMessage(i int) Message {
	m := Message{
		Version: 0, Action: ActionSend, Platform: "generic", Tenant: "acme",
		SourceID:     fmt.Sprintf("src-%d", i),
		Conversation: Conversation{ID: "c1", Kind: KindGroup},
		From:         Participant{ID: "alice", Department: "rates"},
		To:           []Participant{{ID: "bob"}},
		SentAt:       time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		ReceivedAt:   time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Type:         "text", Text: fmt.Sprintf("message %d 你好", i),
		RetainUntil: time.Date(2033, 1, 2, 0, 0, 0, 0, time.UTC),
	}
	m.SetRaw([]byte(fmt.Sprintf(`{"n":%d}`, i)))
	m.Seal()
	return m
}

func buildSegment(t testing.TB, c *Codec, n, frameBytes int) (Sealed, []Message) {
	t.Helper()
	w := c.NewWriter("acme", frameBytes)
	var msgs []Message
	for i := 0; i < n; i++ {
		m := testMessage(i)
		line, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		w.Add(m.ID, m.Version, m.SHA256, m.RetainUntil, line)
		msgs = append(msgs, m)
	}
	s, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return s, msgs
}

func TestSegmentRoundTrip(t *testing.T) {
	c := mustCodec(t)
	s, msgs := buildSegment(t, c, 500, 4<<10)
	if len(s.Manifest.Records) != len(msgs) {
		t.Fatalf("manifest has %d records, want %d", len(s.Manifest.Records), len(msgs))
	}
	if err := VerifyObject(s.Data, s.SHA256); err != nil {
		t.Fatal(err)
	}
	man, err := SegmentManifest(s.Data)
	if err != nil {
		t.Fatal(err)
	}
	frames := map[int64]bool{}
	for i, e := range man.Records {
		frames[e.FrameOffset] = true
		// A single record is one ranged read of its frame away.
		m, _, err := c.Record(s.Data[e.FrameOffset:e.FrameOffset+e.FrameLength], e)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if m.Text != msgs[i].Text || m.SHA256 != msgs[i].SHA256 {
			t.Fatalf("record %d = %q, want %q", i, m.Text, msgs[i].Text)
		}
	}
	if len(frames) < 2 {
		t.Fatalf("expected several independent frames, got %d", len(frames))
	}
	var n int
	if err := c.Scan(s.Data, func(m Message, _ []byte, _ ManifestEntry) error {
		if m.ID != msgs[n].ID {
			t.Fatalf("scan order: got %s want %s", m.ID, msgs[n].ID)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(msgs) {
		t.Fatalf("scanned %d, want %d", n, len(msgs))
	}
	if !man.RetainUntil.Equal(msgs[0].RetainUntil) {
		t.Fatalf("manifest retain_until %v", man.RetainUntil)
	}
}

// The manifest is compressed (format 2), and segments written with the
// manifest as plain JSON (format 1) still read.
func TestSegmentManifestFormats(t *testing.T) {
	c := mustCodec(t)
	s, msgs := buildSegment(t, c, 2000, 64<<10)
	plain, err := json.Marshal(s.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if s.ManifestLength*3 > int64(len(plain)) {
		t.Fatalf("manifest frame is %d bytes for %d bytes of JSON: not compressed", s.ManifestLength, len(plain))
	}
	old := s.Manifest
	old.Format = 1
	oldJSON, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var frame bytes.Buffer
	writeSkippable(&frame, manifestMagic, oldJSON)
	man, err := ParseManifest(frame.Bytes())
	if err != nil {
		t.Fatalf("format 1 manifest: %v", err)
	}
	if len(man.Records) != len(msgs) || man.Records[7] != s.Manifest.Records[7] {
		t.Fatalf("format 1 manifest read as %d records", len(man.Records))
	}
	// A plain manifest claiming format 2, or a compressed one claiming 1,
	// is refused.
	frame.Reset()
	writeSkippable(&frame, manifestMagic, plain)
	if _, err := ParseManifest(frame.Bytes()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("plain manifest marked format 2: %v, want ErrCorrupt", err)
	}
}

func TestSegmentDetectsCorruption(t *testing.T) {
	c := mustCodec(t)
	s, _ := buildSegment(t, c, 50, 1<<10)
	bad := append([]byte(nil), s.Data...)
	e := s.Manifest.Records[0]
	bad[e.FrameOffset+e.FrameLength/2] ^= 0xff
	if err := VerifyObject(bad, s.SHA256); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("VerifyObject = %v, want ErrCorrupt", err)
	}
	if err := c.Scan(bad, func(Message, []byte, ManifestEntry) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Scan = %v, want ErrCorrupt", err)
	}
	if _, err := SegmentManifest(bad[:len(bad)-3]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated manifest = %v, want ErrCorrupt", err)
	}
}

func TestMessageHashCoversContent(t *testing.T) {
	m := testMessage(1)
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
	m.Text = "changed"
	if err := m.Verify(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify after edit = %v, want ErrCorrupt", err)
	}
	// Retention is policy, not content: extending it keeps the hash valid.
	m = testMessage(1)
	m.RetainUntil = m.RetainUntil.AddDate(10, 0, 0)
	if err := m.Verify(); err != nil {
		t.Fatalf("retention change broke hash: %v", err)
	}
}

func TestRawRoundTrip(t *testing.T) {
	for _, payload := range [][]byte{[]byte(`{"a": 1}`), {0xff, 0xfe, 'G', 'B', 'K'}} {
		var m Message
		m.SetRaw(payload)
		got, err := m.RawBytes()
		if err != nil || string(got) != string(payload) {
			t.Fatalf("raw %q -> %q, %v", payload, got, err)
		}
	}
}

func TestMessageIDStable(t *testing.T) {
	a := MessageID("acme", "slack", "1.2")
	if a != MessageID("acme", "slack", "1.2") || a == MessageID("acme", "slack", "1.3") || a == MessageID("acme", "slac", "k1.2") {
		t.Fatal("message id not stable or collides")
	}
}

type days int

func (d days) AddTo(t time.Time) time.Time { return t.AddDate(0, 0, int(d)) }

func TestRetainUntilFloor(t *testing.T) {
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	sent := now.AddDate(-10, 0, 0)
	got := RetainUntil(sent, days(365), 24*time.Hour, now)
	if !got.Equal(now.Add(24 * time.Hour)) {
		t.Fatalf("back-filled record retained until %v, want floor %v", got, now.Add(24*time.Hour))
	}
	got = RetainUntil(now, days(10), time.Hour, now)
	if !got.Equal(now.AddDate(0, 0, 10)) {
		t.Fatalf("retain until %v", got)
	}
}

func TestLineIsMarshal(t *testing.T) {
	for i := 0; i < 3; i++ {
		m := testMessage(i)
		if i == 1 {
			m.Policy = ""
			m.Seal()
		}
		line, err := m.Line()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(m)
		if string(line) != string(want) {
			t.Fatalf("Line()\n%s\nwant\n%s", line, want)
		}
		fresh := m
		fresh.canonical = nil
		if l2, _ := fresh.Line(); string(l2) != string(want) {
			t.Fatal("Line without Seal differs")
		}
	}
}
