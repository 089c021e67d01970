package journal

// The fixtures under testdata/email follow the documented shapes:
//   - exchange-journal-report.eml: Microsoft's "Journal report format"
//     (technet bb738122, Exchange 2007 and later) and [MS-XJRNL] 2.1
//     Envelope-Part: the X-MS-Journal-Report header, a text/plain part with
//     Sender/Subject/Message-Id and To/Cc/Bcc/Recipient lines (with the
//     ", Expanded:" and ", Forwarded:" forms), the original message as a
//     message/rfc822 part; outer From as Exchange Online sends it.
//   - multipart-reply.eml: RFC 2046 (mixed, alternative), RFC 2387
//     (related, Content-ID), RFC 2231 (filename*=UTF-8''...), RFC 5322
//     threading (In-Reply-To, References).
//   - gbk-chinese.eml: the shape Chinese clients (Foxmail) send: GB2312/GBK
//     RFC 2047 encoded words in headers and file names, a base64 GBK body.
//   - html-only-no-id.eml: text/html only, ISO-8859-1 quoted-printable, no
//     Message-ID, an unreadable Date.
//   - mailbox.mbox: mboxrd (">From " quoting), as qmail's mbox(5) describes.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/holdfast/holdfast/archive"
)

var emailNow = time.Date(2025, 1, 20, 12, 0, 0, 0, time.UTC)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "email", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParseEmail(t *testing.T, raw []byte, opts EmailOptions) Record {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = emailNow
	}
	rec, err := ParseEmail(raw, opts)
	if err != nil {
		t.Fatalf("ParseEmail: %v", err)
	}
	return rec
}

func recipientIDs(m archive.Message) map[string]archive.Participant {
	out := map[string]archive.Participant{}
	for _, p := range m.To {
		out[p.ID] = p
	}
	return out
}

func TestEmailJournalReportIsTheOriginalMessage(t *testing.T) {
	raw := readFixture(t, "exchange-journal-report.eml")
	rec := mustParseEmail(t, raw, EmailOptions{
		Tenant: "acme", EnvelopeTo: []string{"journal@archive.contoso.com"}, Domains: []string{"contoso.com"},
	})
	m := rec.Message
	if m.Platform != "email" || m.Type != "email" || m.Action != archive.ActionSend {
		t.Errorf("platform/type/action = %s/%s/%s", m.Platform, m.Type, m.Action)
	}
	if m.From.ID != "alice.chen@contoso.com" || m.From.Name != "Alice Chen" || m.From.External {
		t.Errorf("from = %+v, want Alice Chen, internal", m.From)
	}
	// The report's envelope adds recipients (a Bcc, list members, a
	// forward): the id says which report this is.
	const messageID = "SN6PR04MB4001A1B2C3D4E5F6@SN6PR04MB4001.namprd04.prod.outlook.com"
	if !strings.HasPrefix(m.SourceID, messageID+"#journal-") {
		t.Errorf("source id = %q, want the original's Message-ID and the report's recipients hash", m.SourceID)
	}
	if !m.SentAt.Equal(time.Date(2025, 1, 14, 9, 30, 5, 0, time.UTC)) {
		t.Errorf("sent at = %v, want the original's Date", m.SentAt)
	}
	if !strings.HasPrefix(m.Text, "Q4 allocation - final numbers\n\nBob,\n\nAttached are the final Q4 allocation numbers. Please confirm before the market opens.") {
		t.Errorf("text = %q", m.Text)
	}
	to := recipientIDs(m)
	// Header recipients, and the report's envelope: the Bcc only it knows,
	// the members the list was expanded to, the forwarding target.
	for _, id := range []string{"bob.smith@contoso.com", "trading-desk@contoso.com", "carol@fabrikam.com",
		"dave@contoso.com", "erin@contoso.com", "compliance.officer@contoso.com", "frank@contoso.com"} {
		if _, ok := to[id]; !ok {
			t.Errorf("recipient %s missing from %v", id, m.To)
		}
	}
	if len(m.To) != 7 {
		t.Errorf("%d recipients, want 7 (each once): %v", len(m.To), m.To)
	}
	if _, ok := to["journal@archive.contoso.com"]; ok {
		t.Error("the journal mailbox (the report's RCPT TO) is not a recipient of the message")
	}
	if !to["carol@fabrikam.com"].External || to["bob.smith@contoso.com"].External {
		t.Errorf("external marks wrong: carol %+v bob %+v", to["carol@fabrikam.com"], to["bob.smith@contoso.com"])
	}
	if m.Conversation.Kind != archive.KindGroup || m.Conversation.ID != messageID {
		t.Errorf("conversation = %+v, want group rooted at the message's Message-ID", m.Conversation)
	}
	if len(m.Attachments) != 1 || len(rec.Blobs) != 1 {
		t.Fatalf("attachments %v, blobs %d: want the PDF once", m.Attachments, len(rec.Blobs))
	}
	a, b := m.Attachments[0], rec.Blobs[0]
	sum := sha256.Sum256(b.Data)
	if a.Name != "Q4-allocation.pdf" || a.ContentType != "application/pdf" || a.SHA256 != hex.EncodeToString(sum[:]) ||
		a.Size != int64(len(b.Data)) || !bytes.HasPrefix(b.Data, []byte("%PDF-1.4")) || b.Tenant != "acme" {
		t.Errorf("attachment %+v, blob tenant %q, data %q", a, b.Tenant, b.Data)
	}
	// Raw is the journaled message, not the report around it.
	if strings.Contains(m.Raw, "X-MS-Journal-Report") || !strings.Contains(m.Raw, "Message-ID: <SN6PR04MB4001A1B2C3D4E5F6@") {
		t.Errorf("raw is not the original message: %.200q", m.Raw)
	}
	if id := archive.MessageID("acme", "email", m.SourceID); id == "" {
		t.Error("no archive id")
	}
}

