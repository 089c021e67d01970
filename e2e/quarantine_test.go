package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// quarantined reads the quarantine records GET /v1/cluster lists on d.
func (d *daemon) quarantined(t testing.TB) []struct {
	Segment, Node, Reason string
	Seq                   uint64
	At                    time.Time
} {
	t.Helper()
	var ans struct {
		Quarantined []struct {
			Segment, Node, Reason string
			Seq                   uint64
			At                    time.Time
		} `json:"quarantined"`
	}
	d.api(t, http.MethodGet, "/v1/cluster", adminToken, nil, &ans)
	return ans.Quarantined
}

// TestQuarantinedSegmentDoesNotStopIndexing: one segment of a three-node
// cluster is corrupt in MinIO (a new object version that does not match
// the catalogued sha256) when every node's indexer reads it — after each
// node's index was rebuilt from the bucket with `holdfast reindex`, which
// leaves the bad object out (or from an empty one). Every node quarantines it through raft,
// indexes on past it, shows it in GET /v1/cluster and its metrics, and
// keeps indexing what comes next: a later message is found on every node,
// with consistency=strong. Once the object is restored, `holdfast repair`
// has every node read it again: its message is found everywhere and the
// quarantine is gone. Before issue 11 every node retried the segment for
// ever (holdfast_index_stuck 1) and the later message was never found.
func TestQuarantinedSegmentDoesNotStopIndexing(t *testing.T) {
	c := startCluster(t, 3)
	mc := minioClient(t, c.s3)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)

	var body bytes.Buffer
	for i := range 30 {
		body.Write(chat("acme", fmt.Sprintf("steady-%d", i), "alice", []string{"bob"}, "room", "steady traffic", now))
	}
	// The doomed message is alone in its tenant, so in a segment of its own.
	body.Write(chat("vault", "doomed-1", "carol", []string{"dave"}, "vault-room", "doomed record", now))
	if code, _, acc, err := c.nodes[0].post("/v1/messages?ack=stored", body.Bytes()); err != nil || code != http.StatusAccepted || len(acc) != 31 {
		t.Fatalf("ingest: %d %v (%d accepted)", code, err, len(acc))
	}
	c.waitConverged()
	hits := c.nodes[0].search(t, url.Values{"q": {"doomed"}, "consistency": {"strong"}})
	if len(hits) != 1 {
		t.Fatalf("doomed message found %d times", len(hits))
	}
	id, _, _ := strings.Cut(hits[0], "/")
	key := c.nodes[0].stored(t, id)[0].Segment

	// Storage now holds the segment corrupt, and every node's index is
	// rebuilt from the bucket.
	for _, d := range c.nodes {
		d.terminate()
	}
	garbage := []byte("these are not the bytes that were catalogued")
	bad, err := mc.PutObject(ctx, c.bucket, key, bytes.NewReader(garbage), int64(len(garbage)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("put a corrupt version of %s: %v", key, err)
	}
	// n1 and n2 start from an empty index, n3 from one `holdfast reindex`
	// rebuilt: it leaves the corrupt object out instead of failing.
	for _, d := range c.nodes[:2] {
		if err := os.RemoveAll(filepath.Join(d.dir, "data", "index")); err != nil {
			t.Fatal(err)
		}
	}
	n3 := c.nodes[2]
	out, err := exec.Command(holdfastBin(t), "reindex", "-config", n3.cfgPath, "-quiet").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "left out, corrupt in storage: "+key) {
		t.Errorf("holdfast reindex with a corrupt segment in the bucket: %v\n%s", err, out)
		if err := os.RemoveAll(filepath.Join(n3.dir, "data", "index")); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range c.nodes {
		d.start()
	}
	c.waitMembers(c.nodes[0], 3)

	// Later messages are indexed on every node, strongly consistent reads
	// answer, nothing is stuck.
	var later bytes.Buffer
	for i := range 20 {
		later.Write(chat("acme", fmt.Sprintf("later-%d", i), "erin", []string{"bob"}, "room", "later traffic", now.Add(time.Minute)))
	}
	if code, _, acc, err := c.nodes[1].post("/v1/messages?ack=stored", later.Bytes()); err != nil || code != http.StatusAccepted || len(acc) != 20 {
		t.Fatalf("ingest later: %d %v", code, err)
	}
	for _, d := range c.nodes {
		if got := len(d.search(t, url.Values{"q": {"later"}, "consistency": {"strong"}})); got != 20 {
			t.Fatalf("%s finds %d later messages with consistency=strong, want 20", d.url, got)
		}
		if got := len(d.search(t, url.Values{"q": {"steady"}})); got != 30 {
			t.Fatalf("%s finds %d of the 30 earlier messages", d.url, got)
		}
		if got := len(d.search(t, url.Values{"q": {"doomed"}})); got != 0 {
			t.Fatalf("%s finds the quarantined message %d times", d.url, got)
		}
		if d.metric("holdfast_index_stuck") != 0 || d.metric("holdfast_index_quarantined_segments") != 1 || d.metric("holdfast_index_quarantined_total") != 1 {
			t.Fatalf("%s metrics: stuck %v, quarantined segments %v, quarantined by this node %v", d.url,
				d.metric("holdfast_index_stuck"), d.metric("holdfast_index_quarantined_segments"), d.metric("holdfast_index_quarantined_total"))
		}
	}
	// Every node quarantines it, and says so.
	waitFor(t, 2*time.Minute, "every node to quarantine the corrupt segment", func() bool {
		qs := c.nodes[1].quarantined(t)
		nodes := map[string]bool{}
		for _, q := range qs {
			if q.Segment == key && q.Seq > 0 && !q.At.IsZero() && strings.Contains(q.Reason, "corrupt") {
				nodes[q.Node] = true
			}
		}
		return len(nodes) == 3
	})
	c.waitConverged()

	// Restored, then repaired: every node reads it again.
	if err := mc.RemoveObject(ctx, c.bucket, key, minio.RemoveObjectOptions{VersionID: bad.VersionID}); err != nil {
		t.Fatalf("remove the corrupt version: %v", err)
	}
	out, err = exec.Command(holdfastBin(t), "repair", key, "-server", c.nodes[2].url, "-token", adminToken).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 segments repaired") {
		t.Fatalf("holdfast repair: %v\n%s", err, out)
	}
	for _, d := range c.nodes {
		waitFor(t, time.Minute, "the repaired message to be found on "+d.url, func() bool {
			return len(d.search(t, url.Values{"q": {"doomed"}, "consistency": {"strong"}})) == 1
		})
		if qs := d.quarantined(t); len(qs) != 0 || d.metric("holdfast_index_quarantined_segments") != 0 {
			t.Fatalf("%s after the repair: quarantined %+v", d.url, qs)
		}
	}
	c.waitConverged()

	// The critical log line names the segment, the node and the reason.
	d := c.nodes[2]
	d.terminate()
	var line string
	for _, l := range strings.Split(d.logs.String(), "\n") {
		if strings.Contains(l, "segment quarantined") {
			line = l
		}
	}
	for _, want := range []string{`"level":"error"`, `"severity":"critical"`, `"segment":"` + key + `"`, `"node":"n3"`, `"reason":`} {
		if !strings.Contains(line, want) {
			t.Fatalf("quarantine log line %q lacks %s", line, want)
		}
	}
}
