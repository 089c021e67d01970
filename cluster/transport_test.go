package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// handshakePair runs clientHandshake and serverHandshake against each
// other over an in-memory pipe.
func handshakePair(clientSecret, serverSecret string, service byte) (clientErr error, got byte, serverErr error) {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		got, _, serverErr = serverHandshake(s, []byte(serverSecret), mustKeys())
		if serverErr != nil {
			s.Close()
		}
	}()
	_, clientErr = clientHandshake(c, []byte(clientSecret), mustKeys(), service)
	c.Close()
	<-done
	return clientErr, got, serverErr
}

func TestHandshake(t *testing.T) {
	if cerr, got, serr := handshakePair(testSecret, testSecret, serviceRPC); cerr != nil || serr != nil || got != serviceRPC {
		t.Fatalf("same secret: client %v, server %v, service %q", cerr, serr, got)
	}
	cerr, _, serr := handshakePair("another-secret-entirely", testSecret, serviceRaft)
	if !errors.Is(cerr, errHandshake) || !errors.Is(serr, errHandshake) {
		t.Fatalf("different secrets: client %v, server %v; want both to fail", cerr, serr)
	}
	cerr, _, serr = handshakePair(testSecret, testSecret, 'X')
	if cerr == nil || serr == nil || !strings.Contains(serr.Error(), "unknown service") {
		t.Fatalf("unknown service: client %v, server %v", cerr, serr)
	}
}

// recorder keeps what a handshake writes.
type recorder struct {
	io.ReadWriter
	sent bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.sent.Write(b)
	return r.ReadWriter.Write(b)
}

func TestHandshakeReplayFails(t *testing.T) {
	// Record a client's side of a successful handshake...
	c, s := net.Pipe()
	go func(s net.Conn) {
		_, _, _ = serverHandshake(s, []byte(testSecret), mustKeys())
		s.Close()
	}(s)
	rec := &recorder{ReadWriter: c}
	if _, err := clientHandshake(rec, []byte(testSecret), mustKeys(), serviceRaft); err != nil {
		t.Fatal(err)
	}
	c.Close()
	sent := rec.sent.Bytes()

	// ...and replay it to a server on a new connection: its challenge is
	// fresh, so the recorded proof no longer matches.
	c, s = net.Pipe()
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		_, _, err := serverHandshake(s, []byte(testSecret), mustKeys())
		s.Close()
		errc <- err
	}()
	hello, proof := sent[:4+nonceLen], sent[4+nonceLen:]
	_, _ = c.Write(hello)
	_, _ = io.ReadFull(c, make([]byte, 4+nonceLen+macLen))
	_, _ = c.Write(proof)
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "wrong cluster secret") {
		t.Fatalf("replayed handshake: %v, want it refused", err)
	}
}

// mustMux listens on a free port with cfg's secret and TLS, serving RPC
// connections with serve.
func mustMux(t *testing.T, secret string, tlsCfg *tls.Config, serve func(net.Conn)) (*mux, *logHook) {
	t.Helper()
	log, hook := captureLog(t)
	m, err := listenMux(Config{RaftListen: "127.0.0.1:0", Secret: secret, TLS: tlsCfg}, log)
	if err != nil {
		t.Fatal(err)
	}
	if serve == nil {
		serve = func(c net.Conn) { _, _ = io.Copy(c, c) }
	}
	m.start(serve)
	t.Cleanup(func() { _ = m.Close() })
	return m, hook
}

func dialCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMuxAuthenticatesAndDispatches(t *testing.T) {
	server, _ := mustMux(t, testSecret, nil, nil)
	client, _ := mustMux(t, testSecret, nil, nil)
	addr := server.advertise.String()

	// RPC: served by the RPC handler (an echo here).
	conn, err := client.dial(dialCtx(t), addr, serviceRPC)
	if err != nil {
		t.Fatalf("dial rpc: %v", err)
	}
	_, _ = conn.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q, %v", buf, err)
	}
	conn.Close()

	// Raft: handed to the stream layer's Accept.
	go func() {
		c, err := raftStream{client}.Dial(raft.ServerAddress(addr), 5*time.Second)
		if err == nil {
			_, _ = c.Write([]byte("raft"))
		}
	}()
	accepted, err := raftStream{server}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(accepted, buf); err != nil || string(buf) != "raft" {
		t.Fatalf("raft conn read %q, %v", buf, err)
	}

	// Close closes what it handed out, and Accept ends.
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := accepted.Read(buf); err != io.EOF {
		t.Fatalf("read after Close: %v, want io.EOF", err)
	}
	if _, err := (raftStream{server}).Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

func TestMuxDropsWrongSecret(t *testing.T) {
	server, hook := mustMux(t, testSecret, nil, func(c net.Conn) { t.Error("an unauthenticated connection was served") })
	intruder, _ := mustMux(t, "some-other-secret-value", nil, nil)
	_, err := intruder.dial(dialCtx(t), server.advertise.String(), serviceRPC)
	if !errors.Is(err, errHandshake) {
		t.Fatalf("dial with the wrong secret: %v", err)
	}
	var line logLine
	waitForWithin(t, 5*time.Second, "warning logged", func() bool {
		var ok bool
		line, ok = hook.find("dropped unauthenticated cluster connection")
		return ok
	})
	if addr, _ := line.fields["remote_addr"].(string); !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("warning names remote_addr %v", line.fields["remote_addr"])
	}

	// Garbage from a port scanner is dropped the same way.
	raw, err := net.Dial("tcp", server.advertise.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = raw.Write([]byte("GET / HTTP/1.0\r\n\r\n" + strings.Repeat("x", 64)))
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := raw.Read(make([]byte, 64)); err == nil {
		t.Fatalf("a non-member read %d bytes back", n)
	}
	raw.Close()
}

