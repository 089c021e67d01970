package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestKill9LosesNoAcknowledgedMessage ingests 10,000 messages from several
// clients, kills the daemon with SIGKILL in the middle, restarts it, sends
// again whatever was not acknowledged, and checks through the S3 API that
// every acknowledged message is stored exactly once.
func TestKill9LosesNoAcknowledgedMessage(t *testing.T) {
	s3 := sharedMinIO(t)
	bucket := "e2e-kill-" + randomSuffix()
	d := newDaemon(t, s3, bucket, "")
	d.start()

	const total, batch, clients = 10000, 50, 4
	var (
		mu     sync.Mutex
		acked  = map[string]bool{} // id/v0
		unsent []int               // batch starts not acknowledged
		killed = make(chan struct{})
	)
	starts := make(chan int, total/batch)
	for i := 0; i < total; i += batch {
		starts <- i
	}
	close(starts)
	body := func(start int) []byte {
		var b bytes.Buffer
		for i := start; i < start+batch; i++ {
			b.Write(message(i, fmt.Sprintf("trade confirmation %d", i)))
		}
		return b.Bytes()
	}
	var wg sync.WaitGroup
	var sent sync.WaitGroup
	sent.Add(1)
	var half sync.Once
	var done int
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range starts {
				code, _, acc, err := d.post("/v1/messages", body(s))
				mu.Lock()
				if err == nil && code == http.StatusAccepted {
					for _, a := range acc {
						acked[a.ID+"/v0"] = true
					}
					done++
					if done == total/batch/2 {
						half.Do(sent.Done)
					}
				} else {
					unsent = append(unsent, s)
				}
				mu.Unlock()
			}
		}()
	}
	go func() {
		sent.Wait()
		d.kill() // mid-stream, no shutdown
		close(killed)
	}()
	wg.Wait()
	<-killed
	mu.Lock()
	ackedBeforeKill := len(acked)
	mu.Unlock()
	if ackedBeforeKill == 0 || ackedBeforeKill == total {
		t.Fatalf("kill did not land mid-stream: %d of %d acknowledged", ackedBeforeKill, total)
	}
	t.Logf("acknowledged before kill -9: %d; to resend: %d batches", ackedBeforeKill, len(unsent))

	d.start()
	for _, s := range unsent {
		code, _, acc, err := d.post("/v1/messages", body(s))
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("resend after restart: %d %v", code, err)
		}
		for _, a := range acc {
			acked[a.ID+"/v0"] = true
		}
	}
	if len(acked) != total {
		t.Fatalf("%d distinct messages acknowledged, want %d", len(acked), total)
	}
	d.waitDrained(60 * time.Second)

	counts, objects := bucketRecords(t, minioClient(t, s3), bucket)
	for id := range acked {
		if counts[id] != 1 {
			t.Fatalf("acknowledged %s is stored %d times", id, counts[id])
		}
	}
	if len(counts) != total {
		t.Fatalf("bucket holds %d message versions, want %d", len(counts), total)
	}
	seen := map[string]bool{}
	for _, o := range objects {
		if seen[o.Key] {
			t.Fatalf("segment %s was written twice", o.Key)
		}
		seen[o.Key] = true
	}
}

