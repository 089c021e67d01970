package fsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// Errors of this package; archive's sentinels cover the rest.
var (
	// ErrInvalidKey means a key is empty, absolute, has an empty, "." or
	// ".." segment, or uses the reserved segment ".versions".
	ErrInvalidKey = errors.New("invalid key")
)

var _ archive.ObjectStore = (*Store)(nil)

// Store is an archive.ObjectStore on a local directory. Open one with Open.
type Store struct {
	root    string // the store's directory
	objects string // root/objects
	tmp     string // root/tmp
	now     func() time.Time
	locks   keyLocks
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store read the time from now instead of time.Now:
// tests use it to let retention pass without waiting.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// Open opens the store in dir, creating the directory if needed, and
// removes temporary files an earlier process left behind.
func Open(dir string, opts ...Option) (*Store, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fsstore: open %s: %w", dir, err)
	}
	s := &Store{
		root:    root,
		objects: filepath.Join(root, objectsDir),
		tmp:     filepath.Join(root, tmpDir),
		now:     time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	for _, d := range []string{s.objects, s.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("fsstore: open %s: %w", dir, err)
		}
	}
	// Nothing in tmp is committed: a crash mid-write leaves it there.
	left, err := os.ReadDir(s.tmp)
	if err != nil {
		return nil, fmt.Errorf("fsstore: open %s: %w", dir, err)
	}
	for _, e := range left {
		if err := os.RemoveAll(filepath.Join(s.tmp, e.Name())); err != nil {
			return nil, fmt.Errorf("fsstore: open %s: clean tmp: %w", dir, err)
		}
	}
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.root }

func (s *Store) versionDir(key string) string {
	return filepath.Join(s.objects, filepath.FromSlash(key), versionsDir)
}

// Put stores body as a new version of key under COMPLIANCE retention until
// opts.RetainUntil. size must be the exact length of body; when opts.SHA256
// is set the body must hash to it, or Put stores nothing and fails with
// archive.ErrCorrupt.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64, opts archive.PutOptions) (archive.ObjectInfo, error) {
	m, err := s.put(ctx, key, body, size, opts)
	if err != nil {
		return archive.ObjectInfo{}, fmt.Errorf("fsstore: put %s: %w", key, err)
	}
	return m.info(true), nil
}

func (s *Store) put(ctx context.Context, key string, body io.Reader, size int64, opts archive.PutOptions) (meta, error) {
	if err := ctx.Err(); err != nil {
		return meta{}, err
	}
	if err := validateKey(key); err != nil {
		return meta{}, err
	}
	if size < 0 {
		return meta{}, fmt.Errorf("size %d: the size must be known", size)
	}
	if now := s.now(); !opts.RetainUntil.After(now) {
		return meta{}, fmt.Errorf("retain-until %s is not in the future (now %s)",
			opts.RetainUntil.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	want := strings.ToLower(opts.SHA256)
	if want != "" && !isSHA256Hex(want) {
		return meta{}, fmt.Errorf("sha256 %q is not a hex SHA-256 digest", opts.SHA256)
	}

	tmp, sum, err := s.writeTemp(ctx, body, size)
	if err != nil {
		return meta{}, err
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmp)
		}
	}()
	if want != "" && sum != want {
		return meta{}, fmt.Errorf("body sha256 %s, want %s: %w", sum, want, archive.ErrCorrupt)
	}

	unlock := s.locks.lock(key)
	defer unlock()
	vdir := s.versionDir(key)
	if err := mkdirAllSync(s.objects, vdir); err != nil {
		return meta{}, err
	}
	ids, err := versionIDs(vdir)
	if err != nil {
		return meta{}, err
	}
	now := s.now().UTC()
	m := meta{
		Key:          key,
		VersionID:    nextVersionID(now, ids),
		Size:         size,
		SHA256:       sum,
		ContentType:  opts.ContentType,
		LastModified: now,
		Mode:         archive.ModeCompliance,
		RetainUntil:  opts.RetainUntil.UTC(),
		LegalHold:    opts.LegalHold,
	}
	data := filepath.Join(vdir, m.VersionID+dataExt)
	if err := os.Rename(tmp, data); err != nil {
		return meta{}, err
	}
	committed = true
	if err := writeMeta(s.tmp, filepath.Join(vdir, m.VersionID+metaExt), m); err != nil {
		os.Remove(data)
		return meta{}, err
	}
	if err := syncDir(vdir); err != nil {
		return meta{}, err
	}
	return m, nil
}