func TestMuxWithoutSecretAcceptsNobody(t *testing.T) {
	lonely, hook := mustMux(t, "", nil, func(net.Conn) { t.Error("served a connection without a secret") })
	member, _ := mustMux(t, testSecret, nil, nil)
	if _, err := lonely.dial(dialCtx(t), member.advertise.String(), serviceRPC); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("dial without a secret: %v, want ErrNoSecret", err)
	}
	if _, err := member.dial(dialCtx(t), lonely.advertise.String(), serviceRPC); err == nil {
		t.Fatal("a node without a secret accepted a connection")
	}
	waitForWithin(t, 5*time.Second, "warning logged", func() bool {
		_, ok := hook.find("dropped unauthenticated cluster connection")
		return ok
	})
}

func TestRPCErrors(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Secret = testSecret
	n := mustOpenNodeWith(t, cfg)
	addr := string(n.trans.LocalAddr())
	ctx := dialCtx(t)

	// An unknown op is an error response, and the node carries on.
	_, err := n.call(ctx, addr, rpcRequest{Op: "frobnicate"}, time.Second)
	var re *rpcError
	if !errors.As(err, &re) || re.Code != codeUnknownOp {
		t.Fatalf("unknown op: %v, want an %s response", err, codeUnknownOp)
	}
	// A command no binary writes is refused before raft sees it: applied,
	// it would panic every node's FSM.
	for _, cmd := range []string{
		`{"v":1,"op":"segment_melted"}`,
		`{"v":9,"op":"segment_sealed","segments":[{"key":"k","sha256":"ab"}]}`,
		`{"v":1,"op":"segment_sealed","segments":[{"key":"k"}]}`,
		`"not a command"`,
	} {
		_, err := n.call(ctx, addr, rpcRequest{Op: opApply, Forwarded: true, Commands: []json.RawMessage{json.RawMessage(cmd)}}, time.Second)
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, errBadRequest) {
			t.Fatalf("apply %s: %v, want ErrInvalid", cmd, err)
		}
	}
	// A malformed request gets a bad_request answer; an oversized one
	// closes the connection.
	conn, err := n.mux.dial(ctx, addr, serviceRPC)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write(append(binary.BigEndian.AppendUint32(nil, 5), "{bad}"...))
	body, err := readFrame(conn)
	if err != nil || !strings.Contains(string(body), codeBadRequest) {
		t.Fatalf("malformed request: %s, %v", body, err)
	}
	_, _ = conn.Write(binary.BigEndian.AppendUint32(nil, maxFrame+1))
	if _, err := readFrame(conn); err == nil {
		t.Fatal("an oversized frame was answered")
	}
	// Status works, and so does the node.
	resp, err := n.call(ctx, addr, rpcRequest{Op: opStatus}, time.Second)
	if err != nil || resp.Status == nil || resp.Status.ID != "node1" || resp.Status.State != "Leader" {
		t.Fatalf("status: %+v, %v", resp.Status, err)
	}
	mustSeal(t, n, testSegments(0, 1))
}

func TestClusterMutualTLS(t *testing.T) {
	ca, caKey := testCA(t, "holdfast test CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	nodeTLS := &tls.Config{Certificates: []tls.Certificate{testLeaf(t, ca, caKey)}, RootCAs: pool}

	c := mustCluster(t, 3, func(cfg *Config) { cfg.TLS = nodeTLS })
	mustSeal(t, c.follower(), testSegments(0, 5))
	mustSeal(t, c.leader(), testSegments(5, 5))
	checkSeqs(t, c.waitConverged(), testSegments(0, 10))
	for _, m := range mustMembers(t, c.leader()) {
		if !m.Reachable || m.LastSeq != 10 {
			t.Fatalf("member over TLS: %+v", m)
		}
	}
	addr := c.addr(c.leaderIndex())
	hook := c.logs[c.leaderIndex()]

	// A client without a certificate is refused, whatever secret it knows.
	noCert := &tls.Config{RootCAs: pool}
	m, err := listenMux(Config{RaftListen: "127.0.0.1:0", Secret: testSecret, TLS: noCert}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.dial(dialCtx(t), addr, serviceRPC); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	// So is one with a certificate from another CA.
	other, otherKey := testCA(t, "some other CA")
	stranger := &tls.Config{Certificates: []tls.Certificate{testLeaf(t, other, otherKey)}, RootCAs: pool}
	m2, err := listenMux(Config{RaftListen: "127.0.0.1:0", Secret: testSecret, TLS: stranger}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, err := m2.dial(dialCtx(t), addr, serviceRPC); err == nil {
		t.Fatal("a client with a certificate from another CA was accepted")
	}
	// And a plain TCP client gets nothing.
	plain, _ := mustMux(t, testSecret, nil, nil)
	if _, err := plain.dial(dialCtx(t), addr, serviceRPC); err == nil {
		t.Fatal("a client without TLS was accepted")
	}
	waitForWithin(t, 5*time.Second, "TLS refusal logged", func() bool {
		line, ok := hook.find("dropped unauthenticated cluster connection")
		return ok && strings.Contains(line.fields["error"].(error).Error(), "tls")
	})
	mustSeal(t, c.follower(), testSegments(10, 1))
}

func TestOpenValidatesTLS(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.TLS = &tls.Config{RootCAs: x509.NewCertPool()}
	if n, err := Open(cfg, testLog(t)); err == nil {
		n.Close()
		t.Fatal("Open with TLS but no certificate succeeded")
	}
}

// testCA returns a self-signed CA.
func testCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

// testLeaf returns a node certificate for 127.0.0.1 signed by ca, valid
// for both server and client authentication.
func testLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "holdfast node"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
