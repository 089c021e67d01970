package journal

import (
	"reflect"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// TestEncodeInputRoundTrip: what an importer sends decodes to the record it
// parsed, attachment bytes and non-UTF-8 raw payloads included.
func TestEncodeInputRoundTrip(t *testing.T) {
	m := archive.Message{Platform: "email", Tenant: "acme", SourceID: "<a@b>", Action: archive.ActionSend,
		Conversation: archive.Conversation{ID: "<a@b>", Kind: archive.KindDirect}, From: archive.Participant{ID: "a@b"},
		To: []archive.Participant{{ID: "c@d", External: true}}, SentAt: time.Date(2026, 11, 1, 2, 3, 4, 5, time.UTC),
		Type: "email", Text: "报告 report"}
	m.SetRaw([]byte{0xb1, 0xa8, 0xb8, 0xe6}) // GBK, not UTF-8
	blob := Blob{Tenant: "acme", Data: []byte("file bytes")}
	in := Record{Message: m, Blobs: []Blob{blob}}
	recs, err := DecodeJSON(mustEncode(t, &in, blob), false, Limits{MaxFieldBytes: 1 << 20}, now)
	if err != nil {
		t.Fatal(err)
	}
	got := recs[0]
	raw, _ := got.Message.RawBytes()
	if !reflect.DeepEqual(raw, []byte{0xb1, 0xa8, 0xb8, 0xe6}) || got.Message.Text != m.Text || !got.Message.SentAt.Equal(m.SentAt) ||
		!got.Message.To[0].External || len(got.Blobs) != 1 || string(got.Blobs[0].Data) != "file bytes" {
		t.Fatalf("round trip: %+v", got)
	}
}

func mustEncode(t *testing.T, r *Record, blob Blob) []byte {
	t.Helper()
	dec, err := DecodeJSON([]byte(`{"platform":"x","source_id":"1","conversation":{"id":"c"},"from":{"id":"f"},"sent_at":"2026-01-01T00:00:00Z","attachments":[{"name":"f.txt","data":"ZmlsZSBieXRlcw=="}]}`), false, Limits{MaxFieldBytes: 1 << 20}, now)
	if err != nil {
		t.Fatal(err)
	}
	r.Message.Attachments = dec[0].Message.Attachments
	r.Blobs[0].SHA256 = dec[0].Blobs[0].SHA256
	b, err := EncodeInput(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
