package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// cluster is three holdfast processes on 127.0.0.1 sharing one bucket.
type testCluster struct {
	t      *testing.T
	nodes  []*daemon
	s3     s3Env
	bucket string
}

// startCluster starts n nodes; prepare, when given, runs on each node's
// config before it starts.
func startCluster(t *testing.T, n int, prepare ...func(*daemon)) *testCluster {
	t.Helper()
	s3 := sharedMinIO(t)
	c := &testCluster{t: t, s3: s3, bucket: "e2e-cluster-" + randomSuffix()}
	var first string
	for i := 0; i < n; i++ {
		raft := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		var join []string
		if i > 0 {
			join = []string{first}
		} else {
			first = raft
		}
		d := newClusterNode(t, s3, c.bucket, fmt.Sprintf("n%d", i+1), raft, join)
		for _, p := range prepare {
			p(d)
		}
		d.start()
		c.nodes = append(c.nodes, d)
	}
	c.waitMembers(c.nodes[0], n)
	return c
}

type member struct {
	ID         string `json:"id"`
	Role       string `json:"role"`
	Reachable  bool   `json:"reachable"`
	CatalogSeq uint64 `json:"catalog_seq"`
	IndexedSeq uint64 `json:"indexed_seq"`
}

// members reads GET /v1/cluster from d.
func (d *daemon) members() ([]member, error) {
	req, _ := http.NewRequest(http.MethodGet, d.url+"/v1/cluster", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/cluster: %d %s", resp.StatusCode, b)
	}
	var out struct {
		Members []member `json:"members"`
	}
	return out.Members, json.Unmarshal(b, &out)
}

// waitMembers waits until d sees want reachable voters and a leader.
func (c *testCluster) waitMembers(d *daemon, want int) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ms, err := d.members()
		ok, leaders := err == nil && len(ms) == want, 0
		for _, m := range ms {
			ok = ok && m.Reachable && m.Role != "non-voter"
			if m.Role == "leader" {
				leaders++
			}
		}
		if ok && leaders == 1 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster did not form %d members: %+v %v", want, ms, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leader is the index of the node that leads, as node from sees it.
