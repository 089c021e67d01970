package cluster

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// addrConn is a connection from addr that records Close.
type addrConn struct {
	net.Conn
	addr   net.Addr
	closed atomic.Bool
}

func (c *addrConn) RemoteAddr() net.Addr { return c.addr }
func (c *addrConn) Close() error         { c.closed.Store(true); return nil }

func connFrom(ip string, port int) *addrConn {
	return &addrConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: port}}
}

func TestAdmissionDisplacesTheBusiestSource(t *testing.T) {
	a := newAdmission(4, 10)
	// One address over its cap displaces its own oldest, nobody else's.
	member := connFrom("10.0.0.1", 1)
	a.admit(member)
	var flood []*addrConn
	for i := range 6 {
		c := connFrom("10.9.9.9", 100+i)
		flood = append(flood, c)
		a.admit(c)
	}
	for i, c := range flood {
		if want := i < 2; c.closed.Load() != want {
			t.Fatalf("flood conn %d closed=%v, want %v", i, c.closed.Load(), want)
		}
	}
	if member.closed.Load() {
		t.Fatal("a member's handshake was displaced by a flood from another address")
	}
	// At the total cap, a new source displaces the oldest of the busiest.
	for i := range 5 {
		a.admit(connFrom(fmt.Sprintf("10.1.0.%d", i+1), 1))
	}
	if got := a.pending(); got != 10 {
		t.Fatalf("pending %d, want 10", got)
	}
	newcomer := connFrom("10.0.0.2", 1)
	a.admit(newcomer)
	if !flood[2].closed.Load() || flood[3].closed.Load() || member.closed.Load() || newcomer.closed.Load() {
		t.Fatal("at the total cap the oldest of the busiest address was not the one displaced")
	}
	if got, ev := a.pending(), a.evicted.Load(); got != 10 || ev != 3 {
		t.Fatalf("pending %d, evicted %d; want 10 and 3", got, ev)
	}
}

func TestAdmissionForgetsFinishedHandshakes(t *testing.T) {
	a := newAdmission(2, 2)
	p1 := a.admit(connFrom("10.0.0.1", 1))
	p2 := a.admit(connFrom("10.0.0.1", 2))
	a.done(p1)
	p3 := a.admit(connFrom("10.0.0.1", 3)) // room again: nothing displaced
	if p2.evicted.Load() || p3.evicted.Load() {
		t.Fatal("a handshake was displaced although one had finished")
	}
	p4 := a.admit(connFrom("10.0.0.1", 4))
	if !p2.evicted.Load() {
		t.Fatal("the oldest was not displaced")
	}
	a.done(p2) // displaced already: a no-op
	a.done(p3)
	a.done(p4)
	if got := a.pending(); got != 0 {
		t.Fatalf("pending %d after every handshake ended", got)
	}
}

func TestSourceOf(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:7000":                  "192.0.2.7",
		"[::ffff:192.0.2.7]:7000":         "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:7000":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff:ffff::9]:700": "2001:db8:1:2::/64",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := sourceOf(tcp); got != want {
			t.Errorf("sourceOf(%s) = %s, want %s", addr, got, want)
		}
	}
}

func TestLogLimiter(t *testing.T) {
	log, hook := captureLog(t)
	l := logLimiter{burst: 2, interval: time.Hour}
	var allowed int
	for range 5 {
		if l.allow(log) {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("%d of 5 allowed, want the burst of 2", allowed)
	}
	l.start = time.Now().Add(-2 * time.Hour) // the interval is over
	if !l.allow(log) {
		t.Fatal("not allowed in a new interval")
	}
	line, ok := hook.find("more cluster connections were dropped than logged")
	if !ok || line.fields["suppressed"] != 3 {
		t.Fatalf("summary %v, %v; want 3 suppressed", line, ok)
	}
}
