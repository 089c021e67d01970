package s3

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/holdfast/holdfast/archive"
)

const (
	// maxSinglePut is the largest object S3 takes in one PUT. Larger
	// objects go up in parts, with a per-part SHA-256 instead of the
	// caller's whole-object hash.
	maxSinglePut = 5 << 30

	hdrLockMode        = "X-Amz-Object-Lock-Mode"
	hdrLockRetainUntil = "X-Amz-Object-Lock-Retain-Until-Date"
	hdrLegalHold       = "X-Amz-Object-Lock-Legal-Hold"
	hdrChecksumMode    = "x-amz-checksum-mode"
	hdrChecksumSHA256  = "x-amz-checksum-sha256"
	checksumFullObject = "FULL_OBJECT"
)

// Put stores body as a new version of key under COMPLIANCE retention until
// opts.RetainUntil, rounded up to the whole second S3 keeps. size must be
// the exact length of body. When opts.SHA256 is set the server checks the
// body against it and stores nothing on a mismatch (archive.ErrCorrupt).
// The returned LastModified is zero: S3 does not report it on PUT.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64, opts archive.PutOptions) (archive.ObjectInfo, error) {
	ctx, cancel, err := s.begin(ctx, size)
	if err != nil {
		return archive.ObjectInfo{}, fmt.Errorf("s3: put %s: %w", key, err)
	}
	defer cancel()
	info, err := s.put(ctx, key, body, size, opts)
	if err != nil {
		return archive.ObjectInfo{}, fmt.Errorf("s3: put %s: %w", key, err)
	}
	return info, nil
}

func (s *Store) put(ctx context.Context, key string, body io.Reader, size int64, opts archive.PutOptions) (archive.ObjectInfo, error) {
	if size < 0 {
		return archive.ObjectInfo{}, fmt.Errorf("size %d: the size must be known", size)
	}
	if now := time.Now(); !opts.RetainUntil.After(now) {
		return archive.ObjectInfo{}, fmt.Errorf("retain-until %s is not in the future (now %s)",
			opts.RetainUntil.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	until := ceilSecond(opts.RetainUntil)
	po := minio.PutObjectOptions{
		ContentType:      opts.ContentType,
		Mode:             minio.Compliance,
		RetainUntilDate:  until,
		DisableMultipart: size <= maxSinglePut,
	}
	if opts.LegalHold {
		po.LegalHold = minio.LegalHoldEnabled
	}
	var want string // base64, as S3 writes checksums
	if opts.SHA256 != "" {
		raw, err := hex.DecodeString(opts.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return archive.ObjectInfo{}, fmt.Errorf("sha256 %q is not a hex SHA-256 digest", opts.SHA256)
		}
		want = base64.StdEncoding.EncodeToString(raw)
	}
	if want != "" && po.DisableMultipart {
		// The server hashes what it receives and refuses a mismatch. The
		// signed checksum header binds the body to the signature, so the
		// client does not hash the body a second time to sign it.
		po.UserMetadata = map[string]string{hdrChecksumSHA256: want}
		po.DisableContentSha256 = true
	} else {
		// The client hashes what it sends; AWS requires a checksum on a
		// PUT with Object Lock.
		po.Checksum = minio.ChecksumSHA256
	}

	up, err := s.client.PutObject(ctx, s.bucket, key, body, size, po)
	if err != nil {
		return archive.ObjectInfo{}, classify(err, false)
	}
	if want != "" && po.DisableMultipart && up.ChecksumSHA256 != "" && up.ChecksumSHA256 != want {
		return archive.ObjectInfo{}, fmt.Errorf("server stored sha256 %s, want %s: %w", up.ChecksumSHA256, want, archive.ErrCorrupt)
	}
	return archive.ObjectInfo{
		Key:         key,
		VersionID:   up.VersionID,
		Size:        size,
		Mode:        archive.ModeCompliance,
		RetainUntil: until,
		LegalHold:   opts.LegalHold,
	}, nil
}

// ceilSecond rounds t up to a whole second: S3 keeps retain-until dates to
// the second, and rounding down would shorten the retention asked for.
func ceilSecond(t time.Time) time.Time {
	t = t.UTC()
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// Get opens the latest version of key. When the server reports a
// full-object SHA-256, reading to the end verifies it: a mismatch fails the
// last Read with archive.ErrCorrupt.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	ctx, dl, err := s.beginStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("s3: get %s: %w", key, err)
	}
	opts := minio.GetObjectOptions{}
	opts.Set(hdrChecksumMode, "ENABLED")
	rc, oi, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		dl.stop()
		return nil, fmt.Errorf("s3: get %s: %w", key, classify(err, false))
	}
	dl.extend(oi.Size)
	rc = deadlineCloser{ReadCloser: rc, d: dl}
	if oi.ChecksumSHA256 == "" || oi.ChecksumMode != checksumFullObject {
		return rc, nil
	}
	return &verifyingReader{rc: rc, h: sha256.New(), want: oi.ChecksumSHA256, key: key, version: oi.VersionID}, nil
}

