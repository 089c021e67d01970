package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// Log lines about dropped connections: at most warnBurst per warnInterval
// of each kind, so that a flood of connections is not a flood of lines.
const (
	warnBurst    = 10
	warnInterval = time.Minute
)

// mux is the cluster's one listener, on Config.RaftListen. Every inbound
// connection is authenticated (mutual TLS when configured, then the secret
// handshake of handshake.go) before anything reads from it, sealed
// (seal.go), then handed to the service the client chose: raft's
// NetworkTransport (through raftStream) or the cluster RPC. It also dials,
// the same way. Handshakes are bounded in time (Config.HandshakeTimeout)
// and in number (admit.go).
//
// It tracks every connection it hands out, inbound or outbound, and closes
// them all in Close: raft's NetworkTransport closes neither its pooled
// connections nor the ones it accepted.
type mux struct {
	log       *logrus.Entry
	secret    []byte      // nil: authenticate nobody, dial nobody
	serverTLS *tls.Config // nil without TLS
	clientTLS *tls.Config
	timeout   time.Duration // of one handshake
	kx        *keyAgreement // this process's X25519 key
	ln        net.Listener
	advertise net.Addr

	raftConns chan net.Conn  // authenticated raft connections for raftStream.Accept
	serveRPC  func(net.Conn) // serves one authenticated RPC connection; set by start

	done       chan struct{} // closed by Close
	acceptDone chan struct{} // closed when the accept loop returns
	started    bool
	closeOnce  sync.Once
	adm        *admission // inbound handshakes in progress
	warnings   logLimiter // of dropped connections
	hangups    logLimiter // of handshakes the peer abandoned
	wg         sync.WaitGroup

	mu     sync.Mutex
	conns  map[*muxConn]struct{}
	closed bool
}

// listenMux listens on cfg.RaftListen. The advertised address is the one
// configured, resolved, with the port the listener got when it was 0; an
// unspecified host (0.0.0.0) cannot be advertised and is refused.
func listenMux(cfg Config, log *logrus.Entry) (*mux, error) {
	cfg = cfg.withDefaults()
	tcp, err := net.ResolveTCPAddr("tcp", cfg.RaftListen)
	if err != nil {
		return nil, fmt.Errorf("raft listen %s: %w", cfg.RaftListen, err)
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return nil, fmt.Errorf("raft listen %s: an unspecified address cannot be advertised to peers", cfg.RaftListen)
	}
	ln, err := net.Listen("tcp", cfg.RaftListen)
	if err != nil {
		return nil, fmt.Errorf("raft listen %s: %w", cfg.RaftListen, err)
	}
	if tcp.Port == 0 {
		tcp.Port = ln.Addr().(*net.TCPAddr).Port
	}
	kx, err := newKeyAgreement()
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	m := &mux{
		log:        log,
		ln:         ln,
		advertise:  tcp,
		raftConns:  make(chan net.Conn),
		done:       make(chan struct{}),
		acceptDone: make(chan struct{}),
		timeout:    cfg.HandshakeTimeout,
		kx:         kx,
		adm:        newAdmission(cfg.MaxHandshakesPerAddr, cfg.MaxHandshakes),
		warnings:   logLimiter{burst: warnBurst, interval: warnInterval},
		hangups:    logLimiter{burst: warnBurst, interval: warnInterval},
		conns:      make(map[*muxConn]struct{}),
	}
	if cfg.Secret != "" {
		m.secret = []byte(cfg.Secret)
	}
	if cfg.TLS != nil {
		m.clientTLS = cfg.TLS.Clone()
		m.serverTLS = cfg.TLS.Clone()
		m.serverTLS.ClientAuth = tls.RequireAndVerifyClientCert
		if m.serverTLS.ClientCAs == nil {
			m.serverTLS.ClientCAs = m.serverTLS.RootCAs
		}
	}
	return m, nil
}

// start accepts connections, handing RPC ones to serveRPC.
func (m *mux) start(serveRPC func(net.Conn)) {
	m.serveRPC = serveRPC
	m.started = true
	go m.acceptLoop()
}

func (m *mux) acceptLoop() {
	defer close(m.acceptDone)
	var delay time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.log.WithError(err).Error("accept cluster connection")
			select {
			case <-m.done:
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		p := m.adm.admit(c)
		m.wg.Go(func() { m.handle(p) })
	}
}

// handle authenticates an inbound connection and dispatches it.
func (m *mux) handle(p *pendingConn) {
	c := p.conn
	conn, service, err := m.authenticate(c)
	m.adm.done(p)
	if err != nil {
		_ = c.Close()
		m.logDropped(p, err)
		return
	}
	tc, ok := m.track(conn)
	if !ok {
		return
	}
	switch service {
	case serviceRaft:
		select {
		case m.raftConns <- tc:
		case <-m.done:
			_ = tc.Close()
		}
	case serviceRPC:
		m.serveRPC(tc)
	}
}