func TestEmailReplyThreadsWithTheOriginal(t *testing.T) {
	orig := mustParseEmail(t, readFixture(t, "exchange-journal-report.eml"), EmailOptions{})
	rec := mustParseEmail(t, readFixture(t, "multipart-reply.eml"), EmailOptions{})
	m := rec.Message
	if m.Conversation.ID != orig.Message.Conversation.ID {
		t.Errorf("reply conversation %q, want the original's %q", m.Conversation.ID, orig.Message.Conversation.ID)
	}
	if m.Conversation.Name != "Q4 allocation - final numbers" || m.Conversation.Kind != archive.KindDirect {
		t.Errorf("conversation = %+v, want the subject without RE:, direct", m.Conversation)
	}
	want := "RE: Q4 allocation - final numbers\n\nConfirmed — the numbers match our book. Signed term sheet attached."
	if m.Text != want {
		t.Errorf("text = %q, want %q (plain text chosen, HTML not repeated)", m.Text, want)
	}
	var names []string
	for _, a := range m.Attachments {
		names = append(names, a.Name+"|"+a.ContentType)
	}
	if strings.Join(names, ",") != "logo.png|image/png,Term sheet – signed.pdf|application/pdf" {
		t.Errorf("attachments = %v", names)
	}
	if len(rec.Blobs) != 2 {
		t.Errorf("%d blobs, want 2", len(rec.Blobs))
	}
}

