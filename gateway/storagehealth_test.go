package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// pingingStore is a flakyStore that answers pings, as s3.Store does.
type pingingStore struct{ *flakyStore }

func (p pingingStore) Ping(context.Context) error {
	if p.down.Load() {
		return errStorageDown
	}
	return nil
}

// With storage down and nothing to upload, the probe notices: /readyz
// says storage is unreachable and for how long, holdfast_storage_up is 0;
// both recover when storage does.
func TestReadyzSaysSinceWhenStorageIsUnreachable(t *testing.T) {
	store := pingingStore{mustOpenStore(t)}
	store.down.Store(true)
	n := mustStartNode(t, t.TempDir(), store)
	readyz := func() (int, map[string]any) {
		code, _, b := n.do(http.MethodGet, "/readyz", "", "", nil)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return code, out
	}
	waitFor(t, "readyz to say storage is unreachable", func() bool {
		code, r := readyz()
		s, _ := r["storage"].(string)
		return code == http.StatusOK && strings.HasPrefix(s, "unreachable for ") && r["storage_unreachable_since"] != nil &&
			n.gw.metrics.storageUp.v.Load() == 0
	})
	// Still acking into the spool.
	n.ingest("/v1/messages", "", []byte(msg("h1", "while storage is down")))
	store.down.Store(false)
	if err := n.gw.WaitStored(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readyz to say storage is ok", func() bool {
		_, r := readyz()
		return r["storage"] == "ok" && n.gw.metrics.storageUp.v.Load() == 1
	})
}