// writeTemp copies exactly size bytes of body into a fsynced temp file and
// returns its path and hex SHA-256.
func (s *Store) writeTemp(ctx context.Context, body io.Reader, size int64) (path, sum string, err error) {
	f, err := os.CreateTemp(s.tmp, "data-*")
	if err != nil {
		return "", "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, body}, size+1))
	if err != nil {
		return "", "", fmt.Errorf("write body: %w", err)
	}
	if n > size {
		return "", "", fmt.Errorf("body is longer than %d bytes", size)
	}
	if n < size {
		return "", "", fmt.Errorf("body has %d bytes, want %d", n, size)
	}
	if err := f.Sync(); err != nil {
		return "", "", err
	}
	if err := f.Close(); err != nil {
		return "", "", err
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), nil
}

// DeleteVersion removes one version for good; archive.ErrLocked while its
// retain-until date has not passed or a legal hold is on.
func (s *Store) DeleteVersion(ctx context.Context, key, versionID string) error {
	err := s.update(ctx, key, versionID, func(vdir string, m *meta) (bool, error) {
		if m.LegalHold {
			return false, fmt.Errorf("legal hold is on: %w", archive.ErrLocked)
		}
		if now := s.now(); now.Before(m.RetainUntil) {
			return false, fmt.Errorf("retained until %s: %w", m.RetainUntil.Format(time.RFC3339), archive.ErrLocked)
		}
		// The sidecar goes first: without it the version does not exist.
		if err := os.Remove(filepath.Join(vdir, versionID+metaExt)); err != nil {
			return false, err
		}
		if err := os.Remove(filepath.Join(vdir, versionID+dataExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		return false, syncDir(vdir)
	})
	if err != nil {
		return fmt.Errorf("fsstore: delete %s version %s: %w", key, versionID, err)
	}
	return nil
}

// SetLegalHold turns the legal hold of one version on or off.
func (s *Store) SetLegalHold(ctx context.Context, key, versionID string, on bool) error {
	err := s.update(ctx, key, versionID, func(_ string, m *meta) (bool, error) {
		changed := m.LegalHold != on
		m.LegalHold = on
		return changed, nil
	})
	if err != nil {
		return fmt.Errorf("fsstore: legal hold %s version %s: %w", key, versionID, err)
	}
	return nil
}

// ExtendRetention moves the retain-until date of one version to until. An
// earlier date fails with archive.ErrLocked; until must be in the future.
func (s *Store) ExtendRetention(ctx context.Context, key, versionID string, until time.Time) error {
	err := s.update(ctx, key, versionID, func(_ string, m *meta) (bool, error) {
		if until.Before(m.RetainUntil) {
			return false, fmt.Errorf("%s would shorten retention from %s: %w",
				until.UTC().Format(time.RFC3339Nano), m.RetainUntil.Format(time.RFC3339Nano), archive.ErrLocked)
		}
		if now := s.now(); !until.After(now) {
			return false, fmt.Errorf("retain-until %s is not in the future", until.UTC().Format(time.RFC3339Nano))
		}
		changed := !until.Equal(m.RetainUntil)
		m.RetainUntil = until.UTC()
		return changed, nil
	})
	if err != nil {
		return fmt.Errorf("fsstore: extend retention %s version %s: %w", key, versionID, err)
	}
	return nil
}

// update runs fn on one version's metadata under the key's lock and writes
// the sidecar back when fn reports a change.
func (s *Store) update(ctx context.Context, key, versionID string, fn func(vdir string, m *meta) (bool, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateKey(key); err != nil {
		return err
	}
	if versionID == "" {
		return errors.New("a version id is required")
	}
	if !validVersionID(versionID) {
		return archive.ErrNotFound
	}
	unlock := s.locks.lock(key)
	defer unlock()
	vdir := s.versionDir(key)
	path := filepath.Join(vdir, versionID+metaExt)
	m, err := readMeta(path)
	if errors.Is(err, fs.ErrNotExist) {
		return archive.ErrNotFound
	}
	if err != nil {
		return err
	}
	changed, err := fn(vdir, &m)
	if err != nil || !changed {
		return err
	}
	if err := writeMeta(s.tmp, path, m); err != nil {
		return err
	}
	return syncDir(vdir)
}

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
