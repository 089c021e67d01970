package cluster

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Admission of inbound handshakes. Someone who cannot authenticate can
// still open connections and hold them mid-handshake until the deadline.
// Refusing new connections past a cap would hand the port to whoever holds
// the most; instead a new connection is always admitted, and when a cap is
// reached the oldest pending handshake of the busiest source address is
// dropped to make room. A member completes its handshake in a round trip
// or two and has a few at a time at most, so it is never the busiest: a
// flood only ever displaces itself, and established connections are not
// counted at all.
type admission struct {
	perSource int // most pending handshakes of one source
	total     int // most pending handshakes in all

	mu       sync.Mutex
	bySource map[string][]*pendingConn // oldest first
	count    int
	evicted  atomic.Uint64 // handshakes dropped to make room, ever
}

// pendingConn is one inbound connection being authenticated.
type pendingConn struct {
	conn    net.Conn
	source  string
	evicted atomic.Bool // closed by the admission, not by its handshake
}

func newAdmission(perSource, total int) *admission {
	return &admission{perSource: perSource, total: total, bySource: make(map[string][]*pendingConn)}
}

// sourceOf is the address a connection is counted against: its IPv4
// address, or the /64 of an IPv6 one (what one host typically holds).
func sourceOf(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if ip4 := tcp.IP.To4(); ip4 != nil {
		return ip4.String()
	}
	return tcp.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// admit registers c as pending and closes the handshakes it displaces.
func (a *admission) admit(c net.Conn) *pendingConn {
	p := &pendingConn{conn: c, source: sourceOf(c.RemoteAddr())}
	var victims []*pendingConn
	a.mu.Lock()
	if len(a.bySource[p.source]) >= a.perSource {
		victims = append(victims, a.removeOldest(p.source))
	} else if a.count >= a.total {
		victims = append(victims, a.removeOldest(a.busiest()))
	}
	a.bySource[p.source] = append(a.bySource[p.source], p)
	a.count++
	a.mu.Unlock()
	for _, v := range victims {
		v.evicted.Store(true)
		a.evicted.Add(1)
		_ = v.conn.Close()
	}
	return p
}

// done forgets p once its handshake has ended, either way. It is a no-op
// for a handshake already displaced.
func (a *admission) done(p *pendingConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	list := a.bySource[p.source]
	for i, q := range list {
		if q == p {
			a.remove(p.source, i)
			return
		}
	}
}

// busiest is the source with the most pending handshakes. The caller
// holds mu and there is at least one.
func (a *admission) busiest() string {
	best, most := "", 0
	for src, list := range a.bySource {
		if len(list) > most {
			best, most = src, len(list)
		}
	}
	return best
}

// removeOldest removes and returns the oldest pending handshake of src.
// The caller holds mu.
func (a *admission) removeOldest(src string) *pendingConn {
	p := a.bySource[src][0]
	a.remove(src, 0)
	return p
}

func (a *admission) remove(src string, i int) {
	list := a.bySource[src]
	copy(list[i:], list[i+1:])
	list[len(list)-1] = nil
	list = list[:len(list)-1]
	if len(list) == 0 {
		delete(a.bySource, src)
	} else {
		a.bySource[src] = list
	}
	a.count--
}

// pending is how many handshakes are in progress.
func (a *admission) pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count
}

// logLimiter lets through at most burst warnings per interval, so that a
// flood of bad connections cannot turn into a flood of log lines; it says
// how many it held back once the interval is over.
type logLimiter struct {
	burst    int
	interval time.Duration

	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// allow reports whether a line may be logged now, logging first how many
// were held back in the last interval.
func (l *logLimiter) allow(log *logrus.Entry) bool {
	l.mu.Lock()
	now := time.Now()
	var held int
	if now.Sub(l.start) >= l.interval {
		held, l.suppressed = l.suppressed, 0
		l.start, l.n = now, 0
	}
	ok := l.n < l.burst
	if ok {
		l.n++
	} else {
		l.suppressed++
	}
	l.mu.Unlock()
	if held > 0 {
		log.WithField("suppressed", held).Warn("more cluster connections were dropped than logged")
	}
	return ok
}
