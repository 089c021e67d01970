package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// Attacks on the cluster transport by someone who can reach the raft port
// or sits on the path between members, but does not know the secret.

// tapProxy forwards TCP connections to target and keeps every byte that
// crosses it, per direction. When flipAt is positive, it flips one bit of
// the byte at that offset of the first client-to-server stream.
type tapProxy struct {
	ln     net.Listener
	target string
	flipAt int

	mu      sync.Mutex
	toSrv   bytes.Buffer // everything clients sent
	toCli   bytes.Buffer // everything servers sent
	flipped bool
	wg      sync.WaitGroup
	conns   []net.Conn
}

func startTapProxy(t *testing.T, target string, flipAt int) *tapProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tapProxy{ln: ln, target: target, flipAt: flipAt}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

func (p *tapProxy) addr() string { return p.ln.Addr().String() }

func (p *tapProxy) serve() {
	first := true
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		flip := first && p.flipAt > 0
		first = false
		p.wg.Go(func() { p.pipe(s, c, &p.toSrv, flip) })
		p.wg.Go(func() { p.pipe(c, s, &p.toCli, false) })
	}
}

// pipe copies src to dst, recording into rec and flipping the byte at
// flipAt when flip is set.
func (p *tapProxy) pipe(dst, src net.Conn, rec *bytes.Buffer, flip bool) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	off := 0
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if flip && off <= p.flipAt && p.flipAt < off+n {
				buf[p.flipAt-off] ^= 0x01
				p.mu.Lock()
				p.flipped = true
				p.mu.Unlock()
			}
			off += n
			p.mu.Lock()
			rec.Write(buf[:n])
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// captured returns copies of what crossed the proxy so far.
func (p *tapProxy) captured() (toServer, toClient []byte, flipped bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.toSrv.Bytes()), bytes.Clone(p.toCli.Bytes()), p.flipped
}

func (p *tapProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// handshakeFlood keeps conns connections to each target open from source
// (a loopback address other than the members'), each having sent two
// bytes of a hello and nothing more: the load that starved the raft port.
// A connection the server closes is dialled again.
type handshakeFlood struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	dialed int
}

func startHandshakeFlood(t testing.TB, targets []string, sources []string, conns int) *handshakeFlood {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &handshakeFlood{cancel: cancel}
	for _, target := range targets {
		for _, src := range sources {
			for range conns {
				f.wg.Go(func() { f.hold(ctx, src, target) })
			}
		}
	}
	t.Cleanup(f.stop)
	want := len(targets) * len(sources) * conns
	waitForWithin(t, 30*time.Second, "flood connections open", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.dialed >= want
	})
	return f
}

// floodRedial is how soon a flood connection is dialled again once the
// server has dropped it. The flood runs in the test's own process, on the
// members' cores: redialling at once would be a connection-rate flood that
// measures CPU starvation, not the transport's admission of handshakes.
const floodRedial = time.Second

// hold dials target from src, sends "HF" and waits for the server to give
// up, then does it again, until ctx ends.
func (f *handshakeFlood) hold(ctx context.Context, src, target string) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		f.mu.Lock()
		f.dialed++
		f.mu.Unlock()
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		_, _ = c.Write([]byte("HF"))
		_, _ = io.Copy(io.Discard, c) // until the server closes it
		stop()
		_ = c.Close()
		select {
		case <-ctx.Done():
		case <-time.After(floodRedial):
		}
	}
}

func (f *handshakeFlood) stop() {
	f.cancel()
	f.wg.Wait()
}