// Verify re-reads the latest version of key and checks its bytes against
// sha256Hex, hashing them once, and the full-object checksum the server
// recorded at the PUT, when it reports one, against the same digest.
func (s *Store) Verify(ctx context.Context, key, sha256Hex string) error {
	ctx, dl, err := s.beginStream(ctx)
	if err != nil {
		return fmt.Errorf("s3: verify %s: %w", key, err)
	}
	defer dl.stop()
	opts := minio.GetObjectOptions{}
	opts.Set(hdrChecksumMode, "ENABLED")
	rc, oi, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return fmt.Errorf("s3: verify %s: %w", key, classify(err, false))
	}
	defer rc.Close()
	dl.extend(oi.Size)
	if err := archive.CheckSHA256(rc, sha256Hex); err != nil {
		return fmt.Errorf("s3: verify %s version %s: %w", key, oi.VersionID, err)
	}
	if oi.ChecksumSHA256 != "" && oi.ChecksumMode == checksumFullObject {
		if got, err := base64.StdEncoding.DecodeString(oi.ChecksumSHA256); err != nil || hex.EncodeToString(got) != sha256Hex {
			return fmt.Errorf("s3: verify %s version %s: server checksum %s, expected sha256 %s: %w",
				key, oi.VersionID, oi.ChecksumSHA256, sha256Hex, archive.ErrCorrupt)
		}
	}
	return nil
}

// GetRange reads exactly length bytes of the latest version of key from
// off; a range past the end fails with io.ErrUnexpectedEOF.
func (s *Store) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	ctx, cancel, err := s.begin(ctx, length)
	if err != nil {
		return nil, fmt.Errorf("s3: get %s range %d+%d: %w", key, off, length, err)
	}
	defer cancel()
	b, err := s.getRange(ctx, key, off, length)
	if err != nil {
		return nil, fmt.Errorf("s3: get %s range %d+%d: %w", key, off, length, err)
	}
	return b, nil
}

func (s *Store) getRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if off < 0 || length < 0 {
		return nil, errors.New("negative offset or length")
	}
	if length == 0 {
		// HTTP cannot ask for no bytes; check the range against the size.
		oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
		if err != nil {
			return nil, classify(err, false)
		}
		if off > oi.Size {
			return nil, fmt.Errorf("past the end of %d bytes: %w", oi.Size, io.ErrUnexpectedEOF)
		}
		return []byte{}, nil
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(off, off+length-1); err != nil {
		return nil, err
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if minio.ToErrorResponse(err).Code == codeInvalidRange {
		return nil, fmt.Errorf("past the end: %w: %w", io.ErrUnexpectedEOF, err)
	}
	if err != nil {
		return nil, classify(err, false)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, length))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != length {
		return nil, fmt.Errorf("got %d bytes: past the end: %w", len(b), io.ErrUnexpectedEOF)
	}
	return b, nil
}

// Stat describes the latest version of key with its retention and legal
// hold. They come from the HEAD answer's headers; a server that leaves
// them out (AWS does without s3:GetObjectRetention / s3:GetObjectLegalHold)
// is asked for them separately.
func (s *Store) Stat(ctx context.Context, key string) (archive.ObjectInfo, error) {
	ctx, cancel, err := s.begin(ctx, 0)
	if err != nil {
		return archive.ObjectInfo{}, fmt.Errorf("s3: stat %s: %w", key, err)
	}
	defer cancel()
	info, err := s.stat(ctx, key)
	if err != nil {
		return archive.ObjectInfo{}, fmt.Errorf("s3: stat %s: %w", key, err)
	}
	return info, nil
}

func (s *Store) stat(ctx context.Context, key string) (archive.ObjectInfo, error) {
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return archive.ObjectInfo{}, classify(err, false)
	}
	info := archive.ObjectInfo{
		Key:          key,
		VersionID:    oi.VersionID,
		Size:         oi.Size,
		LastModified: oi.LastModified,
		Mode:         oi.Metadata.Get(hdrLockMode),
	}
	if v := oi.Metadata.Get(hdrLockRetainUntil); v != "" {
		if info.RetainUntil, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return archive.ObjectInfo{}, fmt.Errorf("retain-until %q: %w", v, err)
		}
	}
	if info.Mode == "" {
		mode, until, err := s.client.GetObjectRetention(ctx, s.bucket, key, oi.VersionID)
		switch {
		case minio.ToErrorResponse(err).Code == codeNoLockConfig:
			// No retention on this version.
		case err != nil:
			return archive.ObjectInfo{}, fmt.Errorf("retention: %w", classify(err, false))
		default:
			if mode != nil {
				info.Mode = string(*mode)
			}
			if until != nil {
				info.RetainUntil = *until
			}
		}
	}
	switch oi.Metadata.Get(hdrLegalHold) {
	case string(minio.LegalHoldEnabled):
		info.LegalHold = true
	case string(minio.LegalHoldDisabled):
	default:
		st, err := s.client.GetObjectLegalHold(ctx, s.bucket, key, minio.GetObjectLegalHoldOptions{VersionID: oi.VersionID})
		switch {
		case minio.ToErrorResponse(err).Code == codeNoLockConfig:
			// Never held.
		case err != nil:
			return archive.ObjectInfo{}, fmt.Errorf("legal hold: %w", classify(err, false))
		default:
			info.LegalHold = st != nil && *st == minio.LegalHoldEnabled
		}
	}
	info.RetainUntil = info.RetainUntil.UTC()
	return info, nil
}

// verifyingReader hashes what it reads and, at EOF, fails with
// archive.ErrCorrupt unless the SHA-256 matches the server's checksum.
type verifyingReader struct {
	rc      io.ReadCloser
	h       hash.Hash
	want    string // base64
	key     string
	version string
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if got := base64.StdEncoding.EncodeToString(r.h.Sum(nil)); got != r.want {
			return n, fmt.Errorf("s3: get %s version %s: read sha256 %s, stored %s: %w",
				r.key, r.version, got, r.want, archive.ErrCorrupt)
		}
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.rc.Close() }
