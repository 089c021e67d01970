package index

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
)

func testLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

func mustOpen(t testing.TB, dir string) *Index {
	t.Helper()
	ix, err := Open(Config{Dir: dir}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func mustCodec(t testing.TB) *archive.Codec {
	t.Helper()
	c, err := archive.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// day0 is the base time of test messages.
var day0 = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// msg is a test message: platform slack, tenant acme, from alice to bob in
// conversation c1, unless the options say otherwise.
func msg(src, text string, sent time.Time, opts ...func(*archive.Message)) archive.Message {
	m := archive.Message{
		Action: archive.ActionSend, Platform: "slack", Tenant: "acme", SourceID: src,
		Conversation: archive.Conversation{ID: "c1", Kind: archive.KindGroup, Name: "desk"},
		From:         archive.Participant{ID: "alice", Name: "Alice", Department: "rates"},
		To:           []archive.Participant{{ID: "bob", Name: "Bob", Department: "fx"}},
		SentAt:       sent, ReceivedAt: sent.Add(time.Second), Type: "text", Text: text,
		RetainUntil: sent.AddDate(7, 0, 0), Policy: "default",
	}
	for _, o := range opts {
		o(&m)
	}
	m.SetRaw([]byte(fmt.Sprintf(`{"src":%q}`, src)))
	m.Seal()
	return m
}

func platform(p string) func(*archive.Message) {
	return func(m *archive.Message) { m.Platform = p }
}

func tenant(t string) func(*archive.Message) {
	return func(m *archive.Message) { m.Tenant = t }
}

func conversation(id string) func(*archive.Message) {
	return func(m *archive.Message) { m.Conversation.ID = id }
}

func from(id string) func(*archive.Message) {
	return func(m *archive.Message) { m.From = archive.Participant{ID: id, Name: id} }
}

func to(ids ...string) func(*archive.Message) {
	return func(m *archive.Message) {
		m.To = nil
		for _, id := range ids {
			m.To = append(m.To, archive.Participant{ID: id})
		}
	}
}

// version makes m version v with action a.
func version(v int, a archive.Action) func(*archive.Message) {
	return func(m *archive.Message) { m.Version, m.Action = v, a }
}

func attach(name string) func(*archive.Message) {
	return func(m *archive.Message) {
		m.Attachments = append(m.Attachments, archive.Attachment{Name: name, Size: 1, SHA256: "00"})
	}
}

var segN atomic.Int64

// segment encodes msgs as one segment object.
func segment(t testing.TB, c *archive.Codec, msgs ...archive.Message) (archive.Segment, []byte) {
	t.Helper()
	w := c.NewWriter(msgs[0].Tenant, 8<<10)
	minT, maxT := msgs[0].SentAt, msgs[0].SentAt
	for _, m := range msgs {
		line, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		w.Add(m.ID, m.Version, m.SHA256, m.RetainUntil, line)
		if m.SentAt.Before(minT) {
			minT = m.SentAt
		}
		if m.SentAt.After(maxT) {
			maxT = m.SentAt
		}
	}
	s, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("segments/%s/test-%06d.ndjson.zst", msgs[0].Tenant, segN.Add(1))
	return archive.Segment{
		Key: key, Tenant: msgs[0].Tenant, SHA256: s.SHA256, Size: int64(len(s.Data)),
		Count: len(msgs), RetainUntil: s.Manifest.RetainUntil, MinSentAt: minT, MaxSentAt: maxT,
		ManifestOffset: s.ManifestOffset, ManifestLength: s.ManifestLength,
	}, s.Data
}

// mustIndex indexes msgs as one segment with catalog sequence seq.
func mustIndex(t testing.TB, ix *Index, c *archive.Codec, seq uint64, msgs ...archive.Message) archive.Segment {
	t.Helper()
	seg, data := segment(t, c, msgs...)
	if err := ix.IndexSegment(seq, seg, data); err != nil {
		t.Fatal(err)
	}
	return seg
}

func mustSearch(t testing.TB, ix *Index, r Request) Result {
	t.Helper()
	res, err := ix.Search(context.Background(), r)
	if err != nil {
		t.Fatalf("search %+v: %v", r, err)
	}
	return res
}

// texts returns the sorted texts of res's hits.
func texts(res Result) []string {
	out := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = h.Text
	}
	slices.Sort(out)
	return out
}

// wantTexts checks that query q (latest versions) finds exactly want.
func wantTexts(t *testing.T, ix *Index, r Request, want ...string) {
	t.Helper()
	res := mustSearch(t, ix, r)
	got := texts(res)
	slices.Sort(want)
	if !slices.Equal(got, want) || res.Total != uint64(len(want)) {
		t.Errorf("search %+v: got %d %q, want %q", r, res.Total, got, want)
	}
}
