package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// slackRequest sends body to the Slack webhook signed with secret.
func (n *testNode) slackRequest(body []byte, secret string) (int, []byte) {
	n.t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, n.url+"/v1/sources/slack", bytes.NewReader(body))
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "journal", "testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWebhookSignatures: a platform with a signing secret is authenticated
// by its signature alone; a bad signature is 401 and nothing is archived;
// the URL handshake is answered without archiving anything.
func TestWebhookSignatures(t *testing.T) {
	n := mustStartNode(t, t.TempDir(), mustOpenStore(t))
	event := fixture(t, "slack/events/message.json")

	before := n.gw.metrics.messagesAccepted.v.Load()
	if code, b := n.slackRequest(event, "not-the-secret"); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d %s", code, b)
	}
	if got := n.gw.metrics.messagesAccepted.v.Load(); got != before {
		t.Fatalf("a badly signed delivery archived %d messages", got-before)
	}
	code, b := n.slackRequest(event, testSlackSecret)
	var ans ingestAnswer
	if code != http.StatusAccepted || json.Unmarshal(b, &ans) != nil || len(ans.Accepted) != 1 {
		t.Fatalf("signed delivery: %d %s", code, b)
	}
	if v := n.get(ans.Accepted[0].ID); len(v.Versions) != 1 || v.Versions[0].Platform != "slack" || v.Versions[0].Tenant != "slackco" {
		t.Fatalf("archived %+v", v)
	}
	// Delivered again (Slack retries): the same id, nothing new.
	if code, b = n.slackRequest(event, testSlackSecret); code != http.StatusAccepted || !bytes.Contains(b, []byte(`"duplicate":true`)) {
		t.Fatalf("redelivery: %d %s", code, b)
	}
	code, b = n.slackRequest(fixture(t, "slack/events/url_verification.json"), testSlackSecret)
	if code != http.StatusOK || !bytes.Contains(b, []byte("challenge")) {
		t.Fatalf("url_verification: %d %s", code, b)
	}

	// WeCom has no signature: an ingest token is required.
	wecom := fixture(t, "wecom/chatdata.json")
	if code, _, _ := n.do(http.MethodPost, "/v1/sources/wecom", "", "application/json", wecom); code != http.StatusUnauthorized {
		t.Fatalf("wecom without a token: %d", code)
	}
	code, _, b = n.do(http.MethodPost, "/v1/sources/wecom", RoleIngest, "application/json", wecom)
	if code != http.StatusAccepted || !bytes.Contains(b, []byte(`"seq"`)) {
		t.Fatalf("wecom with a token: %d %s", code, b)
	}
	if code, _, _ := n.do(http.MethodPost, "/v1/sources/nosuch", RoleIngest, "application/json", wecom); code != http.StatusNotFound {
		t.Fatalf("unknown source: %d", code)
	}
}
