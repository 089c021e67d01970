package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/holdfast/holdfast/archive"
)

// bucketHashes reads every segment version in the bucket through the S3
// API and returns, for each "id/vN", the sha256 of every record of it.
func bucketHashes(t testing.TB, c *minio.Client, bucket string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	scanBucket(t, c, bucket, func(m archive.Message) {
		k := fmt.Sprintf("%s/v%d", m.ID, m.Version)
		out[k] = append(out[k], m.SHA256)
	})
	return out
}

// versionsOf reads GET /v1/messages/{id} on d: the versions d shows.
func (d *daemon) versionsOf(t testing.TB, id string) []accepted {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.url+"/v1/messages/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+supervisorToken)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/messages/%s: %d %s", id, resp.StatusCode, b)
	}
	var out struct {
		Versions []accepted `json:"versions"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET /v1/messages/%s: %v: %s", id, err, b)
	}
	return out.Versions
}

// checkOnceEverywhere checks that each of ids has exactly one record of
// version 0 in the bucket, and that every node's search and message read
// show that record (its hash) and no other.
func (c *testCluster) checkOnceEverywhere(ids map[string]bool, query string) map[string]string {
	t := c.t
	t.Helper()
	stored := bucketHashes(t, minioClient(t, c.s3), c.bucket)
	sha := map[string]string{}
	for id := range ids {
		if got := stored[id+"/v0"]; len(got) != 1 {
			t.Fatalf("%s v0 has %d records in the bucket, want 1 (hashes %v)", id, len(got), got)
		}
		sha[id] = stored[id+"/v0"][0]
	}
	for i, d := range c.nodes {
		hits := d.search(t, url.Values{"q": {query}, "versions": {"all"}, "consistency": {"strong"}})
		seen := map[string]int{}
		for _, h := range hits {
			seen[h]++
		}
		for id := range ids {
			if seen[id+"/0"] != 1 {
				t.Fatalf("n%d's search shows %s v0 %d times, want once", i+1, id, seen[id+"/0"])
			}
		}
		for id := range ids {
			vs := d.versionsOf(t, id)
			if len(vs) != 1 || vs[0].SHA256 != sha[id] {
				t.Fatalf("n%d shows %s as %+v, want one version with the stored sha256 %s", i+1, id, vs, sha[id])
			}
		}
	}
	return sha
}

// TestOneRecordPerVersionSentToTwoNodes sends 1,000 messages to two nodes
// at once, each batch to both: each version is stored once, both senders
// get the stored hash with ?ack=stored, and every node shows that record.
func TestOneRecordPerVersionSentToTwoNodes(t *testing.T) {
	c := startCluster(t, 3)
	const total, batch = 1000, 50
	var mu sync.Mutex
	ids := map[string]bool{}
	acks := [2]map[string]string{{}, {}} // ?ack=stored answers: id → sha256
	var wg sync.WaitGroup
	for node := 0; node < 2; node++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < total/batch; b++ {
				path := "/v1/messages"
				if b%2 == 0 {
					path += "?ack=stored"
				}
				code, _, acc, err := c.nodes[node].post(path, batchBody(b*batch, batch, "sent twice"))
				if err != nil || code != http.StatusAccepted || len(acc) != batch {
					t.Errorf("n%d: POST %s: %d, %d accepted, %v", node+1, path, code, len(acc), err)
					return
				}
				mu.Lock()
				for _, a := range acc {
					ids[a.ID] = true
					if b%2 == 0 {
						acks[node][a.ID] = a.SHA256
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(ids) != total {
		t.Fatalf("%d distinct ids acknowledged, want %d", len(ids), total)
	}
	c.waitConverged()
	sha := c.checkOnceEverywhere(ids, `"sent twice"`)
	for node, answers := range acks {
		for id, got := range answers {
			if got != sha[id] {
				t.Fatalf("n%d answered ?ack=stored for %s with sha256 %s, but the stored record has %s", node+1, id, got, sha[id])
			}
		}
	}
	if left := c.nodes[0].metric("holdfast_messages_stored_elsewhere_total") +
		c.nodes[1].metric("holdfast_messages_stored_elsewhere_total"); left != total {
		t.Fatalf("%v versions left out as stored by the other node, want %d", left, total)
	}
}

// TestBatchRetriedOnAnotherNodeAfterSIGKILLIsStoredOnce is Found 12: a
// batch sent to the leader as it is killed, retried on a second node, and
// uploaded again from its spool by the restarted leader, is stored once.
func TestBatchRetriedOnAnotherNodeAfterSIGKILLIsStoredOnce(t *testing.T) {
	// The killed node must still hold the batch in its spool when it dies:
	// a long max_age keeps it there, ?ack=stored flushes the second node.
	c := startCluster(t, 3, func(d *daemon) { rewriteConfig(t, d.cfgPath, "max_age: 500ms", "max_age: 10s") })
	const sent, retried = 200, 150
	first := c.leader(c.nodes[0])
	code, _, acc, err := c.nodes[first].post("/v1/messages", batchBody(0, sent, "failover retry"))
	if err != nil || code != http.StatusAccepted || len(acc) != sent {
		t.Fatalf("POST to the leader: %d, %d accepted, %v", code, len(acc), err)
	}
	c.nodes[first].kill()
	ids := map[string]bool{}
	for _, a := range acc {
		ids[a.ID] = true
	}
	for k := range bucketHashes(t, minioClient(t, c.s3), c.bucket) {
		if ids[k[:len(k)-len("/v0")]] {
			t.Fatalf("the leader stored %s before SIGKILL; the test needs the batch spooled", k)
		}
	}
	// The client did not see the answer and retries most of the batch on
	// another node, which accepts it as new.
	second := c.nodes[(first+1)%3]
	code, _, acc2, err := second.post("/v1/messages?ack=stored", batchBody(0, retried, "failover retry"))
	if err != nil || code != http.StatusAccepted || len(acc2) != retried {
		t.Fatalf("retry on n%d: %d, %d accepted, %v", (first+1)%3+1, code, len(acc2), err)
	}
	// The killed node restarts and uploads its spool.
	c.nodes[first].start()
	c.waitConverged()
	sha := c.checkOnceEverywhere(ids, `"failover retry"`)
	for _, a := range acc2 {
		if a.SHA256 != sha[a.ID] {
			t.Fatalf("the retry was answered with sha256 %s for %s, the stored record has %s", a.SHA256, a.ID, sha[a.ID])
		}
	}
	if left := c.nodes[first].metric("holdfast_messages_stored_elsewhere_total"); left != retried {
		t.Fatalf("the restarted node left %v versions out as stored elsewhere, want %d", left, retried)
	}
}