func TestEmailGBKChineseIsIntact(t *testing.T) {
	rec := mustParseEmail(t, readFixture(t, "gbk-chinese.eml"), EmailOptions{Domains: []string{"contoso.cn"}})
	m := rec.Message
	if m.From.Name != "王小明" || m.From.ID != "wang.xiaoming@contoso.cn" {
		t.Errorf("from = %+v", m.From)
	}
	if !strings.HasPrefix(m.Text, "季度报告：请审阅\n\n各位好，\n\n附件是本季度的交易报告，请在周五前审阅。镕（GBK 扩展字）") {
		t.Errorf("text = %q", m.Text)
	}
	if m.Conversation.Name != "季度报告：请审阅" {
		t.Errorf("conversation name = %q", m.Conversation.Name)
	}
	to := recipientIDs(m)
	if to["li.hua@contoso.cn"].Name != "李华" || !to["zhang.wei@partner.cn"].External {
		t.Errorf("recipients = %+v", m.To)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "交易报告.txt" {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
	if got, _ := simplifiedchinese.GBK.NewDecoder().Bytes(rec.Blobs[0].Data); !strings.HasPrefix(string(got), "交易记录") {
		t.Errorf("attachment bytes are not the GBK file sent: %q", rec.Blobs[0].Data)
	}
}

// buildMail is a one-part message in charset, its subject an encoded word.
func buildMail(t *testing.T, charset string, enc encoding.Encoding, subject, body string) []byte {
	t.Helper()
	s, err := enc.NewEncoder().String(subject)
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.NewEncoder().String(body)
	if err != nil {
		t.Fatal(err)
	}
	return []byte("From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <x@example.com>\r\n" +
		"Date: Mon, 13 Jan 2025 08:00:00 +0000\r\nSubject: =?" + charset + "?B?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=" + charset + "\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte(b)) + "\r\n")
}

func TestEmailCharsets(t *testing.T) {
	for _, c := range []struct {
		charset       string
		enc           encoding.Encoding
		subject, body string
	}{
		{"GB2312", simplifiedchinese.GBK, "会议纪要", "下午三点开会"},
		{"GBK", simplifiedchinese.GBK, "交易确认", "买入一千股"},
		{"GB18030", simplifiedchinese.GB18030, "𠀀字", "扩展字 𠀀 也在"},
		{"Big5", traditionalchinese.Big5, "會議紀要", "下午三點開會"},
		{"ISO-2022-JP", japanese.ISO2022JP, "会議の件", "明日の会議について"},
		{"Shift_JIS", japanese.ShiftJIS, "見積書", "ご確認ください"},
		{"EUC-KR", korean.EUCKR, "회의", "내일 회의"},
		{"ISO-8859-1", charmap.ISO8859_1, "Grüße", "Zürich café"},
		{"ISO-8859-15", charmap.ISO8859_15, "Prix €", "coût 5 €"},
		{"windows-1251", charmap.Windows1251, "Отчёт", "Привет"},
		{"windows-1252", charmap.Windows1252, "“Quote”", "naïve – dash"},
		{"KOI8-R", charmap.KOI8R, "Отчёт", "Пока"},
	} {
		t.Run(c.charset, func(t *testing.T) {
			rec := mustParseEmail(t, buildMail(t, c.charset, c.enc, c.subject, c.body), EmailOptions{})
			if want := c.subject + "\n\n" + c.body; rec.Message.Text != want {
				t.Errorf("text = %q, want %q", rec.Message.Text, want)
			}
		})
	}
}

func TestEmailEncodedWordSplitInsideACharacter(t *testing.T) {
	// Some mailers cut a GBK character across two encoded words.
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String("交易报告")
	w1 := base64.StdEncoding.EncodeToString([]byte(gbk[:3]))
	w2 := base64.StdEncoding.EncodeToString([]byte(gbk[3:]))
	raw := "From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <s@x>\r\nSubject: =?gbk?B?" + w1 + "?=\r\n =?gbk?B?" + w2 + "?= (final)\r\n\r\nbody\r\n"
	rec := mustParseEmail(t, []byte(raw), EmailOptions{})
	if !strings.HasPrefix(rec.Message.Text, "交易报告 (final)\n\n") {
		t.Errorf("text = %q", rec.Message.Text)
	}
}

func TestEmailHTMLOnlyWithoutMessageID(t *testing.T) {
	raw := readFixture(t, "html-only-no-id.eml")
	rec := mustParseEmail(t, raw, EmailOptions{})
	m := rec.Message
	want := "Market wrap\n\nMarket wrap\nStocks rose 2 % in Zürich & Frankfurt.\nDAX +1.2\nSMI +0.8"
	if m.Text != want {
		t.Errorf("text = %q, want %q", m.Text, want)
	}
	sum := sha256.Sum256(raw)
	if m.SourceID != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("source id = %q, want the hash of the message", m.SourceID)
	}
	if again := mustParseEmail(t, raw, EmailOptions{}); again.Message.SourceID != m.SourceID {
		t.Error("the same message must get the same source id")
	}
	if !m.SentAt.Equal(emailNow) {
		t.Errorf("sent at = %v, want the reception time for an unreadable Date", m.SentAt)
	}
}

// Exchange sends one journal report per set of recipients it delivers to:
// each report is archived with its recipients, a report sent again is the
// same record, and a report adding no recipient to the headers' is the
// Message-ID's record.
func TestEmailJournalReportsOfOneMessageKeepEveryRecipient(t *testing.T) {
	report := func(envelopeTo ...string) []byte {
		carried := "From: alice@contoso.com\r\nTo: desk@contoso.com\r\nSubject: fills\r\nMessage-ID: <m1@contoso.com>\r\n" +
			"Date: Mon, 13 Jan 2025 08:00:00 +0000\r\n\r\nall filled\r\n"
		var env strings.Builder
		env.WriteString("Sender: alice@contoso.com\r\nSubject: fills\r\nMessage-Id: <m1@contoso.com>\r\n")
		for _, to := range envelopeTo {
			env.WriteString("To: " + to + "\r\n")
		}
		return []byte("From: Microsoft Exchange <postmaster@contoso.com>\r\nTo: journal@archive.contoso.com\r\n" +
			"Subject: fills\r\nX-MS-Journal-Report:\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\n" + env.String() + "\r\n" +
			"--b\r\nContent-Type: message/rfc822\r\n\r\n" + carried + "\r\n--b--\r\n")
	}
	first := mustParseEmail(t, report("dave@contoso.com, Expanded: desk@contoso.com", "hidden@contoso.com"), EmailOptions{}).Message
	second := mustParseEmail(t, report("erin@contoso.com, Expanded: desk@contoso.com"), EmailOptions{}).Message
	again := mustParseEmail(t, report("hidden@contoso.com", "dave@contoso.com, Expanded: desk@contoso.com"), EmailOptions{}).Message
	plain := mustParseEmail(t, report("desk@contoso.com"), EmailOptions{}).Message
	if first.SourceID == second.SourceID {
		t.Fatalf("two reports naming different recipients share the id %q: the second's would be lost as a duplicate", first.SourceID)
	}
	if again.SourceID != first.SourceID {
		t.Errorf("the same report (recipients in another order) is %q, then %q", first.SourceID, again.SourceID)
	}
	if plain.SourceID != "m1@contoso.com" {
		t.Errorf("a report adding no recipient: id %q, want the Message-ID", plain.SourceID)
	}
	for _, c := range []struct {
		m    archive.Message
		want []string
	}{{first, []string{"desk@contoso.com", "dave@contoso.com", "hidden@contoso.com"}}, {second, []string{"desk@contoso.com", "erin@contoso.com"}}} {
		to := recipientIDs(c.m)
		for _, id := range c.want {
			if _, ok := to[id]; !ok {
				t.Errorf("%s: recipient %s missing from %v", c.m.SourceID, id, c.m.To)
			}
		}
		if c.m.Conversation.ID != "m1@contoso.com" {
			t.Errorf("%s: conversation %q, want the Message-ID", c.m.SourceID, c.m.Conversation.ID)
		}
	}
}

func TestEmailEnvelopeRecipientsOfBCCJournaling(t *testing.T) {
	raw := []byte("From: alice@contoso.com\r\nTo: bob@contoso.com\r\nSubject: hi\r\nMessage-ID: <b1@contoso.com>\r\nDate: Mon, 13 Jan 2025 08:00:00 +0000\r\n\r\nhello\r\n")
	rec := mustParseEmail(t, raw, EmailOptions{EnvelopeTo: []string{"bob@contoso.com", "<hidden@contoso.com>"}})
	to := recipientIDs(rec.Message)
	if len(to) != 2 || to["hidden@contoso.com"].ID == "" {
		t.Errorf("recipients = %v, want bob and the Bcc only the envelope knows", rec.Message.To)
	}
	if rec.Message.Conversation.Kind != archive.KindGroup {
		t.Errorf("kind = %s, want group (two recipients)", rec.Message.Conversation.Kind)
	}
}

func TestEmailRawNotUTF8IsKeptExactly(t *testing.T) {
	raw := []byte("From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <l1@x>\r\nSubject: caf\xe9\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nna\xefve\r\n")
	m := mustParseEmail(t, raw, EmailOptions{}).Message
	if m.Text != "café\n\nnaïve" {
		t.Errorf("text = %q", m.Text)
	}
	got, err := m.RawBytes()
	if err != nil || !bytes.Equal(got, raw) || m.RawEncoding != archive.RawBase64 {
		t.Errorf("raw %q (%s), want the exact bytes in base64", got, m.RawEncoding)
	}
}

func TestEmailTextIsCutToTheFieldLimit(t *testing.T) {
	body := strings.Repeat("交易", 100)
	raw := []byte("From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <c1@x>\r\nSubject: s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
	m := mustParseEmail(t, raw, EmailOptions{Limits: Limits{MaxFieldBytes: 100}}).Message
	if len(m.Text) > 100 || !utf8.ValidString(m.Text) || !strings.HasPrefix(m.Text, "s\n\n交易") {
		t.Errorf("text (%d bytes) = %q", len(m.Text), m.Text)
	}
	if !strings.Contains(m.Raw, body) {
		t.Error("raw must keep the whole message")
	}
}

func TestEmailDateAheadIsTheReceptionTime(t *testing.T) {
	raw := []byte("From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <f1@x>\r\nSubject: s\r\nDate: Fri, 01 Jan 2100 00:00:00 +0000\r\n\r\nx\r\n")
	if m := mustParseEmail(t, raw, EmailOptions{}).Message; !m.SentAt.Equal(emailNow) {
		t.Errorf("sent at = %v, want the reception time", m.SentAt)
	}
}

func TestEmailEmptyMessageIsStillArchived(t *testing.T) {
	raw := []byte("From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <e1@x>\r\n\r\n")
	if m := mustParseEmail(t, raw, EmailOptions{}).Message; m.Text != noSubject {
		t.Errorf("text = %q", m.Text)
	}
}

func TestEmailBadMIMEIsAnError(t *testing.T) {
	report := string(readFixture(t, "exchange-journal-report.eml"))
	noOriginal := report[:strings.Index(report, "--_000_journal_report_0a1b2c3d_\r\nContent-Type: message/rfc822")] + "--_000_journal_report_0a1b2c3d_--\r\n"
	for _, c := range []struct {
		name, raw string
		max       int64
		kind      ErrorKind
		field     string
	}{
		{"bad base64", string(readFixture(t, "bad-base64.eml")), 0, KindEncoding, "part 2 Content-Transfer-Encoding"},
		{"unterminated multipart", string(readFixture(t, "unterminated-multipart.eml")), 0, KindSyntax, "Content-Type"},
		{"no boundary", "From: a@x\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n", 0, KindSyntax, "Content-Type"},
		{"unknown charset", "From: a@x\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nx\r\n", 0, KindEncoding, "Content-Type"},
		{"unknown charset in subject", "From: a@x\r\nSubject: =?x-klingon?Q?a?=\r\n\r\nx\r\n", 0, KindEncoding, "Subject"},
		{"unknown transfer encoding", "From: a@x\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nx\r\n", 0, KindEncoding, "Content-Transfer-Encoding"},
		{"bad header", "From a@x without colon\r\n\r\nx\r\n", 0, KindSyntax, "header"},
		{"empty", " \r\n", 0, KindEmpty, "message"},
		{"too large", "From: a@x\r\n\r\n" + strings.Repeat("x", 100), 50, KindTooLarge, "message"},
		{"journal report without the message", noOriginal, 0, KindSyntax, "X-MS-Journal-Report"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseEmail([]byte(c.raw), EmailOptions{MaxBytes: c.max, Now: emailNow, Line: 7})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if e.Kind != c.kind || e.Field != c.field || e.Line != 7 {
				t.Errorf("error %+v, want kind %d field %q line 7", e, c.kind, c.field)
			}
		})
	}
}

func TestHTMLToText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"<p>a</p><p>b</p>", "a\nb"},
		{"x<br>y", "x\ny"},
		{"<b>bold</b> and <i>italic</i>", "bold and italic"},
		{"<style>.a{}</style><script>alert(1)</script>seen", "seen"},
		{"&lt;tag&gt; &amp; &#20132;&#26131;", "<tag> & 交易"},
		{"<p>unclosed <div>nested", "unclosed\nnested"},
		{"<html><head><meta charset=utf-8><body>head left open</body>", "head left open"},
		{`chart:<img src="cid:1" alt="Q4 &amp; Q1">done`, "chart: Q4 & Q1 done"},
	} {
		if got := htmlToText(c.in); got != c.want {
			t.Errorf("htmlToText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzParseEmail(f *testing.F) {
	for _, name := range []string{"exchange-journal-report.eml", "multipart-reply.eml", "gbk-chinese.eml",
		"html-only-no-id.eml", "bad-base64.eml", "unterminated-multipart.eml"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte("Subject: =?gbk?B?vbvS1w==?= =?utf-8?Q?a_b?=\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		rec, err := ParseEmail(raw, EmailOptions{Now: emailNow, Limits: Limits{MaxFieldBytes: 1 << 16}, MaxBytes: 1 << 20})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		m := rec.Message
		if !utf8.ValidString(m.Text) || !utf8.ValidString(m.From.ID) || m.SourceID == "" || m.From.ID == "" {
			t.Fatalf("accepted an invalid record: %+v", m)
		}
		got, err := m.RawBytes()
		if err != nil || (!bytes.Equal(got, raw) && !strings.Contains(string(raw), string(got))) {
			t.Fatalf("raw is not the message (or the message it carries)")
		}
		for i, a := range m.Attachments {
			if a.SHA256 == "" || a.Name == "" {
				t.Fatalf("attachment %d: %+v", i, a)
			}
		}
	})
}

func TestEmailLargeAdversarialHTMLDoesNotHang(t *testing.T) {
	html := strings.Repeat("<b>x</b><style>a</style><script>", 30000) // ~1 MB, a skipped element per 30 bytes
	raw := []byte("From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <big@x>\r\nContent-Type: text/html\r\n\r\n" + html)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := ParseEmail(raw, EmailOptions{Now: emailNow}); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("a 1 MB HTML body took more than 20s")
	}
}
