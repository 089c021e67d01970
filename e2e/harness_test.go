// Package e2e runs the real holdfast binary against a real MinIO, as an
// operator would: it starts daemons, kills them, stops storage under them,
// and checks what ends up in the bucket through the S3 API itself.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/holdfast/holdfast/archive"
)

const (
	ingestToken     = "e2e-ingest-token"
	supervisorToken = "e2e-supervisor-token"
	adminToken      = "e2e-admin-token"
	clusterSecret   = "e2e-cluster-secret-0123456789"
)

// repoRoot is the repository's top directory.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// holdfastBin returns the binary under test: $HOLDFAST_BIN (make test sets
// it) or one built now.
func holdfastBin(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("HOLDFAST_BIN"); b != "" {
		return b
	}
	out := filepath.Join(t.TempDir(), "holdfast")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/holdfast")
	cmd.Dir = repoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build holdfast: %v\n%s", err, b)
	}
	return out
}

// s3Env is a MinIO endpoint and its credentials.
type s3Env struct {
	endpoint, access, secret string
}

// sharedMinIO is the MinIO that `make test` started.
func sharedMinIO(t testing.TB) s3Env {
	e := s3Env{os.Getenv("HOLDFAST_TEST_S3_ENDPOINT"), os.Getenv("HOLDFAST_TEST_S3_ACCESS_KEY"), os.Getenv("HOLDFAST_TEST_S3_SECRET_KEY")}
	if e.endpoint == "" {
		t.Skip("HOLDFAST_TEST_S3_ENDPOINT not set: run `make test` to start MinIO")
	}
	return e
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// minioServer is a MinIO process of the test's own, so that the test can
// stop and restart storage under holdfast.
type minioServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	env  s3Env
}

func startOwnMinIO(t testing.TB) *minioServer {
	t.Helper()
	sharedMinIO(t) // only under make test, where the binary exists
	bin := os.Getenv("HOLDFAST_MINIO_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), ".bin", "minio")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no MinIO binary at %s: run `make test`", bin)
	}
	m := &minioServer{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	m.env = s3Env{fmt.Sprintf("127.0.0.1:%d", m.port), "e2eadmin", "e2eadmin-secret"}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *minioServer) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "server", m.dir, "--address", m.env.endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", freePort(m.t)), "--quiet")
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.env.access, "MINIO_ROOT_PASSWORD="+m.env.secret)
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	waitHTTP(m.t, "http://"+m.env.endpoint+"/minio/health/live", 60*time.Second)
}

func (m *minioServer) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}

func waitHTTP(t testing.TB, url string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within %v: %v", url, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// daemon is one holdfast serve process.
type daemon struct {
	raft    string
	t       testing.TB
	bin     string
	dir     string
	cfgPath string
	url     string
	cmd     *exec.Cmd
	logs    *logBuffer
}

// logBuffer collects a daemon's output; a test may read it while the
// daemon still writes (exec copies the output from a goroutine of its own).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is what the daemon wrote so far.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newDaemon writes a config for a node on s3 bucket and returns it, not yet
// started. extra is appended to the YAML.
func newDaemon(t testing.TB, s3 s3Env, bucket string, extra string) *daemon {
	t.Helper()
	return newNode(t, s3, bucket, "e2e", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "{raft_listen: %q}", extra)
}

// newClusterNode is a daemon that is member id of a cluster; join lists
// the raft addresses of members to join (none for the first).
func newClusterNode(t testing.TB, s3 s3Env, bucket, id, raftAddr string, join []string) *daemon {
	t.Helper()
	j, _ := json.Marshal(join)
	return newNode(t, s3, bucket, id, raftAddr, "{raft_listen: %q, secret: "+clusterSecret+", join: "+string(j)+"}", "")
}

func newNode(t testing.TB, s3 s3Env, bucket, id, raftAddr, clusterYAML, extra string) *daemon {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	cfg := fmt.Sprintf(`node: {id: %s, data_dir: %q}
http: {listen: "127.0.0.1:%d"}
cluster: `+fmt.Sprintf(clusterYAML, raftAddr)+`
storage:
  kind: s3
  s3: {endpoint: %q, bucket: %q, access_key: %q, secret_key: %q}
segment: {max_bytes: 1MiB, max_age: 500ms}
retention: {default: 7y, floor: 1h}
auth:
  tokens:
    - {name: journal, role: ingest, token_sha256: %s}
    - {name: supervisor, role: supervisor, token_sha256: %s}
    - {name: admin, role: admin, token_sha256: %s}
log: {level: info}
%s`, id, filepath.Join(dir, "data"), port, s3.endpoint, bucket, s3.access, s3.secret,
		hashToken(ingestToken), hashToken(supervisorToken), hashToken(adminToken), extra)
	path := filepath.Join(dir, "holdfast.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, bin: holdfastBin(t), dir: dir, cfgPath: path, url: fmt.Sprintf("http://127.0.0.1:%d", port), raft: raftAddr}
	t.Cleanup(func() {
		d.kill()
		if t.Failed() && d.logs != nil {
			t.Logf("daemon logs:\n%s", tail(d.logs.String(), 4000))
		}
	})
	return d
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (d *daemon) start() {
	d.t.Helper()
	d.logs = &logBuffer{}
	d.cmd = exec.Command(d.bin, "serve", "-config", d.cfgPath)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	waitHTTP(d.t, d.url+"/healthz", 60*time.Second)
}

// kill stops the daemon with SIGKILL: no shutdown, no flush.
func (d *daemon) kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
	d.cmd = nil
}

// terminate stops the daemon with SIGTERM and waits for a clean exit.
func (d *daemon) terminate() {
	d.t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		d.t.Fatalf("holdfast exited with %v after SIGTERM\n%s", err, tail(d.logs.String(), 3000))
	}
	d.cmd = nil
}

type accepted struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
}

