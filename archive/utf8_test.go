package archive

import (
	"testing"
)

// TestSealedRecordRoundTripsWhateverItsBytes is the defence behind the
// ingest edges (Found 1): a record sealed with strings that are not UTF-8
// is hashed as a reader will decode it, so it verifies once stored, and a
// raw text payload that is not UTF-8 keeps its exact bytes (as base64).
func TestSealedRecordRoundTripsWhateverItsBytes(t *testing.T) {
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := testMessage(1)
	shared := []Participant{{ID: "b\xff"}}
	m.Text, m.From.Name, m.To, m.Conversation.Name, m.SourceID = "read \xff\xfe", "\xc3", shared, "\xed\xa0\x80", "id-\xe2\x80"
	m.Attachments = []Attachment{{Name: "a\xfe.pdf", Size: 1, SHA256: "x"}}
	rawBytes := []byte("{\"q\":\"\xff\xfe\"}")
	m.Raw, m.RawEncoding = string(rawBytes), RawText
	if f := m.InvalidUTF8(); f != "source_id" {
		t.Fatalf("InvalidUTF8 names %q, want source_id", f)
	}
	m.Seal()
	if f := m.InvalidUTF8(); f != "" {
		t.Fatalf("sealed record still has invalid UTF-8 in %s", f)
	}
	if shared[0].ID != "b\xff" {
		t.Fatal("Seal changed the caller's recipients")
	}
	line, err := m.Line()
	if err != nil {
		t.Fatal(err)
	}
	w := c.NewWriter("acme", 0)
	w.Add(m.ID, m.Version, m.SHA256, m.RetainUntil, line)
	s, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.Scan(s.Data, func(got Message, l []byte, _ ManifestEntry) error {
		n++
		if string(l) != string(line) {
			t.Fatal("stored line differs")
		}
		if b, err := got.RawBytes(); err != nil || string(b) != string(rawBytes) {
			t.Fatalf("raw %q (%v), want the exact bytes", b, err)
		}
		return nil
	}); err != nil {
		t.Fatalf("a sealed record fails verification once stored: %v", err)
	}
	if n != 1 {
		t.Fatalf("%d records", n)
	}
}
