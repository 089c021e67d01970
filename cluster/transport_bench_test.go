package cluster

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// benchMux listens with the test secret and echoes nothing: RPC
// connections are drained into io.Discard.
func benchMux(b *testing.B) *mux {
	b.Helper()
	m, err := listenMux(Config{RaftListen: "127.0.0.1:0", Secret: testSecret}, testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	m.start(func(c net.Conn) { _, _ = io.Copy(io.Discard, c); _ = c.Close() })
	b.Cleanup(func() { _ = m.Close() })
	return m
}

// BenchmarkMuxDial measures one authenticated, keyed connection: TCP
// connect, handshake, close. The cluster RPC pays it once per call. Under
// a flood, 150 idle half-handshakes are held from another address the
// whole time (Found 5's load), and a member's dial still succeeds.
func BenchmarkMuxDial(b *testing.B) {
	dial := func(b *testing.B, flood bool) {
		server, client := benchMux(b), benchMux(b)
		addr := server.advertise.String()
		if flood {
			startHandshakeFlood(b, []string{addr}, []string{"127.0.0.2"}, 150)
		}
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			c, err := client.dial(ctx, addr, serviceRPC)
			if err != nil {
				b.Fatal(err)
			}
			_ = c.Close()
		}
	}
	b.Run("idle", func(b *testing.B) { dial(b, false) })
	b.Run("under-flood", func(b *testing.B) { dial(b, true) })
}

// BenchmarkMuxThroughput streams 64 KiB writes over loopback TCP, plain
// and through the mux (sealed), in the same run.
func BenchmarkMuxThroughput(b *testing.B) {
	chunk := make([]byte, 64<<10)
	run := func(b *testing.B, c net.Conn) {
		b.SetBytes(int64(len(chunk)))
		b.ResetTimer()
		for b.Loop() {
			if _, err := c.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain-tcp", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
			}
		}()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, c)
	})
	b.Run("sealed", func(b *testing.B) {
		server, client := benchMux(b), benchMux(b)
		c, err := client.dial(context.Background(), server.advertise.String(), serviceRPC)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, c)
	})
}
