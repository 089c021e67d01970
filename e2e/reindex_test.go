package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// search runs GET /v1/search on the daemon, following cursors, and returns
// the ids and versions of every hit in order.
func (d *daemon) search(t testing.TB, params url.Values) []string {
	t.Helper()
	params.Set("size", "500")
	var out []string
	for {
		req, _ := http.NewRequest(http.MethodGet, d.url+"/v1/search?"+params.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+supervisorToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("search %v: %d %s", params, resp.StatusCode, b)
		}
		var r struct {
			Hits []struct {
				ID      string `json:"id"`
				Version int    `json:"version"`
			} `json:"hits"`
			Cursor string `json:"cursor"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		for _, h := range r.Hits {
			out = append(out, h.ID+"/"+string(rune('0'+h.Version)))
		}
		if r.Cursor == "" {
			return out
		}
		params.Set("cursor", r.Cursor)
	}
}

// waitIndexed waits until a search for everything returns want hits.
func (d *daemon) waitIndexed(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if got := len(d.search(t, url.Values{"versions": {"all"}})); got == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%d of %d versions searchable after 60s", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestReindexFromBucketAlone: with the daemon stopped, its index deleted
// and its catalog and spool out of reach, `holdfast reindex` rebuilds the
// index from the bucket, and a fixed set of queries gives identical
// results before and after.
func TestReindexFromBucketAlone(t *testing.T) {
	s3 := sharedMinIO(t)
	d := newDaemon(t, s3, "e2e-reindex-"+randomSuffix(), "")
	d.start()
	var body bytes.Buffer
	texts := []string{"quarterly results for the rates desk", "请确认明天的交易时间", "lunch?", "the swap curve moved 5bp", "我们明天开会讨论交易"}
	for i := 0; i < 400; i++ {
		body.Write(message(i, texts[i%len(texts)]))
	}
	body.WriteString(`{"platform":"generic","tenant":"acme","source_id":"e2e-3","action":"edit","conversation":{"id":"room-3"},"from":{"id":"user-3"},"sent_at":"2026-11-20T11:00:00Z","text":"the swap curve moved 6bp"}` + "\n")
	if code, _, _, err := d.post("/v1/messages?ack=stored", body.Bytes()); err != nil || code != http.StatusAccepted {
		t.Fatalf("ingest: %d %v", code, err)
	}
	d.waitIndexed(t, 401)
	queries := []url.Values{
		{"q": {"swap"}}, {"q": {"交易"}}, {"q": {`"rates desk"`}}, {"participant": {"user-3"}, "versions": {"all"}},
		{"q": {"明天 -开会"}}, {"from": {"2026-11-20T10:02:00Z"}, "to": {"2026-11-20T10:04:00Z"}}, {"sort": {"relevance"}, "q": {"curve"}},
	}
	before := make([]string, len(queries))
	for i, q := range queries {
		before[i] = strings.Join(d.search(t, q), ",")
		if before[i] == "" {
			t.Fatalf("query %v finds nothing", q)
		}
	}
	d.terminate()

	data := filepath.Join(d.dir, "data")
	if err := os.RemoveAll(filepath.Join(data, "index")); err != nil {
		t.Fatal(err)
	}
	// The catalog and spool are moved away: reindex must not need them.
	for _, dir := range []string{"raft", "spool"} {
		if err := os.Rename(filepath.Join(data, dir), filepath.Join(data, dir+".away")); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(d.bin, "reindex", "-config", d.cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("reindex: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "index rebuilt from storage") {
		t.Fatalf("reindex said: %s", out)
	}
	for _, dir := range []string{"raft", "spool"} {
		if err := os.Rename(filepath.Join(data, dir+".away"), filepath.Join(data, dir)); err != nil {
			t.Fatal(err)
		}
	}
	d.start()
	for i, q := range queries {
		if got := strings.Join(d.search(t, q), ","); got != before[i] {
			t.Fatalf("query %v after reindex:\n%s\nbefore:\n%s", q, got, before[i])
		}
	}
	// The CLI client prints a readable table.
	out, err = exec.Command(d.bin, "search", "-server", d.url, "-token", supervisorToken, "-size", "3", "交易").CombinedOutput()
	if err != nil {
		t.Fatalf("holdfast search: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SENT (UTC)") || !strings.Contains(string(out), "交易") || !strings.Contains(string(out), "3 of 160 hits") {
		t.Fatalf("holdfast search printed:\n%s", out)
	}
	// Reindex refuses to run under a live daemon.
	if out, err := exec.Command(d.bin, "reindex", "-config", d.cfgPath).CombinedOutput(); err == nil || !strings.Contains(string(out), "stop it") {
		t.Fatalf("reindex under a running daemon: %v %s", err, out)
	}
}
