package fsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/holdfast/holdfast/archive"
)

// Get opens the latest version of key. Reading it to the end verifies its
// SHA-256: a mismatch fails the last Read with archive.ErrCorrupt.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	m, f, err := s.openLatest(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("fsstore: get %s: %w", key, err)
	}
	return &verifyingReader{f: f, h: sha256.New(), m: m}, nil
}

// Verify re-reads the latest version of key and checks it against sha256Hex
// and against the hash recorded when it was written, hashing it once.
func (s *Store) Verify(ctx context.Context, key, sha256Hex string) error {
	m, f, err := s.openLatest(ctx, key)
	if err != nil {
		return fmt.Errorf("fsstore: verify %s: %w", key, err)
	}
	defer f.Close()
	if err := archive.CheckSHA256(f, sha256Hex); err != nil {
		return fmt.Errorf("fsstore: verify %s version %s: %w", key, m.VersionID, err)
	}
	if m.SHA256 != sha256Hex {
		return fmt.Errorf("fsstore: verify %s version %s: recorded sha256 %s, expected %s: %w",
			key, m.VersionID, m.SHA256, sha256Hex, archive.ErrCorrupt)
	}
	return nil
}

// GetRange reads exactly length bytes of the latest version of key from
// off; a range past the end fails with io.ErrUnexpectedEOF.
func (s *Store) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	b, err := s.getRange(ctx, key, off, length)
	if err != nil {
		return nil, fmt.Errorf("fsstore: get %s range %d+%d: %w", key, off, length, err)
	}
	return b, nil
}

func (s *Store) getRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if off < 0 || length < 0 {
		return nil, errors.New("negative offset or length")
	}
	m, f, err := s.openLatest(ctx, key)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if off+length > m.Size {
		return nil, fmt.Errorf("past the end of %d bytes: %w", m.Size, io.ErrUnexpectedEOF)
	}
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}

// Stat describes the latest version of key with its retention and hold.
func (s *Store) Stat(ctx context.Context, key string) (archive.ObjectInfo, error) {
	m, err := s.latestMeta(ctx, key)
	if err != nil {
		return archive.ObjectInfo{}, fmt.Errorf("fsstore: stat %s: %w", key, err)
	}
	return m.info(true), nil
}

// openLatest finds the newest version of key that still exists and opens
// its data. Readers take no lock, so a version deleted between listing and
// opening is skipped.
func (s *Store) openLatest(ctx context.Context, key string) (meta, *os.File, error) {
	return s.latest(ctx, key, true)
}

// latestMeta is the metadata of the newest version of key. The sidecar is
// the commit point, so its existence is the version's.
func (s *Store) latestMeta(ctx context.Context, key string) (meta, error) {
	m, _, err := s.latest(ctx, key, false)
	return m, err
}

func (s *Store) latest(ctx context.Context, key string, open bool) (meta, *os.File, error) {
	if err := ctx.Err(); err != nil {
		return meta{}, nil, err
	}
	if err := validateKey(key); err != nil {
		return meta{}, nil, err
	}
	vdir := s.versionDir(key)
	ids, err := versionIDs(vdir)
	if err != nil {
		return meta{}, nil, err
	}
	for i := len(ids) - 1; i >= 0; i-- {
		m, err := readMeta(filepath.Join(vdir, ids[i]+metaExt))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return meta{}, nil, err
		}
		if !open {
			return m, nil, nil
		}
		f, err := os.Open(filepath.Join(vdir, ids[i]+dataExt))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return meta{}, nil, err
		}
		return m, f, nil
	}
	return meta{}, nil, archive.ErrNotFound
}

// List calls fn for the latest version of each key under prefix, in byte
// order of the keys. Retention and hold are left empty, as in S3 listings.
func (s *Store) List(ctx context.Context, prefix string, fn func(archive.ObjectInfo) error) error {
	keys, err := s.keys(prefix)
	if err != nil {
		return fmt.Errorf("fsstore: list %q: %w", prefix, err)
	}
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fsstore: list %q: %w", prefix, err)
		}
		m, err := s.latestMeta(ctx, key)
		if errors.Is(err, archive.ErrNotFound) {
			continue // every version deleted
		}
		if err != nil {
			return fmt.Errorf("fsstore: list %q: %s: %w", prefix, key, err)
		}
		if err := fn(m.info(false)); err != nil {
			return err
		}
	}
	return nil
}

// keys walks the objects tree for keys starting with prefix, pruning
// directories that cannot hold one, and returns them sorted.
func (s *Store) keys(prefix string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(s.objects, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || path == s.objects {
			return nil
		}
		rel, err := filepath.Rel(s.objects, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.Name() == versionsDir {
			if key := strings.TrimSuffix(rel, "/"+versionsDir); strings.HasPrefix(key, prefix) {
				keys = append(keys, key)
			}
			return filepath.SkipDir
		}
		if !strings.HasPrefix(rel, prefix) && !strings.HasPrefix(prefix, rel) {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	return keys, nil
}

// Versions lists every version of key, newest first, like S3's
// ListObjectVersions. Retention and hold are left empty; a key without
// versions has an empty list. fsstore never writes delete markers.
func (s *Store) Versions(ctx context.Context, key string) ([]archive.ObjectInfo, error) {
	out, err := s.versions(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("fsstore: versions %s: %w", key, err)
	}
	return out, nil
}

func (s *Store) versions(ctx context.Context, key string) ([]archive.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateKey(key); err != nil {
		return nil, err
	}
	vdir := s.versionDir(key)
	ids, err := versionIDs(vdir)
	if err != nil {
		return nil, err
	}
	out := make([]archive.ObjectInfo, 0, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		m, err := readMeta(filepath.Join(vdir, ids[i]+metaExt))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m.info(false))
	}
	return out, nil
}

// verifyingReader hashes what it reads and, at EOF, fails with
// archive.ErrCorrupt unless size and SHA-256 match the sidecar.
type verifyingReader struct {
	f *os.File
	h hash.Hash
	m meta
	n int64
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if errors.Is(err, io.EOF) {
		if sum := hex.EncodeToString(r.h.Sum(nil)); r.n != r.m.Size || sum != r.m.SHA256 {
			return n, fmt.Errorf("fsstore: get %s version %s: read %d bytes with sha256 %s, stored %d bytes with sha256 %s: %w",
				r.m.Key, r.m.VersionID, r.n, sum, r.m.Size, r.m.SHA256, archive.ErrCorrupt)
		}
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.f.Close() }