// logDropped says why an inbound connection was dropped before it was
// authenticated, in words that match what happened.
func (m *mux) logDropped(p *pendingConn, err error) {
	remote := m.log.WithField("remote_addr", p.conn.RemoteAddr().String())
	log := remote.WithError(err)
	select {
	case <-m.done: // closed mid-handshake: not the peer's fault
		return
	default:
	}
	switch {
	case p.evicted.Load(): // err is only the closed connection
		if m.warnings.allow(m.log) {
			remote.WithFields(logrus.Fields{"pending": m.adm.pending(), "dropped_total": m.adm.evicted.Load()}).
				Warn("dropped a pending cluster handshake: too many in progress from its address or in all")
		}
	case errors.Is(err, errPeerHungUp):
		// A member that gave up waiting (this node was stopped or slow,
		// as after SIGSTOP) or a client that went away.
		if m.hangups.allow(m.log) {
			log.Info("cluster peer hung up during the handshake")
		}
	case isTimeout(err):
		if m.warnings.allow(m.log) {
			log.WithField("timeout", m.timeout).Warn("dropped cluster connection: handshake not completed in time")
		}
	default:
		if m.warnings.allow(m.log) {
			log.Warn("dropped unauthenticated cluster connection")
		}
	}
}

// errNoSecretHere is the refusal of a node without a secret.
var errNoSecretHere = errors.New("this node has no cluster secret and accepts no peers")

// authenticate runs the server side of TLS (when configured) and of the
// secret handshake under one deadline, and returns the sealed connection.
func (m *mux) authenticate(c net.Conn) (net.Conn, byte, error) {
	if m.secret == nil {
		return nil, 0, errNoSecretHere
	}
	if err := c.SetDeadline(time.Now().Add(m.timeout)); err != nil {
		return nil, 0, err
	}
	conn := c
	if m.serverTLS != nil {
		tc := tls.Server(c, m.serverTLS)
		if err := tc.Handshake(); err != nil {
			if hungUp(err) {
				return nil, 0, fmt.Errorf("tls: %w: %w", errPeerHungUp, err)
			}
			return nil, 0, fmt.Errorf("tls: %w", err)
		}
		conn = tc
	}
	service, s, err := serverHandshake(conn, m.secret, m.kx)
	if err != nil {
		return nil, 0, err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, 0, err
	}
	return m.seal(conn, s), service, nil
}

// seal wraps an authenticated connection in its session, logging a record
// that fails to open.
func (m *mux) seal(conn net.Conn, s *session) net.Conn {
	remote := conn.RemoteAddr().String()
	return newSealedConn(conn, s, func(err error) {
		m.log.WithFields(logrus.Fields{"remote_addr": remote, "service": string(s.service)}).WithError(err).
			Warn("dropped cluster connection: a frame failed authentication")
	})
}

// dial connects to a member at addr and authenticates for service. ctx
// bounds the dial and both handshakes; the connection returned has no
// deadline.
func (m *mux) dial(ctx context.Context, addr string, service byte) (net.Conn, error) {
	if m.secret == nil {
		return nil, ErrNoSecret
	}
	select {
	case <-m.done:
		return nil, ErrClosed
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	conn, err := m.clientAuthenticate(ctx, raw, addr, service, deadline)
	if !stop() && err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	tc, ok := m.track(conn)
	if !ok {
		return nil, ErrClosed
	}
	return tc, nil
}

func (m *mux) clientAuthenticate(ctx context.Context, raw net.Conn, addr string, service byte, deadline time.Time) (net.Conn, error) {
	if err := raw.SetDeadline(deadline); err != nil {
		return nil, err
	}
	conn := raw
	if m.clientTLS != nil {
		cfg := m.clientTLS
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		conn = tc
	}
	s, err := clientHandshake(conn, m.secret, m.kx, service)
	if err != nil {
		return nil, err
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return m.seal(conn, s), nil
}

// track registers conn so that Close closes it; ok is false (and conn is
// closed) when the mux is closed already.
func (m *mux) track(conn net.Conn) (*muxConn, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		_ = conn.Close()
		return nil, false
	}
	c := &muxConn{Conn: conn, m: m}
	m.conns[c] = struct{}{}
	return c, true
}

// Close stops accepting, closes every connection handed out and waits for
// the handshakes and RPC handlers. It is idempotent.
func (m *mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.done)
		err = m.ln.Close()
		if m.started {
			<-m.acceptDone
		}
		m.mu.Lock()
		m.closed = true
		conns := make([]*muxConn, 0, len(m.conns))
		for c := range m.conns {
			conns = append(conns, c)
		}
		m.mu.Unlock()
		for _, c := range conns {
			c.shut.Store(true)
			_ = c.Close()
		}
		m.wg.Wait()
	})
	return err
}

// muxConn is a connection the mux handed out.
type muxConn struct {
	net.Conn
	m    *mux
	once sync.Once
	shut atomic.Bool // closed by mux.Close
}

// Read reads from the connection; once the mux closed it, reads end with
// io.EOF, so that raft takes it for an orderly close and does not log it.
func (c *muxConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && c.shut.Load() {
		err = io.EOF
	}
	return n, err
}

// Close closes the connection and forgets it.
func (c *muxConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		c.m.mu.Lock()
		delete(c.m.conns, c)
		c.m.mu.Unlock()
	})
	return err
}

// raftStream is the mux as raft's StreamLayer: it accepts the raft
// connections the mux authenticated and dials raft connections through it.
type raftStream struct{ m *mux }

var _ raft.StreamLayer = raftStream{}

// Accept returns the next authenticated raft connection.
func (s raftStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.m.raftConns:
		return c, nil
	case <-s.m.done:
		return nil, net.ErrClosed
	}
}

// Close closes the mux: raft's transport is the last user to let go of it.
func (s raftStream) Close() error { return s.m.Close() }

// Addr is the advertised raft address.
func (s raftStream) Addr() net.Addr { return s.m.advertise }

// Dial opens an authenticated raft connection to address.
func (s raftStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.m.dial(ctx, string(address), serviceRaft)
}
