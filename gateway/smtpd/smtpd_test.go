package smtpd

// The journal report sent here is journal/testdata/email/exchange-journal-report.eml,
// written from Microsoft's "Journal report format" (technet bb738122) and
// [MS-XJRNL] 2.1; the other mails are built in the tests. The client is
// Go's net/smtp, as a mail server would talk to the listener.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/journal"
)

// fakeAcceptor stores what it accepts; full makes it refuse with ErrFull,
// block holds Accept until released or its context ends.
type fakeAcceptor struct {
	mu      sync.Mutex
	recs    []journal.Record
	full    bool
	block   chan struct{}
	entered chan struct{}
	ctxErr  error
}

func (a *fakeAcceptor) Accept(ctx context.Context, recs []journal.Record) error {
	a.mu.Lock()
	full, block, entered := a.full, a.block, a.entered
	a.mu.Unlock()
	if full {
		return errors.Join(errors.New("spool: full"), ErrFull)
	}
	if entered != nil {
		entered <- struct{}{}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			a.mu.Lock()
			a.ctxErr = ctx.Err()
			a.mu.Unlock()
			return ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, recs...)
	return nil
}

func (a *fakeAcceptor) setFull(v bool) {
	a.mu.Lock()
	a.full = v
	a.mu.Unlock()
}

func (a *fakeAcceptor) stored() []journal.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]journal.Record(nil), a.recs...)
}

func testLogger(t testing.TB) *logrus.Entry {
	log := logrus.New()
	log.SetOutput(io.Discard)
	if testing.Verbose() {
		log.SetOutput(os.Stderr)
		log.SetLevel(logrus.DebugLevel)
	}
	return logrus.NewEntry(log).WithField("test", t.Name())
}

