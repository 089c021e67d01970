package e2e

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// TestAckStoredWaitsForDuplicates is Found 10 of issue 11: with MinIO
// stopped, a batch is acked from the spool; the same batch sent again with
// ?ack=stored is all duplicates, and must not answer 202 while those
// records are still only in the spool. It waits, and answers 503 with
// Retry-After once spool.ack_stored_timeout passes; with MinIO back, the
// same request answers 202 only once every record is in the bucket.
func TestAckStoredWaitsForDuplicates(t *testing.T) {
	m := startOwnMinIO(t)
	bucket := "e2e-ackdup-" + randomSuffix()
	d := newDaemon(t, m.env, bucket, "spool: {ack_stored_timeout: 2s}\n")
	d.start()
	// One message stored first: storage worked before the outage.
	if code, _, _, err := d.post("/v1/messages?ack=stored", message(0, "before")); err != nil || code != http.StatusAccepted {
		t.Fatalf("ingest before the outage: %d %v", code, err)
	}

	m.stop()
	var batch bytes.Buffer
	for i := 1; i <= 5; i++ {
		batch.Write(message(i, "spooled while storage is stopped"))
	}
	code, _, acked, err := d.post("/v1/messages", batch.Bytes())
	if err != nil || code != http.StatusAccepted || len(acked) != 5 {
		t.Fatalf("ingest during the outage: %d %v %d", code, err, len(acked))
	}
	code, retry, _, err := d.post("/v1/messages?ack=stored", batch.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || retry == "" {
		t.Fatalf("?ack=stored of duplicates still spooled, storage stopped: %d (Retry-After %q), want 503 with Retry-After", code, retry)
	}

	// With storage back the sender retries, as a 503 asks it to, until
	// the answer is 202.
	m.start()
	var again []accepted
	waitUntil(t, "?ack=stored to answer 202 with storage back", 60*time.Second, func() bool {
		code, _, again, err = d.post("/v1/messages?ack=stored", batch.Bytes())
		if err != nil || (code != http.StatusAccepted && code != http.StatusServiceUnavailable) {
			t.Fatalf("?ack=stored with storage back: %d %v", code, err)
		}
		return code == http.StatusAccepted
	})
	// Answered: so every record of the request is in the bucket now.
	counts, _ := bucketRecords(t, minioClient(t, m.env), bucket)
	for i, a := range again {
		if a.ID != acked[i].ID || a.SHA256 != acked[i].SHA256 {
			t.Fatalf("duplicate %d answered %+v, first ack %+v", i, a, acked[i])
		}
		if counts[a.ID+"/v0"] != 1 {
			t.Fatalf("?ack=stored answered 202 but %s is stored %d times", a.ID, counts[a.ID+"/v0"])
		}
	}
}
