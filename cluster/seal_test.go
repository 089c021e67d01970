package cluster

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// mustKeys makes a process key pair.
func mustKeys() *keyAgreement {
	k, err := newKeyAgreement()
	if err != nil {
		panic(err)
	}
	return k
}

// testSessions returns the two ends of a session, as a handshake makes them.
func testSessions(t *testing.T) (client, server *session) {
	t.Helper()
	ck, sk := mustKeys(), mustKeys()
	nc, ns := make([]byte, nonceLen), make([]byte, nonceLen)
	_, _ = rand.Read(nc)
	_, _ = rand.Read(ns)
	th := transcript(nc, ns, serviceRPC, ck.pub, sk.pub)
	client, err := deriveSession([]byte(testSecret), ck, sk.pub, th, false)
	if err != nil {
		t.Fatal(err)
	}
	server, err = deriveSession([]byte(testSecret), sk, ck.pub, th, true)
	if err != nil {
		t.Fatal(err)
	}
	return client, server
}

// streamConn is a net.Conn that reads from r and writes to w.
type streamConn struct {
	net.Conn
	r      io.Reader
	w      io.Writer
	closed bool
}

func (c *streamConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *streamConn) Write(b []byte) (int, error) { return c.w.Write(b) }
func (c *streamConn) Close() error                { c.closed = true; return nil }

// sealRecords seals each message into its own record and returns them.
func sealRecords(t *testing.T, s *session, msgs ...string) [][]byte {
	t.Helper()
	var out [][]byte
	var buf bytes.Buffer
	w := newSealedConn(&streamConn{w: &buf}, s, nil)
	for _, m := range msgs {
		if _, err := w.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(buf.Bytes()))
		buf.Reset()
	}
	return out
}

// openStream reads stream through a sealedConn of s and returns what it
// read before the first error, how often onTamper ran, and the error.
func openStream(s *session, stream []byte) (string, int, error) {
	tampers := 0
	conn := &streamConn{r: bytes.NewReader(stream)}
	r := newSealedConn(conn, s, func(error) { tampers++ })
	var got bytes.Buffer
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			if errors.Is(err, errTampered) && !conn.closed {
				return got.String(), tampers, errors.New("tampered but not closed")
			}
			return got.String(), tampers, err
		}
	}
}

