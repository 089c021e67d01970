package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/internal/corpus"
)

// TestNodeJoinsAndCatchesUp: a node added to a cluster that already holds
// 100,000 messages gets the catalog (snapshot and log), indexes what it
// lacks from storage, reports its progress, and then answers searches
// exactly as the node that ingested everything.
func TestNodeJoinsAndCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests 100,000 messages")
	}
	dir, err := corpus.Dir()
	if errors.Is(err, corpus.ErrNoData) {
		t.Skipf("no shared data: %v", err)
	}
	msgs, err := corpus.Mixed(dir, 100000)
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 1)
	first := c.nodes[0]
	var bodies [][]byte
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i, m := range msgs {
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
		if (i+1)%1000 == 0 {
			bodies = append(bodies, append([]byte(nil), b.Bytes()...))
			b.Reset()
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(bodies))
	next := make(chan []byte, len(bodies))
	for _, body := range bodies {
		next <- body
	}
	close(next)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range next {
				if code, _, _, err := first.post("/v1/messages", body); err != nil || code != http.StatusAccepted {
					errs <- fmt.Errorf("ingest: %d %v", code, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c.waitConverged()
	t.Logf("100,000 messages ingested and indexed on n1 in %v", time.Since(start).Round(time.Millisecond))

	// Add a node: it joins the running cluster and catches up.
	start = time.Now()
	joiner := newClusterNode(t, c.s3, c.bucket, "n2", fmt.Sprintf("127.0.0.1:%d", freePort(t)), []string{first.raftAddr(t)})
	joiner.start()
	c.nodes = append(c.nodes, joiner)
	c.waitMembers(first, 2)
	if lag := joiner.metric("holdfast_index_lag_segments"); lag < 0 {
		t.Fatalf("the joiner does not report its catch-up progress: %v", lag)
	}
	c.waitConverged()
	t.Logf("n2 joined and caught up in %v", time.Since(start).Round(time.Millisecond))

	sentDay := msgs[0].SentAt.UTC().Format("2006-01-02")
	c.sameAnswers([]url.Values{
		{"q": {"ubuntu"}}, {"q": {"电影"}}, {"q": {`"how do i"`}}, {"platform": {"slack"}, "q": {"function"}},
		{"participant": {msgs[0].From.ID}}, {"from": {sentDay}, "to": {sentDay}},
	})
	all := url.Values{"versions": {"all"}}
	if n1, n2 := len(first.search(t, cloneValues(all))), len(joiner.search(t, cloneValues(all))); n1 != 100000 || n2 != 100000 {
		t.Fatalf("n1 finds %d and n2 %d messages, want 100000 each", n1, n2)
	}
}
