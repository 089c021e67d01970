package s3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/holdfast/holdfast/archive"
)

// errNoVersionID refuses a version operation without a version id: S3
// would apply it to the latest version, and a delete would only add a
// delete marker and report success.
var errNoVersionID = errors.New("a version id is required")

// List calls fn for the latest version of each key under prefix, in key
// order, skipping keys whose latest version is a delete marker. It lists
// versions so that each ObjectInfo carries its VersionID; retention and
// hold are left empty.
func (s *Store) List(ctx context.Context, prefix string, fn func(archive.ObjectInfo) error) error {
	// A listing may be long: each page is bounded by the transport's
	// response header timeout rather than the whole by a deadline.
	if err := s.Check(ctx); err != nil {
		return fmt.Errorf("s3: list %q: %w", prefix, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	no := false
	opts := minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true, FetchOwner: &no}
	for o := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
		if o.Err != nil {
			return fmt.Errorf("s3: list %q: %w", prefix, o.Err)
		}
		if !o.IsLatest || o.IsDeleteMarker {
			continue
		}
		if err := fn(archive.ObjectInfo{Key: o.Key, VersionID: o.VersionID, Size: o.Size, LastModified: o.LastModified}); err != nil {
			return err
		}
	}
	// The listing ends quietly when ctx does.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: list %q: %w", prefix, err)
	}
	return nil
}

// Versions lists every version of key, delete markers included, newest
// first. Retention and hold are left empty; a key without versions has an
// empty list.
func (s *Store) Versions(ctx context.Context, key string) ([]archive.ObjectInfo, error) {
	ctx, cancel, err := s.begin(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("s3: versions %s: %w", key, err)
	}
	defer cancel()
	no := false
	opts := minio.ListObjectsOptions{Prefix: key, Recursive: true, WithVersions: true, FetchOwner: &no}
	var out []archive.ObjectInfo
	for o := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
		if o.Err != nil {
			return nil, fmt.Errorf("s3: versions %s: %w", key, o.Err)
		}
		if o.Key != key {
			break // keys sort after their prefix: the rest are longer keys
		}
		out = append(out, archive.ObjectInfo{
			Key:          o.Key,
			VersionID:    o.VersionID,
			Size:         o.Size,
			LastModified: o.LastModified,
			DeleteMarker: o.IsDeleteMarker,
		})
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3: versions %s: %w", key, err)
	}
	return out, nil
}

// DeleteVersion removes one version for good. A version under retention or
// legal hold fails with archive.ErrLocked; one that does not exist with
// archive.ErrNotFound (S3 itself answers such a delete with success, so
// the version is looked up first).
func (s *Store) DeleteVersion(ctx context.Context, key, versionID string) error {
	ctx, cancel, err := s.begin(ctx, 0)
	if err == nil {
		defer cancel()
		err = s.deleteVersion(ctx, key, versionID)
	}
	if err != nil {
		return fmt.Errorf("s3: delete %s version %s: %w", key, versionID, err)
	}
	return nil
}

func (s *Store) deleteVersion(ctx context.Context, key, versionID string) error {
	if versionID == "" {
		return errNoVersionID
	}
	_, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{VersionID: versionID})
	if err != nil && !isDeleteMarker(err) {
		return classify(err, false)
	}
	err = s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: versionID})
	if err != nil {
		return classify(err, true)
	}
	return nil
}

// SetLegalHold turns the legal hold of one version on or off.
func (s *Store) SetLegalHold(ctx context.Context, key, versionID string, on bool) error {
	if versionID == "" {
		return fmt.Errorf("s3: legal hold %s: %w", key, errNoVersionID)
	}
	status := minio.LegalHoldDisabled
	if on {
		status = minio.LegalHoldEnabled
	}
	ctx, cancel, err := s.begin(ctx, 0)
	if err != nil {
		return fmt.Errorf("s3: legal hold %s version %s: %w", key, versionID, err)
	}
	defer cancel()
	err = s.client.PutObjectLegalHold(ctx, s.bucket, key, minio.PutObjectLegalHoldOptions{VersionID: versionID, Status: &status})
	if err != nil {
		return fmt.Errorf("s3: legal hold %s version %s: %w", key, versionID, classify(err, false))
	}
	return nil
}

// ExtendRetention moves the COMPLIANCE retain-until date of one version to
// until, rounded up to the second. The server refuses an earlier date than
// the current one: that fails with archive.ErrLocked.
func (s *Store) ExtendRetention(ctx context.Context, key, versionID string, until time.Time) error {
	ctx, cancel, err := s.begin(ctx, 0)
	if err == nil {
		defer cancel()
		err = s.extendRetention(ctx, key, versionID, until)
	}
	if err != nil {
		return fmt.Errorf("s3: extend retention %s version %s: %w", key, versionID, err)
	}
	return nil
}

func (s *Store) extendRetention(ctx context.Context, key, versionID string, until time.Time) error {
	if versionID == "" {
		return errNoVersionID
	}
	if !until.After(time.Now()) {
		return fmt.Errorf("retain-until %s is not in the future", until.UTC().Format(time.RFC3339Nano))
	}
	until = ceilSecond(until)
	mode := minio.Compliance
	err := s.client.PutObjectRetention(ctx, s.bucket, key, minio.PutObjectRetentionOptions{
		Mode:            &mode,
		RetainUntilDate: &until,
		VersionID:       versionID,
	})
	if err != nil {
		return classify(err, true)
	}
	return nil
}
