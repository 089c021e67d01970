package journal

// testdata/email/mailbox.mbox is an mboxrd mailbox as qmail's mbox(5)
// describes it: "From " separator lines (envelope sender and date), a
// blank line before each separator, body lines starting with "From "
// quoted as ">From " (and ">From " as ">>From ").

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readAllMbox(t *testing.T, data []byte) []Item {
	t.Helper()
	var items []Item
	if err := ReadMbox(bytes.NewReader(data), "acme", Limits{MaxFieldBytes: 1 << 20}, emailNow, func(it Item) error {
		items = append(items, it)
		return nil
	}); err != nil {
		t.Fatalf("ReadMbox: %v", err)
	}
	return items
}

func TestReadMbox(t *testing.T) {
	data := readFixture(t, "mailbox.mbox")
	items := readAllMbox(t, data)
	if len(items) != 3 {
		t.Fatalf("%d items, want 3", len(items))
	}
	var total int64
	for i, it := range items {
		if want := "mbox:" + string(rune('1'+i)); it.Where != want {
			t.Errorf("item %d where = %q, want %q", i, it.Where, want)
		}
		total += it.Bytes
	}
	if total != int64(len(data)) {
		t.Errorf("items cover %d bytes, the file has %d", total, len(data))
	}

	first := items[0]
	if first.Err != nil {
		t.Fatalf("item 1: %v", first.Err)
	}
	m := first.Record.Message
	if m.Tenant != "acme" || m.SourceID != "mbox-1@contoso.com" || first.Record.Line != 2 {
		t.Errorf("item 1: tenant %q source %q line %d", m.Tenant, m.SourceID, first.Record.Line)
	}
	want := "first\n\nLine one.\nFrom the desk: this line was quoted by the mbox writer.\n>From here, a line that was already quoted once."
	if m.Text != want {
		t.Errorf("item 1 text = %q, want %q (one '>' removed)", m.Text, want)
	}
	if strings.HasSuffix(m.Raw, "\n\n") {
		t.Error("the blank line before the next separator is part of the separator, not the message")
	}

	second := items[1]
	if second.Err != nil || second.Record.Message.From.ID != "compliance-bot@contoso.com" {
		t.Errorf("item 2 (no From header): err %v from %+v, want the separator's envelope sender", second.Err, second.Record.Message.From)
	}

	var e *Error
	if !errors.As(items[2].Err, &e) || e.Kind != KindEncoding || e.Line != 21 {
		t.Errorf("item 3 err = %#v, want a KindEncoding *Error on line 21 (its first header)", items[2].Err)
	}
}

func TestReadMboxCRLFAndFromInBody(t *testing.T) {
	// A body line "From " not after a blank line is not a separator.
	data := "From a@x Mon Jan 13 08:00:00 2025\r\nFrom: a@x\r\nTo: b@x\r\nMessage-ID: <c1@x>\r\n\r\nhello\r\nFrom the top\r\n\r\n" +
		"From a@x Mon Jan 13 08:01:00 2025\r\nFrom: a@x\r\nTo: b@x\r\nMessage-ID: <c2@x>\r\n\r\nbye\r\n"
	items := readAllMbox(t, []byte(data))
	if len(items) != 2 || items[0].Err != nil || items[1].Err != nil {
		t.Fatalf("items = %+v", items)
	}
	if got := items[0].Record.Message.Text; got != "hello\nFrom the top" {
		t.Errorf("text = %q", got)
	}
}

func TestReadMboxRejectsWhatIsNotAnMbox(t *testing.T) {
	err := ReadMbox(strings.NewReader("\nSubject: hello\n\nbody\n"), "", Limits{}, emailNow, func(Item) error { return nil })
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindSyntax || e.Line != 2 {
		t.Errorf("err = %v, want a KindSyntax *Error on line 2", err)
	}
}

func TestReadMboxStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := ReadMbox(bytes.NewReader(readFixture(t, "mailbox.mbox")), "", Limits{}, emailNow, func(Item) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err %v after %d items, want stop after 1", err, n)
	}
}

func TestMboxScannerSkipsATooLargeMessage(t *testing.T) {
	data := "From a@x Mon Jan 13 08:00:00 2025\nFrom: a@x\n\n" + strings.Repeat("long line ", 50) + "\n\n" +
		"From a@x Mon Jan 13 08:01:00 2025\nFrom: a@x\nMessage-ID: <small@x>\n\nsmall\n"
	sc := &mboxScanner{br: bufio.NewReaderSize(strings.NewReader(data), 16), max: 200}
	big, err := sc.next()
	if err != nil || !big.tooLarge || len(big.data) > 200 {
		t.Fatalf("first: err %v tooLarge %v held %d bytes", err, big.tooLarge, len(big.data))
	}
	small, err := sc.next()
	if err != nil || small.tooLarge || !strings.Contains(string(small.data), "small") || small.line != 7 {
		t.Fatalf("second: err %v %+v", err, small)
	}
	if big.bytes+small.bytes != int64(len(data)) {
		t.Errorf("messages cover %d bytes, input has %d", big.bytes+small.bytes, len(data))
	}
}

func TestReadEMLPathWalksInOrder(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"b.eml": "multipart-reply.eml", "a.eml": "exchange-journal-report.eml",
		"sub/c.EML": "bad-base64.eml", "notes.txt": "gbk-chinese.eml",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, readFixture(t, src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var where []string
	err := ReadEMLPath(dir, "acme", Limits{}, emailNow, func(it Item) error {
		where = append(where, it.Where)
		if strings.HasSuffix(it.Where, "c.EML") != (it.Err != nil) {
			t.Errorf("%s: err %v", it.Where, it.Err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.eml"), filepath.Join(dir, "b.eml"), filepath.Join(dir, "sub", "c.EML")}
	if strings.Join(where, ",") != strings.Join(want, ",") {
		t.Errorf("order %v, want %v", where, want)
	}
	one := filepath.Join(dir, "notes.txt")
	var got []Item
	if err := ReadEMLPath(one, "", Limits{}, emailNow, func(it Item) error { got = append(got, it); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Err != nil || got[0].Where != one {
		t.Errorf("a file named on the command line is read whatever its extension: %+v", got)
	}
}

func FuzzReadMbox(f *testing.F) {
	f.Add(readFixture(f, "mailbox.mbox"))
	f.Add([]byte("From a@x d\n\n>From b\n\nFrom c@x d\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var total int64
		err := ReadMbox(bytes.NewReader(data), "", Limits{MaxFieldBytes: 1 << 16}, emailNow, func(it Item) error {
			total += it.Bytes
			if it.Err != nil {
				var e *Error
				if !errors.As(it.Err, &e) {
					t.Fatalf("item error %v is not an *Error", it.Err)
				}
			}
			return nil
		})
		if err == nil && total > int64(len(data)) {
			t.Fatalf("items cover %d bytes of %d", total, len(data))
		}
	})
}

func TestReadEMLSkipsAnMboxSeparator(t *testing.T) {
	data := "From ops@contoso.com Mon Jan 13 08:00:00 2025\nTo: b@contoso.com\nMessage-ID: <sep-1@x>\nSubject: saved from a mailbox\n\nbody\n"
	var got Item
	if err := ReadEML(strings.NewReader(data), "saved.eml", "", Limits{}, emailNow, func(it Item) error { got = it; return nil }); err != nil {
		t.Fatal(err)
	}
	if got.Err != nil || got.Record.Message.From.ID != "ops@contoso.com" || got.Record.Line != 2 || got.Where != "saved.eml" {
		t.Errorf("item = %+v", got)
	}
}