// TestClusterSurvivesHandshakeFlood is Found 5: connections that send two
// bytes and hold the handshake must not keep members from connecting. One
// address holds 150 of them at every node (more than the old global cap of
// 128) and twelve more hold 12 each (more than the total cap together); meanwhile a follower writes through
// the leader (a fresh RPC connection per call), the leader is stopped so
// that the others elect a new one, and it is restarted and catches up over
// fresh raft connections.
func TestClusterSurvivesHandshakeFlood(t *testing.T) {
	// raft's own timeouts, not the tests' 50 ms: the flood shares the
	// members' cores, and under -race it must not cost them their leader.
	c := mustCluster(t, 3, func(cfg *Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = DefaultHeartbeatTimeout, DefaultElectionTimeout, DefaultLeaderLeaseTimeout
	})
	targets := []string{c.addr(0), c.addr(1), c.addr(2)}
	startHandshakeFlood(t, targets, []string{"127.0.0.2"}, 150)
	var sources []string
	for i := range 12 {
		sources = append(sources, fmt.Sprintf("127.0.1.%d", i+1))
	}
	startHandshakeFlood(t, targets, sources, 12)

	for i := range 5 {
		mustSeal(t, c.follower(), testSegments(i, 1))
	}
	old := c.leaderIndex()
	c.stop(old)
	mustSeal(t, c.follower(), testSegments(5, 1))
	c.start(old)
	c.leaderIndex() // every running node, the restarted one too, agrees on a leader
	mustSeal(t, c.nodes[old], testSegments(6, 1))
	checkSeqs(t, c.waitConverged(), testSegments(0, 7))
}

// TestTamperedFrameIsDroppedAndNothingApplied is Found 6: a member's
// request altered on the path (one bit of one byte after the handshake)
// must not be acted on. The flipped byte lies in the segment key of an
// apply request: in plaintext that would seal a segment under another key.
func TestTamperedFrameIsDroppedAndNothingApplied(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Secret = testSecret
	log, hook := captureLog(t)
	n, err := Open(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	c := &testCluster{t: t}
	c.waitLeader(n)

	seg := testSegments(0, 1)
	cmd, err := encodeCommand(Command{Op: OpSegmentSealed, Segments: seg})
	if err != nil {
		t.Fatal(err)
	}
	req := rpcRequest{Op: opApply, Forwarded: true, Commands: []json.RawMessage{cmd}}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	// The client sends the handshake, then (at most) an 8-byte header
	// before the JSON; 16 bytes into the key is well inside it either way.
	at := clientHandshakeLen + 8 + bytes.Index(body, []byte(seg[0].Key)) + 16
	proxy := startTapProxy(t, string(n.trans.LocalAddr()), at)

	if _, err := n.call(dialCtx(t), proxy.addr(), req, 5*time.Second); err == nil {
		t.Fatal("a request altered on the path was answered")
	}
	if _, _, flipped := proxy.captured(); !flipped {
		t.Fatal("the proxy flipped nothing: the test is broken")
	}
	if count, err := n.SegmentCount(); err != nil || count != 0 {
		t.Fatalf("after the altered request the catalog holds %d segments (%v), want 0", count, err)
	}
	waitForWithin(t, 5*time.Second, "tampering logged", func() bool {
		line, ok := hook.find("dropped cluster connection")
		return ok && errors.Is(line.fields["error"].(error), errTampered)
	})
	// The same request, unaltered, is applied: the node is fine.
	if _, err := n.call(dialCtx(t), string(n.trans.LocalAddr()), req, 5*time.Second); err != nil {
		t.Fatalf("the unaltered request: %v", err)
	}
	if count, _ := n.SegmentCount(); count != 1 {
		t.Fatalf("catalog holds %d segments, want 1", count)
	}
}

// TestJoinRequestCrossesEncrypted is Found 6: a join request, captured on
// the path, shows nothing of what it asks.
func TestJoinRequestCrossesEncrypted(t *testing.T) {
	c := mustCluster(t, 1)
	proxy := startTapProxy(t, c.addr(0), 0)
	c.opts = append(c.opts, func(cfg *Config) { cfg.Join = []string{proxy.addr()} })
	n2 := c.add(0)
	waitForWithin(t, 15*time.Second, "node2 joined through the proxy", n2.joined)

	toServer, toClient, _ := proxy.captured()
	if len(toServer) <= clientHandshakeLen || len(toClient) <= 4+nonceLen+macLen {
		t.Fatalf("proxy saw %d and %d bytes: the join did not go through it", len(toServer), len(toClient))
	}
	for _, plain := range []string{`"op"`, "join", "node2", c.addr(1), "leader", "error"} {
		for dir, b := range map[string][]byte{"to the member": toServer, "to the joiner": toClient} {
			if bytes.Contains(b, []byte(plain)) {
				t.Errorf("%q crossed the wire in plaintext %s", plain, dir)
			}
		}
	}
}

// TestHandshakeAbandonedByPeerIsNotCalledWrongSecret is Found 13's log
// line: a member that gives up on a handshake (as a peer does when this
// node was stopped with SIGSTOP long enough) must not be reported as one
// that may hold a different secret.
func TestHandshakeAbandonedByPeerIsNotCalledWrongSecret(t *testing.T) {
	log, _ := captureLog(t)
	all := &allHook{}
	log.Logger.AddHook(all)
	m, err := listenMux(Config{RaftListen: "127.0.0.1:0", Secret: testSecret}, log)
	if err != nil {
		t.Fatal(err)
	}
	m.start(func(net.Conn) { t.Error("an abandoned handshake was served") })
	t.Cleanup(func() { _ = m.Close() })

	// A real hello, then the client hangs up without waiting.
	raw, err := net.Dial("tcp", m.advertise.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = raw.Write(append(magicClient[:], make([]byte, nonceLen)...))
	_ = raw.Close()

	var line logLine
	waitForWithin(t, 10*time.Second, "abandoned handshake logged", func() bool {
		var ok bool
		line, ok = all.find("hung up during the handshake")
		return ok
	})
	if err, _ := line.fields["error"].(error); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("logged with error %v", line.fields["error"])
	}
	for _, l := range all.lines() {
		text := l.msg + fmt.Sprint(l.fields)
		if strings.Contains(text, "secret") {
			t.Fatalf("an abandoned handshake was logged as %q %v", l.msg, l.fields)
		}
	}
}

// allHook keeps every log line, at every level.
type allHook struct{ logHook }

func (h *allHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *allHook) lines() []logLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logLine(nil), h.entries...)
}

