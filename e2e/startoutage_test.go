package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readyz is the daemon's /readyz answer.
func (d *daemon) readyz() (int, map[string]any) {
	resp, err := http.Get(d.url + "/readyz")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// waitUntil polls cond until it holds or limit passes.
func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sendBatch posts messages from..from+n-1 and records their acked ids.
func sendBatch(t *testing.T, d *daemon, acked map[string]bool, from, n int, text string) {
	t.Helper()
	var b bytes.Buffer
	for i := from; i < from+n; i++ {
		b.Write(message(i, text))
	}
	code, _, acc, err := d.post("/v1/messages", b.Bytes())
	if err != nil || code != http.StatusAccepted || len(acc) != n {
		t.Fatalf("ingest %d..%d: %d %v", from, from+n-1, code, err)
	}
	for _, a := range acc {
		acked[a.ID+"/v0"] = true
	}
}

// checkStoredOnce lists the bucket through the S3 API: every acked version
// is stored exactly once, and nothing else is.
func checkStoredOnce(t *testing.T, m *minioServer, bucket string, acked map[string]bool) {
	t.Helper()
	counts, _ := bucketRecords(t, minioClient(t, m.env), bucket)
	for k := range acked {
		if counts[k] != 1 {
			t.Fatalf("%s stored %d times", k, counts[k])
		}
	}
	if len(counts) != len(acked) {
		t.Fatalf("bucket holds %d versions, %d were acked", len(counts), len(acked))
	}
}

// storageUnreachable reports whether /readyz and holdfast_storage_up both
// say storage is unreachable, /readyz with how long ("unreachable for N s").
func storageUnreachable(d *daemon) bool {
	code, r := d.readyz()
	s, _ := r["storage"].(string)
	return code == http.StatusOK && strings.HasPrefix(s, "unreachable for ") && d.metric("holdfast_storage_up") == 0
}

// TestNodeRestartsDuringStorageOutage is Found 11 of issue 11: a node
// SIGKILLed while MinIO is down starts again without storage, acks from
// its spool, says on /readyz that storage is unreachable and since when,
// and uploads everything once MinIO returns, each version once.
func TestNodeRestartsDuringStorageOutage(t *testing.T) {
	m := startOwnMinIO(t)
	bucket := "e2e-startout-" + randomSuffix()
	d := newDaemon(t, m.env, bucket, "")
	d.start()
	acked := map[string]bool{}
	sendBatch(t, d, acked, 0, 100, "before the outage")

	m.stop()
	sendBatch(t, d, acked, 100, 100, "spooled, then the node is killed")
	d.kill()
	d.start() // storage still down
	sendBatch(t, d, acked, 200, 100, "acked by the restarted node, storage down")
	waitUntil(t, "readyz and holdfast_storage_up to say storage is unreachable", 60*time.Second, func() bool { return storageUnreachable(d) })
	if got := d.metric("holdfast_spool_records"); got <= 0 {
		t.Fatalf("spool holds %v records during the outage", got)
	}

	m.start()
	d.waitDrained(90 * time.Second)
	checkStoredOnce(t, m, bucket, acked)
	waitUntil(t, "readyz to say storage is ok", 30*time.Second, func() bool {
		_, r := d.readyz()
		return r["storage"] == "ok" && d.metric("holdfast_storage_up") == 1
	})
}

// TestNodeRestartsWhileStorageHangs: the same with MinIO SIGSTOPped, so
// that connections open and nothing answers. The restart does not wait
// for it, the hang is detected (deadlines on storage calls), ?ack=stored
// answers 503 instead of hanging, and SIGCONT drains the spool.
func TestNodeRestartsWhileStorageHangs(t *testing.T) {
	m := startOwnMinIO(t)
	resume := func() {
		if m.cmd != nil && m.cmd.Process != nil {
			_ = m.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // before m.stop, which runs after: cleanups are LIFO
	bucket := "e2e-starthang-" + randomSuffix()
	d := newDaemon(t, m.env, bucket, "spool: {ack_stored_timeout: 2s}\n")
	d.start()
	acked := map[string]bool{}
	sendBatch(t, d, acked, 0, 50, "before the hang")

	if err := m.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	sendBatch(t, d, acked, 50, 50, "spooled, then the node is killed")
	d.kill()
	d.start()
	sendBatch(t, d, acked, 100, 50, "acked by the restarted node, storage hung")
	code, retry, _, err := d.post("/v1/messages?ack=stored", message(60, "spooled, then the node is killed"))
	if err != nil || code != http.StatusServiceUnavailable || retry == "" {
		t.Fatalf("?ack=stored with storage hung: %d (Retry-After %q) %v, want 503 with Retry-After", code, retry, err)
	}
	waitUntil(t, "readyz and holdfast_storage_up to say storage is unreachable", 90*time.Second, func() bool { return storageUnreachable(d) })

	resume()
	d.waitDrained(120 * time.Second)
	checkStoredOnce(t, m, bucket, acked)
}