// TestWORMInMinIO checks, through the S3 API and not through holdfast, what
// an examiner would: every segment is under COMPLIANCE retention at least as
// long as each record inside; a locked version cannot be deleted; a record
// re-read from its segment matches its hash; edits are versions.
func TestWORMInMinIO(t *testing.T) {
	s3 := sharedMinIO(t)
	bucket := "e2e-worm-" + randomSuffix()
	d := newDaemon(t, s3, bucket, "")
	d.start()
	var body bytes.Buffer
	for i := 0; i < 200; i++ {
		body.Write(message(i, "兹确认交易 "+strconv.Itoa(i)))
	}
	body.WriteString(`{"platform":"generic","tenant":"acme","source_id":"e2e-7","action":"edit","conversation":{"id":"room-7"},"from":{"id":"user-7"},"sent_at":"2026-11-20T11:00:00Z","text":"corrected"}` + "\n")
	code, _, acc, err := d.post("/v1/messages?ack=stored", body.Bytes())
	if err != nil || code != http.StatusAccepted || len(acc) != 201 {
		t.Fatalf("ingest: %d %v (%d accepted)", code, err, len(acc))
	}
	if acc[200].ID != acc[7].ID || acc[200].Version != 1 {
		t.Fatalf("edit became %+v, original %+v", acc[200], acc[7])
	}
	c := minioClient(t, s3)
	ctx := context.Background()
	counts, objects := bucketRecords(t, c, bucket)
	if len(counts) != 201 || len(objects) == 0 {
		t.Fatalf("bucket holds %d versions in %d objects", len(counts), len(objects))
	}
	// Every record was stamped sent_at + 7y.
	wantUntil := time.Date(2033, 11, 20, 11, 0, 0, 0, time.UTC)
	for _, o := range objects {
		mode, until, err := c.GetObjectRetention(ctx, bucket, o.Key, o.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		if mode == nil || *mode != minio.Compliance {
			t.Fatalf("%s retention mode %v, want COMPLIANCE", o.Key, mode)
		}
		if until == nil || until.Before(wantUntil) {
			t.Fatalf("%s retained until %v, records need %v", o.Key, until, wantUntil)
		}
		err = c.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID})
		if err == nil {
			t.Fatalf("MinIO deleted locked version %s of %s", o.VersionID, o.Key)
		}
	}
	// Still there after the refused deletes.
	after, _ := bucketRecords(t, c, bucket)
	if len(after) != 201 {
		t.Fatalf("after delete attempts the bucket holds %d versions", len(after))
	}
	// Read back through the API: both versions, hashes intact.
	req, _ := http.NewRequest(http.MethodGet, d.url+"/v1/messages/"+acc[7].ID, nil)
	req.Header.Set("Authorization", "Bearer "+supervisorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(buf.String(), "corrected") || !strings.Contains(buf.String(), acc[7].SHA256) {
		t.Fatalf("GET message: %d %s", resp.StatusCode, buf.String())
	}
}

// TestBucketWithoutObjectLockIsRefused: holdfast must not start on a bucket
// that cannot keep records immutable.
func TestBucketWithoutObjectLockIsRefused(t *testing.T) {
	s3 := sharedMinIO(t)
	bucket := "e2e-nolock-" + randomSuffix()
	if err := minioClient(t, s3).MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, s3, bucket, "")
	out, err := execOutput(d.bin, "serve", "-config", d.cfgPath)
	if err == nil {
		t.Fatal("holdfast started on a bucket without Object Lock")
	}
	if !strings.Contains(out, "Object Lock") {
		t.Fatalf("error does not say why: %s", out)
	}
}

// TestSIGTERMStoresWhatIsSpooled: a graceful stop seals and uploads what the
// spool holds before the process exits, rather than leaving it for later.
func TestSIGTERMStoresWhatIsSpooled(t *testing.T) {
	s3 := sharedMinIO(t)
	bucket := "e2e-term-" + randomSuffix()
	// A long max_age: nothing would be sealed by age before the stop.
	d := newDaemon(t, s3, bucket, "")
	d.cfgPath = rewriteConfig(t, d.cfgPath, "max_age: 500ms", "max_age: 1h")
	d.start()
	var body bytes.Buffer
	for i := 0; i < 300; i++ {
		body.Write(message(i, "spooled at shutdown"))
	}
	code, _, acc, err := d.post("/v1/messages", body.Bytes())
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("ingest: %d %v", code, err)
	}
	d.terminate()
	counts, _ := bucketRecords(t, minioClient(t, s3), bucket)
	for _, a := range acc {
		if counts[a.ID+"/v0"] != 1 {
			t.Fatalf("%s stored %d times after SIGTERM", a.ID, counts[a.ID+"/v0"])
		}
	}
}
