package fsstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/holdfast/holdfast/archive"
)

// Names inside the store's directory.
const (
	objectsDir  = "objects"
	tmpDir      = "tmp"
	versionsDir = ".versions" // reserved: never a key segment
	dataExt     = ".data"
	metaExt     = ".json"

	// maxKeyLen is S3's limit on a key, in bytes.
	maxKeyLen = 1024
	// versionIDLen is the width of a version id: zero-padded nanoseconds.
	versionIDLen = 20
)

// meta is the JSON sidecar of one object version.
type meta struct {
	Key          string    `json:"key"`
	VersionID    string    `json:"version_id"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	ContentType  string    `json:"content_type,omitempty"`
	LastModified time.Time `json:"last_modified"`
	Mode         string    `json:"mode"`
	RetainUntil  time.Time `json:"retain_until"`
	LegalHold    bool      `json:"legal_hold"`
}

// info is the version's ObjectInfo; withLock adds retention and hold.
func (m meta) info(withLock bool) archive.ObjectInfo {
	oi := archive.ObjectInfo{
		Key:          m.Key,
		VersionID:    m.VersionID,
		Size:         m.Size,
		LastModified: m.LastModified,
	}
	if withLock {
		oi.Mode = m.Mode
		oi.RetainUntil = m.RetainUntil
		oi.LegalHold = m.LegalHold
	}
	return oi
}

// validateKey refuses keys that would escape the store or collide with its
// own files: empty, absolute, "..", empty segments, the reserved segment.
func validateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("empty key: %w", ErrInvalidKey)
	case len(key) > maxKeyLen:
		return fmt.Errorf("key longer than %d bytes: %w", maxKeyLen, ErrInvalidKey)
	case !utf8.ValidString(key):
		return fmt.Errorf("key %q is not UTF-8: %w", key, ErrInvalidKey)
	case strings.ContainsRune(key, 0):
		return fmt.Errorf("key %q contains NUL: %w", key, ErrInvalidKey)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("key %q is absolute: %w", key, ErrInvalidKey)
	}
	for _, seg := range strings.Split(key, "/") {
		if err := validateSegment(seg); err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
	}
	return nil
}

func validateSegment(seg string) error {
	switch seg {
	case "":
		return fmt.Errorf("empty segment: %w", ErrInvalidKey)
	case ".", "..":
		return fmt.Errorf("segment %q: %w", seg, ErrInvalidKey)
	case versionsDir:
		return fmt.Errorf("segment %q is reserved: %w", seg, ErrInvalidKey)
	}
	return nil
}

// validVersionID reports whether id has the shape this store gives ids, so
// that a version id can never name a path outside its directory.
func validVersionID(id string) bool {
	if len(id) != versionIDLen {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func formatVersionID(n int64) string {
	return fmt.Sprintf("%0*d", versionIDLen, n)
}

// nextVersionID is a time-ordered id later than every id in existing
// (sorted ascending), so the newest version always sorts last even when the
// clock stands still or steps back.
func nextVersionID(now time.Time, existing []string) string {
	n := now.UnixNano()
	if len(existing) > 0 {
		last, err := strconv.ParseInt(existing[len(existing)-1], 10, 64)
		if err == nil && last >= n {
			n = last + 1
		}
	}
	return formatVersionID(n)
}

// versionIDs lists the committed versions in vdir, oldest first. A missing
// directory has none.
func versionIDs(vdir string) ([]string, error) {
	entries, err := os.ReadDir(vdir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(entries)/2)
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), metaExt)
		if ok && validVersionID(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func readMeta(path string) (meta, error) {
	var m meta
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode %s: %w: %w", filepath.Base(path), archive.ErrCorrupt, err)
	}
	return m, nil
}

// writeMeta replaces the sidecar at path atomically: temp file in tmp,
// fsync, rename. The caller fsyncs the directory.
func writeMeta(tmp, path string, m meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(tmp, "meta-*")
	if err != nil {
		return err
	}
	name := f.Name()
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// mkdirAllSync creates dir and any missing parents below root, fsyncing
// each parent it adds an entry to so the new directories survive a crash.
func mkdirAllSync(root, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return err
	}
	cur := root
	for _, seg := range strings.Split(rel, string(filepath.Separator)) {
		parent := cur
		cur = filepath.Join(cur, seg)
		err := os.Mkdir(cur, 0o750)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := syncDir(parent); err != nil {
			return err
		}
	}
	return nil
}

// keyLocks serialises writers of one key; readers take no lock and rely on
// atomic renames instead.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock function; an entry lives only while
// someone holds or waits for it.
func (l *keyLocks) lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[string]*keyLock)
	}
	kl := l.locks[key]
	if kl == nil {
		kl = &keyLock{}
		l.locks[key] = kl
	}
	kl.refs++
	l.mu.Unlock()

	kl.mu.Lock()
	return func() {
		kl.mu.Unlock()
		l.mu.Lock()
		kl.refs--
		if kl.refs == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
}
