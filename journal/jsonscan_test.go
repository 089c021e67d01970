package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/internal/corpus"
)

// decodeBoth decodes body with the scanner and with encoding/json alone
// and fails t unless both give the same records or the same error.
func decodeBoth(t *testing.T, body []byte, ndjson bool) (scanned int) {
	t.Helper()
	lim := Limits{MaxFieldBytes: 4096}
	scanDisabled = true
	want, wantErr := DecodeJSON(body, ndjson, lim, now)
	scanDisabled = false
	got, gotErr := DecodeJSON(body, ndjson, lim, now)
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("body %q:\nerror with the scanner %+v\nwith encoding/json   %+v", body, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q:\nrecords with the scanner %+v\nwith encoding/json       %+v", body, got, want)
	}
	items, _ := splitBody(body, ndjson)
	for _, it := range items {
		if it.scanned {
			scanned++
		}
	}
	return scanned
}

// scanCases are records the scanner takes and records it must leave to
// encoding/json; each is tried alone, in NDJSON and in an array.
var scanCases = []string{
	good,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C","kind":"group","name":"n"},"from":{"id":"U","name":"A","department":"D","external":true},"to":[],"sent_at":"2026-11-20T10:00:00.123456789Z","type":"text","text":"a\"b\\c\/d\b\f\n\r\t\u00e9\u4e2d\ud83d\ude00 <&> \u2028","raw_encoding":""}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U","external":false},"sent_at":"2026-11-20T10:00:00Z","text":"x","version":0,"action":"send"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","version":3,"action":"edit"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","version":-1,"action":"edit"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","version":1.0,"action":"edit"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","version":1e1,"action":"edit"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","version":99999999999999999999,"action":"edit"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","raw":{"b": 1,  "a":[2, -0.5e+3, true, false, null, "\u00e9"]}}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","raw":"<xml a=\"1\"/>"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","raw":"aGVsbG8=","raw_encoding":"base64"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","raw":null}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","raw":12}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","raw":[1,2}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","attachments":[{"name":"a.txt","data":"aGVsbG8="},{"name":"b","content_type":"application/pdf","size":3,"sha256":"` + strings.Repeat("ab", 32) + `"}]}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","attachments":[{"name":"b","size":-3,"sha256":"` + strings.Repeat("ab", 32) + `"}]}`,
	// Left to encoding/json: repeated keys, other spellings, unknown
	// fields, null, escaped keys, lone surrogates, fields holdfast sets.
	`{"platform":"slack","platform":"zoom","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x"}`,
	`{"Platform":"slack","source_id":"1","conversation":{"ID":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C","id":"D"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"to":[{"id":"A"}],"to":[{"name":"B"}],"sent_at":"2026-11-20T10:00:00Z","text":"x"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","color":"red"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C","topic":"t"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":null}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"to":null,"sent_at":"2026-11-20T10:00:00Z","text":"x"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"to":[null],"sent_at":"2026-11-20T10:00:00Z","text":"x"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","te\u0078t":"x"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"\ud800 lone \udc00"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"\ud83d\u0041"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","id":"abc"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x","policy":"p","sha256":"s"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U","external":"yes"},"sent_at":"2026-11-20T10:00:00Z","text":"x"}`,
	`{"platform":"slack","source_id":1,"conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"bad \x escape"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"tab	raw"}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x"} {"a":1}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x",}`,
	`{"platform":"slack","source_id":"1","conversation":{"id":"C"},"from":{"id":"U"},"sent_at":"2026-11-20T10:00:00Z","text":"x"`,
	"\u00a0" + good,
	`{}`, `[]`, `"string"`, `{"platform":`, ``,
}

func TestScanMatchesDecoder(t *testing.T) {
	var scanned int
	for _, c := range scanCases {
		scanned += decodeBoth(t, []byte(c), false)
		scanned += decodeBoth(t, []byte(c+"\n"+good+"\r\n"), true)
		scanned += decodeBoth(t, []byte("[\n"+good+",\n  "+c+"\n]"), false)
		scanned += decodeBoth(t, []byte(" [ "+c+" , "+good+" ] "), false)
	}
	if scanned == 0 {
		t.Fatal("the scanner took no record")
	}
}

// TestScanCorpus decodes real messages (Chinese among them) encoded as
// senders do, in NDJSON and in arrays: the scanner takes every one and
// gives what encoding/json gives.
func TestScanCorpus(t *testing.T) {
	dir, err := corpus.Dir()
	if errors.Is(err, corpus.ErrNoData) {
		t.Skip("no conversation data (../shared/data): ", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := corpus.Mixed(dir, 4000)
	if err != nil {
		t.Fatal(err)
	}
	for start := 0; start < len(msgs); start += 250 {
		var nd bytes.Buffer
		enc := json.NewEncoder(&nd)
		var arr []corpus.Message
		for _, m := range msgs[start:min(start+250, len(msgs))] {
			if err := enc.Encode(m); err != nil {
				t.Fatal(err)
			}
			arr = append(arr, m)
		}
		n := len(arr)
		if got := decodeBoth(t, nd.Bytes(), true); got != n {
			t.Fatalf("scanner took %d of %d NDJSON records", got, n)
		}
		body, _ := json.MarshalIndent(arr, "", "  ")
		if got := decodeBoth(t, body, false); got != n {
			t.Fatalf("scanner took %d of %d array records", got, n)
		}
	}
}

// FuzzScanMatchesDecoder: whatever the bytes, the scanner and
// encoding/json agree.
func FuzzScanMatchesDecoder(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c), false)
	}
	f.Add([]byte("["+good+","+good+"]"), false)
	f.Add([]byte(good+"\n"+good), true)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		decodeBoth(t, body, ndjson)
	})
}

func BenchmarkDecodeJSON(b *testing.B) {
	dir, err := corpus.Dir()
	if err != nil {
		b.Skip(err)
	}
	msgs, err := corpus.Mixed(dir, 250)
	if err != nil {
		b.Fatal(err)
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, m := range msgs {
		_ = enc.Encode(m)
	}
	for _, mode := range []struct {
		name     string
		disabled bool
	}{{"scanner", false}, {"encoding-json", true}} {
		b.Run(mode.name, func(b *testing.B) {
			scanDisabled = mode.disabled
			defer func() { scanDisabled = false }()
			b.ReportAllocs()
			b.SetBytes(int64(body.Len()))
			for b.Loop() {
				if _, err := DecodeJSON(body.Bytes(), true, Limits{MaxFieldBytes: 1 << 20}, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestNamePatternIsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	cases := []string{"", "a", "A", "slack", "wecom", "ms-teams", "a.b_c-d", "_a", ".a", "-a", "9", "a b", "a\n", "\na",
		"é", "aé", "中文", strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("a", 63) + "_", "a/b", "a:b", "a\x00"}
	for b := 0; b < 256; b++ {
		cases = append(cases, string([]byte{byte(b)}), "a"+string([]byte{byte(b)}), string([]byte{byte(b)})+"a")
	}
	for _, c := range cases {
		if got, want := namePattern.MatchString(c), re.MatchString(c); got != want {
			t.Errorf("namePattern.MatchString(%q) = %v, the regexp says %v", c, got, want)
		}
	}
}
