package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestImportResumes: an import interrupted by a failing server resumes,
// when run again, after the last acknowledged batch: no item is skipped,
// and only the batch that failed is sent twice. The summary names each
// rejected item and why.
func TestImportResumes(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "export.ndjson")
	var b strings.Builder
	for i := range 100 {
		if i == 42 {
			b.WriteString("{not json\n") // rejected, named in the summary
			continue
		}
		fmt.Fprintf(&b, `{"msgid":"m%d","action":"send","from":"zhangsan","tolist":["lisi"],"roomid":"","msgtime":%d,"msgtype":"text","text":{"content":"第%d条"}}`+"\n",
			i, time.Date(2026, 11, 1, 0, 0, i, 0, time.UTC).UnixMilli(), i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sent := map[string]int{}
	failAfter := 3 // batches accepted before the server fails
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		var n int
		for sc.Scan() {
			sent[extractSourceID(sc.Text())]++
			n++
		}
		if failAfter == 0 {
			http.Error(w, `{"error":{"code":"unavailable","message":"down"}}`, http.StatusServiceUnavailable)
			return
		}
		failAfter--
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":[%s]}`, strings.TrimSuffix(strings.Repeat(`{"id":"x"},`, n), ","))
	}))
	defer srv.Close()
	args := []string{"-server", srv.URL, "-batch", "10", "wecom", path}
	if err := runImport(context.Background(), args); err == nil {
		t.Fatal("the import did not report the failing server")
	}
	mu.Lock()
	failAfter = -1 // up again, for good
	mu.Unlock()
	out := captureStdout(t, func() {
		if err := runImport(context.Background(), args); err != nil {
			t.Fatal(err)
		}
	})
	for i := range 100 {
		id := fmt.Sprintf("m%d", i)
		switch got := sent[id]; {
		case i == 42:
		case i >= 30 && i < 40 && got != 2: // the failed batch: the ten items after the 30th
			t.Fatalf("%s sent %d times, want 2 (its batch failed once)", id, got)
		case (i < 30 || i >= 40) && got != 1:
			t.Fatalf("%s sent %d times, want once", id, got)
		}
	}
	if !strings.Contains(out, "1 rejected") || !strings.Contains(out, "  rejected ") {
		t.Fatalf("summary:\n%s", out)
	}
}

func extractSourceID(line string) string {
	_, rest, _ := strings.Cut(line, `"source_id":"`)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	fn()
	w.Close()
	os.Stdout = old
	return <-done
}
