package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/fsstore"
	"github.com/holdfast/holdfast/cluster"
	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/journal"
)

// Test tokens, one per role.
var testTokens = map[string]string{
	RoleIngest: "tok-ingest", RoleSupervisor: "tok-supervisor", RoleLegal: "tok-legal",
	RoleAdmin: "tok-admin", RoleAuditor: "tok-auditor",
}

func mustPeriod(t testing.TB, s string) config.Period {
	t.Helper()
	p, err := config.ParsePeriod(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testLogger(t testing.TB) *logrus.Entry {
	log := logrus.New()
	log.SetOutput(io.Discard)
	if testing.Verbose() {
		log.SetOutput(testWriter{t})
		log.SetLevel(logrus.DebugLevel)
	}
	return log.WithField("test", t.Name())
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// flakyStore is a real store that can be taken down, as a storage outage.
type flakyStore struct {
	archive.ObjectStore
	down atomic.Bool
	puts atomic.Int64
}

var errStorageDown = errors.New("storage unreachable (test)")

func (f *flakyStore) Put(ctx context.Context, key string, body io.Reader, size int64, o archive.PutOptions) (archive.ObjectInfo, error) {
	if f.down.Load() {
		return archive.ObjectInfo{}, errStorageDown
	}
	f.puts.Add(1)
	return f.ObjectStore.Put(ctx, key, body, size, o)
}

func (f *flakyStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if f.down.Load() {
		return nil, errStorageDown
	}
	return f.ObjectStore.Get(ctx, key)
}

func (f *flakyStore) Stat(ctx context.Context, key string) (archive.ObjectInfo, error) {
	if f.down.Load() {
		return archive.ObjectInfo{}, errStorageDown
	}
	return f.ObjectStore.Stat(ctx, key)
}

// testNode is a gateway with its own catalog, on a temporary data dir.
type testNode struct {
	t        testing.TB
	dir      string
	store    archive.ObjectStore
	node     *cluster.Node
	ix       *index.Index
	follower *index.Follower
	gw       *Gateway
	url      string
}

type nodeOption func(*Config)

func mustOpenStore(t testing.TB) *flakyStore {
	t.Helper()
	st, err := fsstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &flakyStore{ObjectStore: st}
}

// mustStartNode starts a catalog and gateway in dir on store.
func mustStartNode(t testing.TB, dir string, store archive.ObjectStore, opts ...nodeOption) *testNode {
	t.Helper()
	return startNode(t, dir, store, nodeSetup{}, opts...)
}

// nodeSetup is how a test node differs from mustStartNode's: its catalog's
// config, its index's search limits, a wrapper around its searcher, and
// whether it serves the cluster admin and retention routes (admin: the
// catalog as Retention, the follower as Indexed, quarantines recorded).
type nodeSetup struct {
	cluster func(*cluster.Config)
	limits  index.Limits
	wrap    func(Searcher) Searcher
	admin   bool
}

// startNode starts a catalog and gateway in dir on store as setup says.
func startNode(t testing.TB, dir string, store archive.ObjectStore, setup nodeSetup, opts ...nodeOption) *testNode {
	t.Helper()
	ccfg := cluster.Config{NodeID: "n1", RaftListen: "127.0.0.1:0", Dir: filepath.Join(dir, "raft"), Bootstrap: true,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond}
	if setup.cluster != nil {
		setup.cluster(&ccfg)
	}
	node, err := cluster.Open(ccfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	var tokens []Token
	for role, secret := range testTokens {
		tokens = append(tokens, Token{Name: role, Role: role, TokenSHA256: HashToken(secret)})
	}
	cfg := Config{
		NodeID: "n1", DataDir: filepath.Join(dir, "gw"), Listen: "127.0.0.1:0",
		MaxBodyBytes: 32 << 20, MaxFieldBytes: 1 << 20, SpoolMaxBytes: 64 << 20,
		SegmentMaxBytes: 1 << 20, SegmentMaxAge: 200 * time.Millisecond,
		Retention: mustPeriod(t, "7y"), RetentionFloor: time.Hour, Tokens: tokens,
	}
	if setup.admin {
		conf := config.Default()
		cfg.CompilePolicies = conf.Rules
	}
	for _, o := range opts {
		o(&cfg)
	}
	ix, err := index.Open(index.Config{Dir: filepath.Join(dir, "index"), Limits: setup.limits}, testLogger(t))
	if err != nil {
		node.Close()
		t.Fatal(err)
	}
	follower := index.NewFollower(ix, node, store, testLogger(t))
	if setup.admin {
		follower.SetQuarantiner(node)
	}
	follower.Start(context.Background())
	var searcher Searcher = ix
	if setup.wrap != nil {
		searcher = setup.wrap(ix)
	}
	deps := Deps{Store: store, Catalog: node, Searcher: searcher, Sources: map[string]Source{
		"slack": {Source: journal.Slack{SigningSecret: testSlackSecret}, Tenant: "slackco", Signed: true},
		"wecom": {Source: journal.WeCom{}, Tenant: "wecomco"},

		"dingtalk": {Source: journal.DingTalk{AppSecret: testDingTalkSecret}, Tenant: "dingco", Signed: true},
	}}
	if setup.admin {
		deps.Cluster, deps.Indexed, deps.Retention = adminCluster{node}, follower, node
	}
	gw, err := New(cfg, deps, testLogger(t))
	if err != nil {
		node.Close()
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := &testNode{t: t, dir: dir, store: store, node: node, ix: ix, follower: follower, gw: gw, url: "http://" + gw.Addr()}
	t.Cleanup(n.stop)
	return n
}

// testDingTalkSecret is the appSecret of the test nodes' DingTalk robot.
const testDingTalkSecret = "SECd0a8f3c2b1e4testrobot"

// testSlackSecret is the signing secret of the test nodes' Slack source.
const testSlackSecret = "8f742231b10e8888abcd99yyyzzz85a5"

func (n *testNode) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.gw.Shutdown(ctx)
	n.follower.Close()
	n.ix.Close()
	n.node.Close()
}

// do sends a request with the token of role ("" for none) and returns the
// status, headers and body.
func (n *testNode) do(method, path, role, contentType string, body []byte) (int, http.Header, []byte) {
	n.t.Helper()
	req, err := http.NewRequest(method, n.url+path, bytes.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+testTokens[role])
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

type ingestAnswer struct {
	Accepted []accepted `json:"accepted"`
}

type errorAnswer struct {
	Error APIError `json:"error"`
}

// ingest posts body and requires a 202.
func (n *testNode) ingest(path, contentType string, body []byte) []accepted {
	n.t.Helper()
	code, _, b := n.do(http.MethodPost, path, RoleIngest, contentType, body)
	if code != http.StatusAccepted {
		n.t.Fatalf("ingest: %d %s", code, b)
	}
	var a ingestAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		n.t.Fatal(err)
	}
	return a.Accepted
}

type getAnswer struct {
	ID       string          `json:"id"`
	Versions []storedVersion `json:"versions"`
}

func (n *testNode) get(id string) getAnswer {
	n.t.Helper()
	code, _, b := n.do(http.MethodGet, "/v1/messages/"+id, RoleSupervisor, "", nil)
	if code != http.StatusOK {
		n.t.Fatalf("get %s: %d %s", id, code, b)
	}
	var a getAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		n.t.Fatal(err)
	}
	return a
}

// msg builds one input record as JSON.
func msg(sourceID, text string, extra ...string) string {
	s := fmt.Sprintf(`{"platform":"generic","tenant":"acme","source_id":%q,"conversation":{"id":"desk"},"from":{"id":"alice","department":"rates"},"to":[{"id":"bob"}],"sent_at":"2026-11-20T10:00:00Z","text":%q`, sourceID, text)
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

// storedRecords reads every segment in the store and counts each message
// version it holds, verifying every record against its hash.
func storedRecords(t testing.TB, store archive.ObjectStore) map[string]int {
	t.Helper()
	codec, err := archive.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	ctx := context.Background()
	out := map[string]int{}
	err = store.List(ctx, "segments/", func(info archive.ObjectInfo) error {
		vers, err := store.Versions(ctx, info.Key)
		if err != nil {
			return err
		}
		if len(vers) != 1 {
			t.Errorf("segment %s has %d versions; an upload was repeated", info.Key, len(vers))
		}
		rc, err := store.Get(ctx, info.Key)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		return codec.Scan(data, func(m archive.Message, _ []byte, _ archive.ManifestEntry) error {
			out[fmt.Sprintf("%s/v%d", m.ID, m.Version)]++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
