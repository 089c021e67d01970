package gateway

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

// Pebble removes its obsolete files through reclaimingFS and treats a
// missing file as already removed.
func TestReclaimingFSRemovesAndReportsMissingFiles(t *testing.T) {
	rfs := reclaimingFS{vfs.Default}
	path := filepath.Join(t.TempDir(), "000001.sst")
	if err := os.WriteFile(path, make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rfs.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after Remove: stat %v, want not exist", err)
	}
	if err := rfs.Remove(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove of a missing file: %v, want a not-exist error", err)
	}
}
