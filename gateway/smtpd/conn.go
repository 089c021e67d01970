package smtpd

import (
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"
)

// listener tracks the connections it accepts so that Shutdown can close
// the idle ones and, in the end, all of them.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &conn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.conns[tc] = struct{}{}
	l.s.mu.Unlock()
	return tc, nil
}

// drainGrace is how long a client that finished a message while the
// server drains has to say QUIT before its connection is closed.
const drainGrace = time.Second

// conn is one client connection. busy is set while a message is being
// received and stored: a draining server lets it finish.
type conn struct {
	net.Conn
	s    *Server
	busy atomic.Bool
	// graceUntil (unix nanoseconds) is when a draining server stops
	// reading from the idle connection; 0: not set yet.
	graceUntil atomic.Int64
}

// Read stops waiting for commands once the server drains, unless a message
// is in flight: the read then times out (at once for a client that was
// idle, after drainGrace for one that just finished a message), go-smtp
// answers 421 and closes the connection.
func (c *conn) Read(p []byte) (int, error) {
	if c.s.draining.Load() && !c.busy.Load() {
		c.graceUntil.CompareAndSwap(0, time.Now().UnixNano())
		_ = c.Conn.SetReadDeadline(time.Unix(0, c.graceUntil.Load()))
	}
	return c.Conn.Read(p)
}

// startMessage marks a message in flight; the func it returns ends it.
func (c *conn) startMessage() func() {
	c.busy.Store(true)
	return func() {
		c.graceUntil.Store(time.Now().Add(drainGrace).UnixNano())
		c.busy.Store(false)
	}
}

func (c *conn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// wakeIdle interrupts the reads of connections waiting for a command.
func (s *Server) wakeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for c := range s.conns {
		if !c.busy.Load() && c.graceUntil.CompareAndSwap(0, now.UnixNano()) {
			_ = c.Conn.SetReadDeadline(now)
		}
	}
}

// closeAll cuts every connection.
func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Conn.Close()
	}
}

// trackedConn finds the conn under a go-smtp connection (under TLS after
// STARTTLS).
func trackedConn(c net.Conn) *conn {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	tc, _ := c.(*conn)
	return tc
}