// mustStart starts a listener on a free loopback port and stops it when the
// test ends.
func mustStart(t *testing.T, cfg Config, a Acceptor) *Server {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.Hostname = "archive.test"
	cfg.Logger = testLogger(t)
	if cfg.Tenant == "" {
		cfg.Tenant = "acme"
	}
	s, err := New(cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func send(s *Server, from string, to []string, msg []byte) error {
	return smtp.SendMail(s.Addr().String(), nil, from, to, msg)
}

// replyCode is the SMTP code of a client error, 0 if it has none.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "journal", "testdata", "email", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSMTPJournalReport(t *testing.T) {
	a := &fakeAcceptor{}
	s := mustStart(t, Config{Mailboxes: []string{"journal@archive.contoso.com"}, Domains: []string{"contoso.com"}}, a)
	err := send(s, "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.onmicrosoft.com",
		[]string{"journal@archive.contoso.com"}, fixture(t, "exchange-journal-report.eml"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	recs := a.stored()
	if len(recs) != 1 {
		t.Fatalf("%d records stored, want 1", len(recs))
	}
	m := recs[0].Message
	if m.Tenant != "acme" || m.From.ID != "alice.chen@contoso.com" || !strings.HasPrefix(m.SourceID, "SN6PR04MB4001A1B2C3D4E5F6@") {
		t.Errorf("record = tenant %q from %q source %q, want the journaled message", m.Tenant, m.From.ID, m.SourceID)
	}
	var bcc, journalBox bool
	for _, p := range m.To {
		bcc = bcc || p.ID == "compliance.officer@contoso.com"
		journalBox = journalBox || p.ID == "journal@archive.contoso.com"
	}
	if !bcc || journalBox {
		t.Errorf("recipients %v: want the report's Bcc, not the journal mailbox", m.To)
	}
}

func TestSMTPMultipartWithAttachment(t *testing.T) {
	a := &fakeAcceptor{}
	s := mustStart(t, Config{}, a)
	msg := "From: Alice <alice@contoso.com>\r\nTo: bob@contoso.com\r\nSubject: contract\r\n" +
		"Date: Mon, 13 Jan 2025 08:00:00 +0000\r\nMessage-ID: <att-1@contoso.com>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n" +
		"--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSigned contract attached.\r\n" +
		"--XYZ\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"contract.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSVFT0YK\r\n--XYZ--\r\n"
	if err := send(s, "alice@contoso.com", []string{"archive@archive.test"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	recs := a.stored()
	if len(recs) != 1 || len(recs[0].Blobs) != 1 {
		t.Fatalf("stored %+v", recs)
	}
	m, b := recs[0].Message, recs[0].Blobs[0]
	sum := sha256.Sum256(b.Data)
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "contract.pdf" || m.Attachments[0].SHA256 != hex.EncodeToString(sum[:]) ||
		string(b.Data) != "%PDF-1.4\n%%EOF\n" || b.Tenant != "acme" {
		t.Errorf("attachments %+v blob %q", m.Attachments, b.Data)
	}
	if m.Text != "contract\n\nSigned contract attached." {
		t.Errorf("text = %q", m.Text)
	}
}

func TestSMTPGBKChineseMail(t *testing.T) {
	a := &fakeAcceptor{}
	s := mustStart(t, Config{}, a)
	enc := simplifiedchinese.GBK.NewEncoder()
	subj, _ := enc.String("交易确认")
	body, _ := enc.String("您好，\r\n今天买入一千股，请确认。\r\n")
	var q strings.Builder
	for _, c := range []byte(subj) {
		q.WriteString("=" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	msg := "From: trader@contoso.cn\r\nTo: client@fabrikam.cn\r\nSubject: =?GBK?Q?" + q.String() + "?=\r\n" +
		"Date: Mon, 13 Jan 2025 08:00:00 +0800\r\nMessage-ID: <gbk-1@contoso.cn>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
	if err := send(s, "trader@contoso.cn", []string{"archive@archive.test"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	recs := a.stored()
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	m := recs[0].Message
	if m.Text != "交易确认\n\n您好，\n今天买入一千股，请确认。" {
		t.Errorf("text = %q", m.Text)
	}
	raw, err := m.RawBytes()
	if err != nil || m.RawEncoding != archive.RawBase64 || !strings.Contains(string(raw), body) {
		t.Errorf("raw (%s) must keep the GBK bytes exactly: %v", m.RawEncoding, err)
	}
}

func TestSMTPFullArchiveIsRetried(t *testing.T) {
	a := &fakeAcceptor{full: true}
	s := mustStart(t, Config{}, a)
	msg := []byte("From: a@contoso.com\r\nTo: b@contoso.com\r\nSubject: retry me\r\nMessage-ID: <r1@contoso.com>\r\n\r\nbody\r\n")
	err := send(s, "a@contoso.com", []string{"b@contoso.com"}, msg)
	if replyCode(err) != 451 || !strings.Contains(err.Error(), "4.3.1") {
		t.Fatalf("err = %v, want 451 4.3.1", err)
	}
	if n := len(a.stored()); n != 0 {
		t.Fatalf("%d records stored while full", n)
	}
	a.setFull(false)
	if err := send(s, "a@contoso.com", []string{"b@contoso.com"}, msg); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if recs := a.stored(); len(recs) != 1 || recs[0].Message.SourceID != "r1@contoso.com" {
		t.Errorf("after retry stored %+v", recs)
	}
}

func TestSMTPOversizedMessage(t *testing.T) {
	a := &fakeAcceptor{}
	s := mustStart(t, Config{MaxBytes: 1024}, a)
	msg := "From: a@contoso.com\r\nTo: b@contoso.com\r\nSubject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 200)
	err := send(s, "a@contoso.com", []string{"b@contoso.com"}, []byte(msg))
	if replyCode(err) != 552 || !strings.Contains(err.Error(), "5.3.4") {
		t.Fatalf("err = %v, want 552 5.3.4", err)
	}
	if len(a.stored()) != 0 {
		t.Error("an oversized message was stored")
	}
}

func TestSMTPUnreadableMIMEIsRefused(t *testing.T) {
	a := &fakeAcceptor{}
	s := mustStart(t, Config{}, a)
	err := send(s, "a@contoso.com", []string{"b@contoso.com"}, fixture(t, "bad-base64.eml"))
	if replyCode(err) != 554 || !strings.Contains(err.Error(), "5.6.0") || !strings.Contains(err.Error(), "part 2") {
		t.Fatalf("err = %v, want 554 5.6.0 naming part 2", err)
	}
}

func TestSMTPClientOutsideAllowListIsRefused(t *testing.T) {
	a := &fakeAcceptor{}
	s := mustStart(t, Config{Allow: []string{"192.0.2.1", "198.51.100.0/24"}}, a)
	c, err := smtp.Dial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.test"); replyCode(err) != 550 {
		t.Fatalf("HELO: %v, want 550", err)
	}
	if err := c.Mail("a@contoso.com"); err == nil {
		t.Fatal("MAIL accepted from a refused client")
	}
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "archive.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// dialTLS connects, says EHLO and starts TLS trusting pool.
func dialTLS(t *testing.T, s *Server, pool *x509.CertPool) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	if st, ok := c.TLSConnectionState(); !ok || !st.HandshakeComplete {
		t.Fatal("no TLS after STARTTLS")
	}
	return c
}

func TestSMTPStartTLSAndAuth(t *testing.T) {
	cert, pool := selfSigned(t)
	sum := sha256.Sum256([]byte("s3cret"))
	a := &fakeAcceptor{}
	s := mustStart(t, Config{
		Allow: []string{"192.0.2.0/24"}, Users: map[string]string{"exchange": hex.EncodeToString(sum[:])},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}, a)

	plain, err := smtp.Dial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := plain.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	if err := plain.Mail("a@contoso.com"); replyCode(err) != 530 {
		t.Fatalf("MAIL before AUTH: %v, want 530", err)
	}

	if err := dialTLS(t, s, pool).Auth(smtp.PlainAuth("", "exchange", "wrong", "127.0.0.1")); replyCode(err) != 535 {
		t.Fatalf("bad password: %v, want 535", err)
	}

	c := dialTLS(t, s, pool)
	if err := c.Auth(smtp.PlainAuth("", "exchange", "s3cret", "127.0.0.1")); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if err := c.Mail("a@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@contoso.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "From: a@contoso.com\r\nTo: b@contoso.com\r\nSubject: over TLS\r\nMessage-ID: <tls-1@contoso.com>\r\n\r\nsecret body\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if recs := a.stored(); len(recs) != 1 || recs[0].Message.SourceID != "tls-1@contoso.com" {
		t.Errorf("stored %+v", recs)
	}
}

// startStoppedByTest starts a listener that the test itself shuts down.
func startStoppedByTest(t *testing.T, a Acceptor) *Server {
	t.Helper()
	s, err := New(Config{Listen: "127.0.0.1:0", Logger: testLogger(t)}, a)
	if err != nil {
		t.Fatal(err)
	}
	if err = s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// sendWhileAccepting sends a message in the background and returns once
// the acceptor holds it; the channel gets the client's result.
func sendWhileAccepting(s *Server, a *fakeAcceptor) chan error {
	sent := make(chan error, 1)
	go func() {
		sent <- send(s, "a@contoso.com", []string{"b@contoso.com"},
			[]byte("From: a@contoso.com\r\nTo: b@contoso.com\r\nSubject: s\r\nMessage-ID: <inflight@x>\r\n\r\nx\r\n"))
	}()
	<-a.entered
	return sent
}

func TestSMTPShutdownClosesIdleClientsAndEndsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	s := startStoppedByTest(t, &fakeAcceptor{})
	c, err := smtp.Dial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v with one idle client", d)
	}
	if err := c.Noop(); err == nil {
		t.Error("the idle client is still served after shutdown")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
	c.Close()
	waitGoroutines(t, before)
}

func TestSMTPShutdownLetsAMessageInFlightFinish(t *testing.T) {
	a := &fakeAcceptor{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	s := startStoppedByTest(t, a)
	sent := sendWhileAccepting(s, a)
	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("shutdown returned (%v) while a message was being stored", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(a.block)
	if err := <-sent; err != nil {
		t.Errorf("the message in flight was not answered 250: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if len(a.stored()) != 1 {
		t.Error("the message in flight was not stored")
	}
}

func TestSMTPShutdownCutsWhenItsContextEnds(t *testing.T) {
	a := &fakeAcceptor{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	s := startStoppedByTest(t, a)
	sent := sendWhileAccepting(s, a)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("shutdown = %v, want the context's deadline", err)
	}
	if err := <-sent; err == nil {
		t.Error("a message cut by shutdown was answered 250")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctxErr == nil || len(a.recs) != 0 {
		t.Errorf("the pending Accept was not cancelled (ctx err %v, stored %d)", a.ctxErr, len(a.recs))
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	cert, _ := selfSigned(t)
	for name, cfg := range map[string]Config{
		"no listen":           {},
		"bad allow":           {Listen: ":0", Allow: []string{"not-an-ip"}},
		"users without TLS":   {Listen: ":0", Users: map[string]string{"u": strings.Repeat("0", 64)}},
		"clear-text password": {Listen: ":0", Users: map[string]string{"u": "s3cret"}, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}},
	} {
		if _, err := New(cfg, &fakeAcceptor{}); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

// waitGoroutines waits for the goroutine count to fall back to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShutdownBeforeStart(t *testing.T) {
	s := mustNew(t)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown of a server never started: %v", err)
	}
	if err := s.Start(); err == nil {
		t.Error("a server started after its shutdown")
	}
	if s.Addr() != nil {
		t.Error("an address without a listener")
	}
}

func mustNew(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{Listen: "127.0.0.1:0", Logger: testLogger(t)}, &fakeAcceptor{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSMTPLoopbackDefaultAndRequireAuth: with neither allow nor users a
// loopback client delivers without AUTH (the documented single-machine
// default); RequireAuth makes every client authenticate, and refuses a
// config where nobody could.
func TestSMTPLoopbackDefaultAndRequireAuth(t *testing.T) {
	a := &fakeAcceptor{}
	open := mustStart(t, Config{}, a)
	msg := []byte("From: a@contoso.com\r\nTo: b@contoso.com\r\nSubject: s\r\nMessage-ID: <loop-1@x>\r\n\r\nx\r\n")
	if err := send(open, "a@contoso.com", []string{"b@contoso.com"}, msg); err != nil {
		t.Fatalf("loopback without AUTH by default: %v", err)
	}

	cert, _ := selfSigned(t)
	sum := sha256.Sum256([]byte("s3cret"))
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	users := map[string]string{"exchange": hex.EncodeToString(sum[:])}
	strict := mustStart(t, Config{RequireAuth: true, Users: users, TLSConfig: tlsCfg}, &fakeAcceptor{})
	c, err := smtp.Dial(strict.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@contoso.com"); replyCode(err) != 530 {
		t.Fatalf("loopback MAIL without AUTH under require_auth: %v, want 530", err)
	}

	for name, cfg := range map[string]Config{
		"no users":   {Listen: "127.0.0.1:0", RequireAuth: true},
		"allow list": {Listen: "127.0.0.1:0", RequireAuth: true, Users: users, TLSConfig: tlsCfg, Allow: []string{"127.0.0.1"}},
	} {
		if _, err := New(cfg, &fakeAcceptor{}); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", name, err)
		}
	}
}
