package fsutil

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestReclaimRemovesFilesOfEverySize(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int64{0, 1, ReclaimStep, 3*ReclaimStep + 17} {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Reclaim(t.Context(), path); err != nil {
			t.Fatalf("reclaim %d bytes: %v", size, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("after reclaiming %d bytes: stat %v, want not exist", size, err)
		}
	}
	if err := Reclaim(t.Context(), filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reclaim of a missing file: %v, want ErrNotExist", err)
	}
	sub := filepath.Join(dir, "empty-dir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Reclaim(t.Context(), sub); err != nil {
		t.Fatalf("reclaim of an empty directory: %v", err)
	}
}

func TestReclaimStopsWithItsContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, make([]byte, 8*ReclaimStep), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Reclaim(ctx, path); !errors.Is(err, context.Canceled) {
		t.Fatalf("reclaim with an ended context: %v, want context.Canceled", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the file should be left behind, shorter: %v", err)
	}
	if fi.Size() != 7*ReclaimStep {
		t.Fatalf("left %d bytes, want one step shorter: %d", fi.Size(), 7*ReclaimStep)
	}
}