// A member of a version whose frames crossed in plaintext is refused with
// a warning that says to upgrade it, not that its secret is wrong.
func TestProtocol1PeerIsToldToUpgrade(t *testing.T) {
	server, hook := mustMux(t, testSecret, nil, func(net.Conn) { t.Error("a protocol 1 peer was served") })
	raw, err := net.Dial("tcp", server.advertise.String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_, _ = raw.Write(append(magicClientV1[:], make([]byte, nonceLen)...))
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := raw.Read(make([]byte, 64)); err == nil {
		t.Fatalf("a protocol 1 peer read %d bytes back", n)
	}
	waitForWithin(t, 5*time.Second, "refusal logged", func() bool {
		line, ok := hook.find("dropped unauthenticated cluster connection")
		return ok && strings.Contains(line.fields["error"].(error).Error(), "upgrade")
	})
}

// Raft's stream is sealed the same way: a byte flipped on the path ends it
// with errTampered before raft reads anything.
func TestTamperedRaftFrameEndsTheStream(t *testing.T) {
	server, hook := mustMux(t, testSecret, nil, nil)
	client, _ := mustMux(t, testSecret, nil, nil)
	proxy := startTapProxy(t, server.advertise.String(), clientHandshakeLen+recordHeaderLen+3)

	errc := make(chan error, 1)
	go func() {
		c, err := raftStream{client}.Dial(raft.ServerAddress(proxy.addr()), 5*time.Second)
		if err == nil {
			_, err = c.Write([]byte("an AppendEntries request, as raft would write it"))
		}
		errc <- err
	}()
	accepted, err := raftStream{server}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("dial and write: %v", err)
	}
	_ = accepted.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := accepted.Read(make([]byte, 256))
	if n != 0 || !errors.Is(err, errTampered) {
		t.Fatalf("raft read %d bytes, %v; want nothing and errTampered", n, err)
	}
	if _, ok := hook.find("a frame failed authentication"); !ok {
		t.Fatal("the tampering was not logged")
	}
}
