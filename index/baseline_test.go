package index

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/holdfast/holdfast/archive"
)

func TestRawBleveRate(t *testing.T) {
	var msgs []archive.Message
	for i := range 25 {
		msgs = append(msgs, msg(fmt.Sprintf("r%d", i), generatedText(i), day0.Add(time.Duration(i)*time.Hour)))
	}
	dir := filepath.Join(t.TempDir(), "raw")
	rate, err := RawBleveRate(dir, msgs, 10)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("rate %v docs/s, want > 0", rate)
	}

	// Every message is there, analysed as an Index analyses it: a Chinese
	// word is found inside a sentence.
	idx, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if n, err := idx.DocCount(); err != nil || n != uint64(len(msgs)) {
		t.Errorf("doc count %d (%v), want %d", n, err, len(msgs))
	}
	q := bleve.NewMatchPhraseQuery("奥斯卡")
	q.SetField(fieldText)
	res, err := idx.Search(bleve.NewSearchRequest(q))
	if err != nil {
		t.Fatal(err)
	}
	// generatedText uses the Oscar sentence for i/3 % 3 == 2: 6 to 8, 15 to 17, 24.
	if res.Total != 7 {
		t.Errorf("奥斯卡 found %d times, want 7", res.Total)
	}

	if _, err := RawBleveRate(dir, msgs, 10); err == nil {
		t.Error("indexing into an existing index: no error")
	}
	if _, err := RawBleveRate(filepath.Join(t.TempDir(), "none"), nil, 10); err == nil {
		t.Error("no messages: no error")
	}
}
