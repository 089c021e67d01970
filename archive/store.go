package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"
)

// Lock modes as S3 Object Lock names them. holdfast writes COMPLIANCE only:
// no user, root included, can shorten or remove it before it passes.
const (
	ModeCompliance = "COMPLIANCE"
	ModeGovernance = "GOVERNANCE"
)

// PutOptions are the WORM properties an object is written with.
type PutOptions struct {
	// RetainUntil is the COMPLIANCE retain-until date; it must be in the
	// future.
	RetainUntil time.Time
	// LegalHold puts the object under legal hold from the start.
	LegalHold bool
	// ContentType is stored with the object.
	ContentType string
	// SHA256 is the hex digest of the body; stores verify it on write
	// where they can.
	SHA256 string
}

// ObjectInfo describes one stored object version.
type ObjectInfo struct {
	Key          string
	VersionID    string
	Size         int64
	LastModified time.Time
	// Mode and RetainUntil are the Object Lock retention of the version;
	// LegalHold is its legal hold status. List leaves them empty.
	Mode        string
	RetainUntil time.Time
	LegalHold   bool
	// DeleteMarker is true for a delete marker returned by Versions.
	DeleteMarker bool
}

// ObjectStore is WORM object storage with S3 Object Lock semantics. Every
// implementation refuses, with ErrLocked, to delete a version whose
// retention has not passed or that is under legal hold.
type ObjectStore interface {
	// Put stores a new object version under COMPLIANCE retention.
	Put(ctx context.Context, key string, body io.Reader, size int64, opts PutOptions) (ObjectInfo, error)
	// Get opens the latest version of key.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Verify re-reads the latest version of key and checks that its
	// SHA-256 is sha256Hex, hashing the bytes once; a mismatch is
	// ErrCorrupt.
	Verify(ctx context.Context, key, sha256Hex string) error
	// GetRange reads length bytes of the latest version of key from off.
	GetRange(ctx context.Context, key string, off, length int64) ([]byte, error)
	// Stat describes the latest version of key, retention and hold included.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List calls fn for the latest version of each object under prefix, in
	// key order, until fn returns an error.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Versions lists every version of key, delete markers included.
	Versions(ctx context.Context, key string) ([]ObjectInfo, error)
	// DeleteVersion permanently removes one version; ErrLocked when
	// retention or a legal hold forbids it.
	DeleteVersion(ctx context.Context, key, versionID string) error
	// SetLegalHold turns the legal hold of one version on or off.
	SetLegalHold(ctx context.Context, key, versionID string, on bool) error
	// ExtendRetention moves the COMPLIANCE retain-until date of one
	// version later; it never shortens it.
	ExtendRetention(ctx context.Context, key, versionID string, until time.Time) error
}

// CheckSHA256 reads r to the end and fails with ErrCorrupt unless the
// SHA-256 of what it read is want (hex).
func CheckSHA256(r io.Reader, want string) error {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("read sha256 %s, expected %s: %w", got, want, ErrCorrupt)
	}
	return nil
}