// post sends an NDJSON body; it returns the status, Retry-After and accepted.
func (d *daemon) post(path string, body []byte) (int, string, []accepted, error) {
	req, err := http.NewRequest(http.MethodPost, d.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Authorization", "Bearer "+ingestToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Accepted []accepted `json:"accepted"`
	}
	if resp.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal(b, &out); err != nil {
			return resp.StatusCode, "", nil, err
		}
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), out.Accepted, nil
}

// metric reads one value from /metrics.
func (d *daemon) metric(name string) float64 {
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}

// waitDrained waits until the daemon's spool is empty.
func (d *daemon) waitDrained(limit time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(limit)
	for d.metric("holdfast_spool_records") != 0 {
		if time.Now().After(deadline) {
			d.t.Fatalf("spool not drained after %v: %v records left", limit, d.metric("holdfast_spool_records"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func message(i int, text string) []byte {
	return []byte(fmt.Sprintf(`{"platform":"generic","tenant":"acme","source_id":"e2e-%d","conversation":{"id":"room-%d"},"from":{"id":"user-%d"},"to":[{"id":"desk"}],"sent_at":"2026-11-20T10:%02d:%02dZ","text":%q}`+"\n",
		i, i%17, i%29, (i/60)%60, i%60, text))
}

func minioClient(t testing.TB, e s3Env) *minio.Client {
	t.Helper()
	c, err := minio.New(e.endpoint, &minio.Options{Creds: credentials.NewStaticV4(e.access, e.secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scanBucket lists every segment version in bucket through the S3 API,
// decodes each (verifying every record's hash) and calls fn with each
// record; it returns the object versions read.
func scanBucket(t testing.TB, c *minio.Client, bucket string, fn func(archive.Message)) []minio.ObjectInfo {
	t.Helper()
	ctx := context.Background()
	codec, err := archive.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	var objects []minio.ObjectInfo
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "segments/", Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		objects = append(objects, obj)
		r, err := c.GetObject(ctx, bucket, obj.Key, minio.GetObjectOptions{VersionID: obj.VersionID})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := codec.Scan(data, func(m archive.Message, _ []byte, _ archive.ManifestEntry) error {
			fn(m)
			return nil
		}); err != nil {
			t.Fatalf("segment %s: %v", obj.Key, err)
		}
	}
	return objects
}

// bucketRecords counts how often each message version ("id/vN") is stored
// in bucket, and returns the segment versions read.
func bucketRecords(t testing.TB, c *minio.Client, bucket string) (map[string]int, []minio.ObjectInfo) {
	t.Helper()
	counts := map[string]int{}
	objects := scanBucket(t, c, bucket, func(m archive.Message) {
		counts[fmt.Sprintf("%s/v%d", m.ID, m.Version)]++
	})
	return counts, objects
}

func netListen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// rewriteConfig replaces old with new in the config file at path.
func rewriteConfig(t testing.TB, path, old, new string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte(old), []byte(new)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// raftAddr is the daemon's cluster.raft_listen.
func (d *daemon) raftAddr(t testing.TB) string { return d.raft }
