package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// wireTap forwards TCP connections to target and keeps every byte that
// crosses it, both ways.
type wireTap struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	seen   bytes.Buffer
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startWireTap(t *testing.T, target string) *wireTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireTap{ln: ln, target: target}
	w.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			w.mu.Lock()
			w.conns = append(w.conns, c, s)
			w.mu.Unlock()
			w.wg.Go(func() { w.pipe(s, c) })
			w.wg.Go(func() { w.pipe(c, s) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		w.mu.Lock()
		for _, c := range w.conns {
			_ = c.Close()
		}
		w.mu.Unlock()
		w.wg.Wait()
	})
	return w
}

func (w *wireTap) pipe(dst, src net.Conn) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w.mu.Lock()
			w.seen.Write(buf[:n])
			w.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (w *wireTap) captured() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.seen.Bytes())
}

// TestClusterTransportOnTheWire runs two real nodes, the second joining
// through a tap on the first's raft port (Found 6: the join request must
// not cross in plaintext), then stops the second with SIGSTOP while the
// first keeps asking it for its status, and resumes it (Found 13: it must
// log that its peers hung up, not that they may hold another secret).
func TestClusterTransportOnTheWire(t *testing.T) {
	s3 := sharedMinIO(t)
	bucket := "e2e-wire-" + randomSuffix()
	clusterYAML := func(join []string) string {
		j, _ := json.Marshal(join)
		return "{raft_listen: %q, secret: " + clusterSecret + ", join: " + string(j) + ", handshake_timeout: 1s}"
	}
	raft1 := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	n1 := newNode(t, s3, bucket, "n1", raft1, clusterYAML(nil), "")
	n1.start()
	tap := startWireTap(t, raft1)
	raft2 := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	n2 := newNode(t, s3, bucket, "n2", raft2, clusterYAML([]string{tap.ln.Addr().String()}), "")
	n2.start()
	c := &testCluster{t: t, nodes: []*daemon{n1, n2}, s3: s3, bucket: bucket}
	c.waitMembers(n1, 2)

	seen := tap.captured()
	if len(seen) < 200 {
		t.Fatalf("the tap saw %d bytes: the join did not go through it", len(seen))
	}
	for _, plain := range []string{`"op"`, "join", `"n2"`, raft2, "leader"} {
		if bytes.Contains(seen, []byte(plain)) {
			t.Errorf("%q crossed the wire in plaintext", plain)
		}
	}

	// Stop n2; each status call n1 makes meanwhile connects (the kernel
	// accepts for the stopped process), says hello and gives up.
	if err := n2.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ms, err := n1.members()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.ID == "n2" && m.Reachable {
				t.Fatal("a stopped node answered")
			}
		}
	}
	if err := n2.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	c.waitMembers(n1, 2)
	n2.terminate()
	logs := n2.logs.String()
	if !strings.Contains(logs, "hung up during the handshake") {
		t.Errorf("the resumed node did not log its peers' abandoned handshakes; logs:\n%s", tail(logs, 3000))
	}
	for _, wrong := range []string{"different cluster secret", "dropped unauthenticated cluster connection"} {
		if strings.Contains(logs, wrong) {
			t.Errorf("the resumed node logged %q, which is not what happened", wrong)
		}
	}
}
