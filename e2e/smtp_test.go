package e2e

import (
	"context"
	"fmt"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestSMTPJournaling: a real SMTP client journals an Exchange journal
// report, a multipart mail with an attachment and a GBK-encoded Chinese
// mail to the daemon; all are archived, searchable, the attachment a WORM
// object of its own. With storage down and the spool full the server
// answers 451, and the client's retry succeeds once storage is back.
func TestSMTPJournaling(t *testing.T) {
	m := startOwnMinIO(t)
	bucket := "e2e-smtp-" + randomSuffix()
	port := freePort(t)
	d := newDaemon(t, m.env, bucket, fmt.Sprintf("spool: {max_bytes: 1MiB}\nsmtp: {listen: \"127.0.0.1:%d\", tenant: mail}\n", port))
	d.start()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "journal", "testdata", "email", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	send := func(msg []byte) error {
		return smtp.SendMail(addr, nil, "journal@contoso.com", []string{"archive@holdfast.local"}, msg)
	}
	for _, name := range []string{"exchange-journal-report.eml", "multipart-reply.eml", "gbk-chinese.eml"} {
		if err := send(fixture(name)); err != nil {
			t.Fatalf("send %s: %v", name, err)
		}
	}
	d.waitDrained(60 * time.Second)
	for _, c := range []struct {
		q, what string
		n       int
	}{{"allocation", "the journal report's original and the reply", 2}, {"报告", "the GBK mail's Chinese word", 1}, {"participant:carol@fabrikam.com", "the report's Cc recipient", 1}} {
		v := url.Values{"q": {c.q}, "platform": {"email"}}
		if p, ok := strings.CutPrefix(c.q, "participant:"); ok {
			v = url.Values{"participant": {p}}
		}
		waitFor(t, 60*time.Second, c.what+" to be searchable", func() bool {
			return len(d.search(t, v)) == c.n
		})
	}
	atts := 0
	for obj := range minioClient(t, m.env).ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: "attachments/mail/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		atts++
	}
	if atts == 0 {
		t.Fatal("no attachment stored as an object of its own")
	}

	// Storage down: fill the spool until the server answers 451.
	m.stop()
	big := strings.Repeat("filler line of a large journaled mail\r\n", 4000)
	var refused []byte
	for i := 0; i < 200 && refused == nil; i++ {
		msg := []byte(fmt.Sprintf("From: a@contoso.com\r\nTo: b@contoso.com\r\nSubject: filler %d\r\nMessage-ID: <filler-%d@contoso.com>\r\nDate: %s\r\n\r\n%s",
			i, i, time.Now().Format(time.RFC1123Z), big))
		err := send(msg)
		if err == nil {
			continue
		}
		var te *textproto.Error
		if !asTextproto(err, &te) || te.Code != 451 {
			t.Fatalf("mail %d: %v, want 451 once the spool is full", i, err)
		}
		refused = msg
	}
	if refused == nil {
		t.Fatal("the spool never filled")
	}
	m.start()
	waitFor(t, 90*time.Second, "the refused mail's retry to be accepted", func() bool { return send(refused) == nil })
}

func asTextproto(err error, out **textproto.Error) bool {
	for err != nil {
		if te, ok := err.(*textproto.Error); ok {
			*out = te
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