func TestSealedRecordsRefuseTampering(t *testing.T) {
	client, server := testSessions(t)
	recs := sealRecords(t, client, "one,", "two,", "three")
	other, _ := testSessions(t)
	foreign := sealRecords(t, other, "one,", "two,")

	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	if got, _, err := openStream(server, join(recs...)); got != "one,two,three" || err != io.EOF {
		t.Fatalf("intact stream: %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		stream []byte
		want   string
	}{
		"replayed":                 {join(recs[0], recs[0], recs[1]), "one,"},
		"reordered":                {join(recs[1], recs[0]), ""},
		"dropped":                  {join(recs[0], recs[2]), "one,"},
		"from another connection":  {join(recs[0], foreign[1]), "one,"},
		"the client's own replies": {join(sealRecords(t, server, "one,")...), ""},
		"oversized":                {join(recs[0], []byte{0x7f, 0xff, 0xff, 0xff}), "one,"},
	} {
		got, tampers, err := openStream(server, tc.stream)
		if got != tc.want || !errors.Is(err, errTampered) || tampers != 1 {
			t.Errorf("%s: read %q, %v (%d reports), want %q then errTampered reported once", name, got, err, tampers, tc.want)
		}
	}
	// Every single bit flipped anywhere in a record is caught.
	for i := range len(recs[1]) * 8 {
		bad := bytes.Clone(recs[1])
		bad[i/8] ^= 1 << (i % 8)
		got, _, err := openStream(server, join(recs[0], bad, recs[2]))
		if got != "one," || !errors.Is(err, errTampered) {
			if i/8 < recordHeaderLen && errors.Is(err, io.ErrUnexpectedEOF) {
				continue // a longer length runs past the end of the stream
			}
			t.Fatalf("bit %d flipped: read %q, %v", i, got, err)
		}
	}
	// A stream cut mid-record is a cut, not a clean end.
	_, _, err := openStream(server, join(recs[0], recs[1][:9]))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut stream: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestSealedConnCarriesLargeWritesBothWays(t *testing.T) {
	client, server := testSessions(t)
	a, b := net.Pipe()
	ca, cb := newSealedConn(a, client, nil), newSealedConn(b, server, nil)
	defer ca.Close()
	defer cb.Close()
	big := bytes.Repeat([]byte("holdfast "), 3*maxRecordPlain/9+123)
	var wg sync.WaitGroup
	for _, pair := range [][2]net.Conn{{ca, cb}, {cb, ca}} {
		wg.Go(func() {
			if n, err := pair[0].Write(big); err != nil || n != len(big) {
				t.Errorf("write: %d, %v", n, err)
			}
		})
		wg.Go(func() {
			got := make([]byte, len(big))
			if _, err := io.ReadFull(pair[1], got); err != nil || !bytes.Equal(got, big) {
				t.Errorf("read back %d bytes, %v", len(got), err)
			}
		})
	}
	wg.Wait()
}

// A read deadline that passes mid-record loses nothing: the rest of the
// record is read on the next call.
func TestSealedConnReadResumesAfterTimeout(t *testing.T) {
	client, server := testSessions(t)
	rec := sealRecords(t, client, "after the pause")[0]
	a, b := net.Pipe()
	defer a.Close()
	r := newSealedConn(b, server, nil)
	defer r.Close()
	go func() { _, _ = a.Write(rec[:10]) }()
	_ = r.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := r.Read(make([]byte, 64)); !isTimeout(err) {
		t.Fatalf("read with half a record: %v, want a timeout", err)
	}
	go func() { _, _ = a.Write(rec[10:]) }()
	_ = r.SetReadDeadline(time.Time{})
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "after the pause" {
		t.Fatalf("read after the timeout: %q, %v", buf[:n], err)
	}
}

// What crosses the wire after the handshake shows nothing of what was sent.
func TestSealedRecordsHideTheirContent(t *testing.T) {
	client, _ := testSessions(t)
	recs := sealRecords(t, client, `{"op":"join","id":"node2"}`)
	for _, plain := range []string{"op", "join", "node2"} {
		if strings.Contains(string(recs[0]), plain) {
			t.Fatalf("%q in the record", plain)
		}
	}
}

// Two connections between the same two processes share the X25519 result
// but not their keys: a record of one does not open on the other.
func TestRecordsDoNotCrossConnectionsOfTheSameProcesses(t *testing.T) {
	ck, sk := mustKeys(), mustKeys()
	session := func(server bool) *session {
		nc, ns := make([]byte, nonceLen), make([]byte, nonceLen)
		_, _ = rand.Read(nc)
		_, _ = rand.Read(ns)
		th := transcript(nc, ns, serviceRaft, ck.pub, sk.pub)
		own, peer := ck, sk.pub
		if server {
			own, peer = sk, ck.pub
		}
		s, err := deriveSession([]byte(testSecret), own, peer, th, server)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := sealRecords(t, session(false), "on the first connection")
	if _, _, err := openStream(session(true), first[0]); !errors.Is(err, errTampered) {
		t.Fatalf("a record moved to another connection: %v, want errTampered", err)
	}
}

func TestKeyAgreement(t *testing.T) {
	a, b := mustKeys(), mustKeys()
	ab, err := a.sharedWith(b.pub)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := b.sharedWith(a.pub)
	if err != nil || !bytes.Equal(ab, ba) {
		t.Fatalf("the two ends disagree: %x, %x, %v", ab, ba, err)
	}
	if _, err := a.sharedWith(make([]byte, pubLen)); err == nil {
		t.Fatal("a low-order peer key was accepted")
	}
	if _, err := a.sharedWith([]byte("short")); err == nil {
		t.Fatal("a short peer key was accepted")
	}
	for range maxSharedKeys + 10 {
		if _, err := a.sharedWith(mustKeys().pub); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.shared); n > maxSharedKeys {
		t.Fatalf("the cache holds %d results, more than %d", n, maxSharedKeys)
	}
}
