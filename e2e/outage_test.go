package e2e

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func execOutput(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// TestStorageOutage stops MinIO under a running daemon: acks continue from
// the spool; MinIO comes back and the spool drains by itself, everything
// stored once; then, with MinIO down again, the spool fills to its limit and
// ingest answers 503 with Retry-After.
func TestStorageOutage(t *testing.T) {
	m := startOwnMinIO(t)
	bucket := "e2e-outage-" + randomSuffix()
	d := newDaemon(t, m.env, bucket, "spool: {max_bytes: 2MiB}\n")
	d.start()

	acked := map[string]bool{}
	send := func(from, n int) {
		t.Helper()
		var b bytes.Buffer
		for i := from; i < from+n; i++ {
			b.Write(message(i, "during outage"))
		}
		code, _, acc, err := d.post("/v1/messages", b.Bytes())
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("ingest %d..%d: %d %v", from, from+n, code, err)
		}
		for _, a := range acc {
			acked[a.ID] = true
		}
	}
	send(0, 100)
	m.stop()
	for i := 100; i < 1000; i += 100 {
		send(i, 100) // acked from the spool while storage is down
	}
	if got := d.metric("holdfast_spool_records"); got <= 0 {
		t.Fatalf("spool holds %v records during the outage", got)
	}
	m.start()
	d.waitDrained(90 * time.Second)
	counts, _ := bucketRecords(t, minioClient(t, m.env), bucket)
	for id := range acked {
		if counts[id+"/v0"] != 1 {
			t.Fatalf("%s stored %d times after the outage", id, counts[id+"/v0"])
		}
	}
	if len(counts) != 1000 {
		t.Fatalf("bucket holds %d versions, want 1000", len(counts))
	}

	// Down again: fill the 2 MiB spool.
	m.stop()
	filler := strings.Repeat("x", 16<<10)
	var got503 bool
	for i := 0; i < 400 && !got503; i++ {
		code, retry, _, err := d.post("/v1/messages", message(10000+i, filler))
		if err != nil {
			t.Fatal(err)
		}
		switch code {
		case http.StatusAccepted:
		case http.StatusServiceUnavailable:
			got503 = true
			if retry == "" {
				t.Fatal("503 without Retry-After")
			}
		default:
			t.Fatalf("filling the spool: %d", code)
		}
	}
	if !got503 {
		t.Fatal("a 2 MiB spool never filled")
	}
	m.start()
	d.waitDrained(90 * time.Second)
	code, _, _, err := d.post("/v1/messages", message(99999, "accepted again"))
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("after storage returned: %d %v", code, err)
	}
}

// TestServeWithoutConfig is `make run`: no config file starts a single node
// on the embedded fs store in ./holdfast-data and prints an admin token once;
// SIGTERM seals and stores what is spooled before exiting.
func TestServeWithoutConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := holdfastBin(t)
	work := t.TempDir()
	// The default listen address may be taken on a shared machine; the
	// test needs it free.
	if l, err := netListen("127.0.0.1:8080"); err != nil {
		t.Skipf("127.0.0.1:8080 is in use: %v", err)
	} else {
		l.Close()
	}
	cmd := exec.Command(bin, "serve")
	cmd.Dir = work
	var logs bytes.Buffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	token := ""
	sc := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`^\s+(hf_\S+)$`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			token = m[1]
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if token == "" {
		t.Fatalf("no admin token printed; logs:\n%s", logs.String())
	}
	waitHTTP(t, "http://127.0.0.1:8080/healthz", 30*time.Second)
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/v1/messages", bytes.NewReader(message(1, "hello from make run")))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingest with the admin token: %d", resp.StatusCode)
	}
	// SIGTERM: graceful stop that uploads the spooled message.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", err, logs.String())
	}
	segs, _ := filepath.Glob(filepath.Join(work, "holdfast-data", "objects", "*"))
	if len(segs) == 0 {
		t.Fatalf("nothing stored under ./holdfast-data/objects; logs:\n%s", logs.String())
	}
	tokens, err := os.ReadFile(filepath.Join(work, "holdfast-data", "tokens.json"))
	if err != nil || strings.Contains(string(tokens), token) {
		t.Fatalf("the admin token must be stored hashed only: %v", err)
	}
	// A second start prints no new token.
	out, _ := runBriefly(t, bin, work)
	if strings.Contains(out, "hf_") {
		t.Fatalf("a second start printed a token again:\n%s", out)
	}
}

func runBriefly(t *testing.T, bin, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	waitHTTP(t, "http://127.0.0.1:8080/healthz", 30*time.Second)
	_ = cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	return out.String(), err
}