func (c *testCluster) leader(from *daemon) int {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ms, err := from.members(); err == nil {
			for _, m := range ms {
				if m.Role == "leader" && m.Reachable {
					var i int
					fmt.Sscanf(m.ID, "n%d", &i)
					return i - 1
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return -1
}

// waitConverged waits until every node has applied and indexed the whole
// catalog and drained its spool.
func (c *testCluster) waitConverged() {
	c.t.Helper()
	for _, d := range c.nodes {
		d.waitDrained(120 * time.Second)
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		ms, err := c.nodes[0].members()
		done := err == nil && len(ms) == len(c.nodes)
		for _, m := range ms {
			done = done && m.Reachable && m.IndexedSeq == m.CatalogSeq && m.CatalogSeq == ms[0].CatalogSeq
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodes did not converge: %+v %v", ms, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sameAnswers checks that every node gives the same results for queries:
// in the same order for time-sorted queries; as the same set for relevance
// sorts, whose scores depend on each node's own index statistics (segment
// merges), so that near-ties may order differently.
func (c *testCluster) sameAnswers(queries []url.Values) {
	c.t.Helper()
	for _, q := range queries {
		var first string
		for i, d := range c.nodes {
			hits := d.search(c.t, cloneValues(q))
			if q.Get("sort") == "relevance" {
				sort.Strings(hits)
			}
			got := strings.Join(hits, ",")
			if got == "" {
				c.t.Fatalf("node n%d finds nothing for %v", i+1, q)
			}
			if i == 0 {
				first = got
			} else if got != first {
				a, b := strings.Split(first, ","), hits
				dup := map[string]int{}
				for _, h := range b {
					dup[h]++
				}
				var dups []string
				for h, n := range dup {
					if n > 1 {
						dups = append(dups, h)
					}
				}
				c.t.Fatalf("node n%d answers %v differently from n1: %d vs %d hits, %d duplicated on n%d", i+1, q, len(b), len(a), len(dups), i+1)
			}
		}
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func batchBody(from, n int, text string) []byte {
	var b bytes.Buffer
	for i := from; i < from+n; i++ {
		b.Write(message(i, fmt.Sprintf("%s %d", text, i)))
	}
	return b.Bytes()
}

// TestClusterSurvivesLeaderKill ingests into all three nodes at once, kills
// the leader with SIGKILL in the middle, checks a new leader takes over and
// ingest continues, restarts the old leader, and then checks that every
// acknowledged message is in the bucket exactly once and that all three
// nodes answer the same queries identically.
func TestClusterSurvivesLeaderKill(t *testing.T) {
	c := startCluster(t, 3)
	const total, batch = 6000, 50
	batches := total / batch
	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		pending = map[int][]int{} // node → batch starts it did not acknowledge
	)
	killed := -1
	send := func(node, start int) {
		code, _, acc, err := c.nodes[node].post("/v1/messages", batchBody(start, batch, "cluster ingest"))
		mu.Lock()
		defer mu.Unlock()
		if err == nil && code == http.StatusAccepted {
			for _, a := range acc {
				acked[a.ID] = true
			}
			return
		}
		// Unknown outcome: resend to the same node (its ledger makes the
		// resend idempotent) once it is back.
		pending[node] = append(pending[node], start)
	}
	var wg sync.WaitGroup
	for node := 0; node < 3; node++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := node; b < batches; b += 3 {
				send(node, b*batch)
			}
		}()
	}
	// Kill the leader a little into the stream.
	time.Sleep(300 * time.Millisecond)
	killed = c.leader(c.nodes[0])
	c.nodes[killed].kill()
	wg.Wait()
	t.Logf("%s: stream done, n%d killed", time.Now().Format(time.StampMilli), killed+1)
	survivor := c.nodes[(killed+1)%3]
	if newLeader := c.leader(survivor); newLeader == killed {
		t.Fatalf("n%d still reported as leader after kill -9", killed+1)
	}
	// Ingest continues on the survivors.
	for _, i := range []int{(killed + 1) % 3, (killed + 2) % 3} {
		code, _, acc, err := c.nodes[i].post("/v1/messages", batchBody(total+i*batch, batch, "after failover"))
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("ingest on n%d after the leader died: %d %v", i+1, code, err)
		}
		for _, a := range acc {
			acked[a.ID] = true
		}
	}
	// The old leader restarts with its data dir and catches up; what it
	// did not acknowledge is sent to it again.
	c.nodes[killed].start()
	for node, starts := range pending {
		for _, s := range starts {
			code, _, acc, err := c.nodes[node].post("/v1/messages", batchBody(s, batch, "cluster ingest"))
			if err != nil || code != http.StatusAccepted {
				t.Fatalf("resend to n%d: %d %v", node+1, code, err)
			}
			for _, a := range acc {
				acked[a.ID] = true
			}
		}
	}
	t.Logf("%s: old leader back, %d resends done", time.Now().Format(time.StampMilli), len(pending))
	c.waitConverged()
	t.Logf("%s: converged", time.Now().Format(time.StampMilli))
	want := total + 2*batch
	if len(acked) != want {
		t.Fatalf("%d distinct messages acknowledged, want %d", len(acked), want)
	}
	counts, _ := bucketRecords(t, minioClient(t, c.s3), c.bucket)
	for id := range acked {
		if counts[id+"/v0"] != 1 {
			t.Fatalf("acknowledged %s is stored %d times", id, counts[id+"/v0"])
		}
	}
	c.sameAnswers([]url.Values{
		{"q": {"cluster"}}, {"q": {"failover"}}, {"participant": {"user-7"}},
		{"from": {"2026-11-20T10:05:00Z"}, "to": {"2026-11-20T10:06:00Z"}}, {"q": {`"cluster ingest"`}, "sort": {"relevance"}},
	})
	for i, d := range c.nodes {
		if n := len(d.search(t, url.Values{"versions": {"all"}, "consistency": {"strong"}})); n != want {
			t.Fatalf("n%d finds %d messages, want %d", i+1, n, want)
		}
	}
}

// TestClusterQuorumLoss: with one node of three left, ingest still spools
// and acknowledges (storage is reachable) while catalog writes wait; when
// quorum returns nothing is lost.
func TestClusterQuorumLoss(t *testing.T) {
	c := startCluster(t, 3)
	if code, _, _, err := c.nodes[0].post("/v1/messages?ack=stored", batchBody(0, 20, "before")); err != nil || code != http.StatusAccepted {
		t.Fatalf("ingest: %d %v", code, err)
	}
	c.nodes[1].terminate()
	c.nodes[2].terminate()
	acked := map[string]bool{}
	for i := 0; i < 5; i++ {
		code, _, acc, err := c.nodes[0].post("/v1/messages", batchBody(100+i*20, 20, "without quorum"))
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("ingest without quorum: %d %v", code, err)
		}
		for _, a := range acc {
			acked[a.ID] = true
		}
	}
	time.Sleep(2 * time.Second)
	if n := c.nodes[0].metric("holdfast_spool_records"); n <= 0 {
		t.Fatalf("without quorum the spool holds %v records; catalog writes should be waiting", n)
	}
	c.nodes[1].start()
	c.nodes[2].start()
	c.waitConverged()
	counts, _ := bucketRecords(t, minioClient(t, c.s3), c.bucket)
	for id := range acked {
		if counts[id+"/v0"] != 1 {
			t.Fatalf("%s acknowledged without quorum is stored %d times", id, counts[id+"/v0"])
		}
	}
	c.sameAnswers([]url.Values{{"q": {"quorum"}}, {"q": {"before"}}})
}
