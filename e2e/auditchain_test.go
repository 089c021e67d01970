package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/fsstore"
)

// newFSDaemon is a single node on the embedded fs store, whose files a
// test can tamper with as a root user could.
func newFSDaemon(t *testing.T) (*daemon, string) {
	t.Helper()
	d := newNode(t, s3Env{}, "unused", "n1", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "{raft_listen: %q}", "")
	storeDir := filepath.Join(d.dir, "store")
	rewriteConfig(t, d.cfgPath, "  kind: s3\n", fmt.Sprintf("  kind: fs\n  fs: {dir: %q}\n", storeDir))
	return d, storeDir
}

// auditVerify runs `holdfast audit verify` and returns its output and
// whether it succeeded.
func (d *daemon) auditVerify(t testing.TB) (string, bool) {
	t.Helper()
	cmd := exec.Command(d.bin, "audit", "verify", "-config", d.cfgPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return out.String(), err == nil
}

// auditSegments maps each audit record's seq to the key of its segment,
// reading the fs store directly.
func auditSegments(t *testing.T, st *fsstore.Store, codec *archive.Codec) map[uint64]string {
	t.Helper()
	ctx := context.Background()
	out := map[uint64]string{}
	err := st.List(ctx, "segments/_audit/", func(o archive.ObjectInfo) error {
		rc, err := st.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(rc); err != nil {
			return err
		}
		return codec.Scan(buf.Bytes(), func(m archive.Message, _ []byte, _ archive.ManifestEntry) error {
			var ev struct{ Seq uint64 }
			raw, _ := m.RawBytes()
			if err := json.Unmarshal(raw, &ev); err != nil {
				return err
			}
			out[ev.Seq] = o.Key
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// forgeSegment rewrites the segment at key as an intruder with root on the
// fs store would: every record's text changed and its hash recomputed,
// the segment rebuilt and its recorded sha256 replaced, so that the store
// itself and each record's own hash find nothing wrong.
func forgeSegment(t *testing.T, storeDir, key string, st *fsstore.Store, codec *archive.Codec) {
	t.Helper()
	ctx := context.Background()
	rc, err := st.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	w := codec.NewWriter("_audit", 0)
	if err := codec.Scan(buf.Bytes(), func(m archive.Message, _ []byte, _ archive.ManifestEntry) error {
		m.Text = "nothing to see here"
		m.Seal()
		line, err := m.Line()
		w.Add(m.ID, m.Version, m.SHA256, m.RetainUntil, line)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sealed, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	vdir := filepath.Join(storeDir, "objects", filepath.FromSlash(key), ".versions")
	metas, _ := filepath.Glob(filepath.Join(vdir, "*.json"))
	if len(metas) != 1 {
		t.Fatalf("segment %s has %d versions", key, len(metas))
	}
	var meta map[string]any
	b, _ := os.ReadFile(metas[0])
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	meta["sha256"], meta["size"] = sealed.SHA256, len(sealed.Data)
	b, _ = json.Marshal(meta)
	data := strings.TrimSuffix(metas[0], ".json") + ".data"
	for path, content := range map[string][]byte{metas[0]: b, data: sealed.Data} {
		_ = os.Chmod(path, 0o600)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Verify(ctx, key, sealed.SHA256); err != nil {
		t.Fatalf("the forgery is not consistent: %v", err)
	}
}

// TestAuditVerifyNamesGapsAndForgeries is Build 5 against the real
// binary: a node's audit records form one chain that continues across a
// restart and a SIGKILL, `holdfast audit verify` (from the storage of the config file
// alone) passes it, and names a forged segment (the next record no longer
// links to it) and a removed one (a gap).
func TestAuditVerifyNamesGapsAndForgeries(t *testing.T) {
	d, storeDir := newFSDaemon(t)
	audited := func(n int) {
		for i := 0; i < n; i++ {
			d.search(t, url.Values{"q": {fmt.Sprintf("probe%d", i)}})
			d.waitDrained(60 * time.Second) // one record per segment
		}
	}
	d.start()
	audited(3)
	d.terminate()
	d.start()
	audited(3)
	d.kill() // SIGKILL: the chain's head hint is not rewritten
	d.start()
	audited(2)
	d.terminate()

	out, ok := d.auditVerify(t)
	if !ok || !strings.Contains(out, "seq 1..8, 8 records") || !strings.Contains(out, "ok: every chain is complete") {
		t.Fatalf("clean trail across a restart does not verify:\n%s", out)
	}
	st, err := fsstore.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := archive.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	segs := auditSegments(t, st, codec)
	if len(segs) != 8 || segs[3] == segs[4] || segs[6] == segs[5] || segs[6] == segs[7] {
		t.Fatalf("audit records in segments %v: want records 3, 4 and 6 apart", segs)
	}
	forgeSegment(t, storeDir, segs[3], st, codec)
	out, ok = d.auditVerify(t)
	if ok || !strings.Contains(out, "PROBLEM break node n1") || !strings.Contains(out, "seq 4 in "+segs[4]) {
		t.Fatalf("a forged record is not named:\n%s", out)
	}
	if err := os.RemoveAll(filepath.Join(storeDir, "objects", filepath.FromSlash(segs[6]))); err != nil {
		t.Fatal(err)
	}
	out, ok = d.auditVerify(t)
	t.Logf("holdfast audit verify:\n%s", out)
	if ok || !strings.Contains(out, "PROBLEM gap node n1") || !strings.Contains(out, "seq 6 in "+segs[7]) {
		t.Fatalf("a removed record is not named:\n%s", out)
	}
}
