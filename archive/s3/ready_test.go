package s3_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/s3"
)

// hungServer accepts connections and never answers, as a SIGSTOPped
// MinIO does; accepted counts the connections it took.
func hungServer(t *testing.T) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}

// Connect does not talk to the server, and every call against a server
// that hangs ends by its deadline instead of waiting for it.
func TestCallsAgainstAHungServerEndByTheirDeadline(t *testing.T) {
	addr, _ := hungServer(t)
	st, err := s3.Connect(s3.Config{Endpoint: addr, Bucket: "hung-bucket", AccessKey: "k", SecretKey: "s",
		RequestTimeout: 300 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"check": func() error { return st.Check(ctx) },
		"ping":  func() error { return st.Ping(ctx) },
		"stat":  func() error { _, err := st.Stat(ctx, "k"); return err },
		"put": func() error {
			_, err := st.Put(ctx, "k", bytes.NewReader([]byte("x")), 1, archive.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
			return err
		},
	}
	for name, call := range calls {
		errc := make(chan error, 1)
		go func() { errc <- call() }()
		select {
		case err := <-errc:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s against a hung server: %v, want a deadline error", name, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s against a hung server did not return", name)
		}
	}
}

// A store connected while the server was down checks the bucket before
// its first call once the server answers: the bucket is created with
// Object Lock, and objects go in under retention.
func TestConnectedStoreChecksTheBucketOnFirstUse(t *testing.T) {
	cfg := testConfig(t)
	st, err := s3.Connect(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(t.Context(), "k", bytes.NewReader([]byte("x")), 1, archive.PutOptions{RetainUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("first Put on a store that was never checked: %v", err)
	}
	info, err := st.Stat(t.Context(), "k")
	if err != nil || info.Mode != archive.ModeCompliance {
		t.Fatalf("stat: %+v %v", info, err)
	}
	if _, err := s3.Connect(s3.Config{Endpoint: "", Bucket: "b"}, nil); err == nil {
		t.Fatal("Connect without an endpoint succeeded")
	}
}

// Calls made while a check of a hung server runs share its outcome: they
// do not queue behind it, each waiting out the deadline in turn.
func TestConcurrentCallsShareOneBucketCheck(t *testing.T) {
	addr, accepted := hungServer(t)
	st, err := s3.Connect(s3.Config{Endpoint: addr, Bucket: "hung-bucket", AccessKey: "k", SecretKey: "s",
		RequestTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const calls = 8
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Stat(context.Background(), "k")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Fatal("a call against a hung server succeeded")
		}
	}
	// One shared check sends one request (the client may retry it once);
	// checks one after another would each open a connection of their own.
	if n := accepted(); n >= calls {
		t.Fatalf("%d concurrent calls opened %d connections: each ran a bucket check of its own", calls, n)
	}
}
