package s3_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/s3"
	"github.com/holdfast/holdfast/archive/storetest"
)

// testConfig is the MinIO that `make test` (scripts/minio.sh) starts, with
// a fresh bucket name; it skips the test when there is none.
func testConfig(t *testing.T) s3.Config {
	t.Helper()
	endpoint := os.Getenv("HOLDFAST_TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Skip("HOLDFAST_TEST_S3_ENDPOINT not set: run `make test` to start MinIO")
	}
	b := make([]byte, 8)
	rand.Read(b)
	return s3.Config{
		Endpoint:  endpoint,
		Bucket:    "holdfast-test-" + hex.EncodeToString(b),
		AccessKey: os.Getenv("HOLDFAST_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("HOLDFAST_TEST_S3_SECRET_KEY"),
	}
}

func mustOpen(t *testing.T, cfg s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// rawClient talks to the same server without holdfast in between, the way
// an examiner's tool (mc, aws s3api) would.
func rawClient(t *testing.T, cfg s3.Config) *minio.Client {
	t.Helper()
	c, err := minio.New(cfg.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")})
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	return c
}

func sha(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

func mustPut(t *testing.T, s *s3.Store, key string, body []byte, opts archive.PutOptions) archive.ObjectInfo {
	t.Helper()
	opts.SHA256 = hex.EncodeToString(sha(body))
	info, err := s.Put(t.Context(), key, bytes.NewReader(body), int64(len(body)), opts)
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	return info
}

func TestConformance(t *testing.T) {
	testConfig(t) // skip before starting subtests
	storetest.Run(t, func(t *testing.T) archive.ObjectStore { return mustOpen(t, testConfig(t)) })
}

func TestOpenCreatesBucketWithObjectLock(t *testing.T) {
	cfg := testConfig(t)
	s := mustOpen(t, cfg)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	raw := rawClient(t, cfg)
	enabled, _, _, _, err := raw.GetObjectLockConfig(t.Context(), cfg.Bucket)
	if err != nil || enabled != "Enabled" {
		t.Fatalf("raw GetObjectLockConfig = %q, %v; want Enabled", enabled, err)
	}
	v, err := raw.GetBucketVersioning(t.Context(), cfg.Bucket)
	if err != nil || !v.Enabled() {
		t.Fatalf("raw GetBucketVersioning = %+v, %v; want Enabled", v, err)
	}
	// Opening an existing locked bucket, as every restart does, works.
	mustOpen(t, cfg)
}

func TestOpenRefusesBucketWithoutObjectLock(t *testing.T) {
	cfg := testConfig(t)
	if err := rawClient(t, cfg).MakeBucket(t.Context(), cfg.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("raw MakeBucket: %v", err)
	}
	_, err := s3.Open(t.Context(), cfg, nil)
	if !errors.Is(err, archive.ErrNoObjectLock) {
		t.Fatalf("Open of a bucket without Object Lock: %v, want ErrNoObjectLock", err)
	}
	if msg := err.Error(); !strings.Contains(msg, cfg.Bucket) || !strings.Contains(msg, "create a new bucket") {
		t.Fatalf("error %q does not name the bucket and tell the operator what to do", msg)
	}
}

func TestPutIsComplianceToARawClient(t *testing.T) {
	cfg := testConfig(t)
	s := mustOpen(t, cfg)
	body := []byte("a record an examiner will look for")
	until := time.Now().Add(time.Hour)
	put := mustPut(t, s, "segments/t1/0001.seg", body, archive.PutOptions{RetainUntil: until, LegalHold: true})
	ctx := t.Context()
	raw := rawClient(t, cfg)

	mode, rawUntil, err := raw.GetObjectRetention(ctx, cfg.Bucket, put.Key, put.VersionID)
	if err != nil {
		t.Fatalf("raw GetObjectRetention: %v", err)
	}
	if *mode != minio.Compliance || rawUntil.Before(until) {
		t.Fatalf("raw retention = %s until %s, want COMPLIANCE until at least %s", *mode, rawUntil, until)
	}
	hold, err := raw.GetObjectLegalHold(ctx, cfg.Bucket, put.Key, minio.GetObjectLegalHoldOptions{VersionID: put.VersionID})
	if err != nil || *hold != minio.LegalHoldEnabled {
		t.Fatalf("raw GetObjectLegalHold = %v, %v; want ON", hold, err)
	}

	// The server kept the SHA-256 holdfast sent and verified.
	opts := minio.StatObjectOptions{VersionID: put.VersionID, Checksum: true}
	oi, err := raw.StatObject(ctx, cfg.Bucket, put.Key, opts)
	if err != nil {
		t.Fatalf("raw StatObject: %v", err)
	}
	if want := base64.StdEncoding.EncodeToString(sha(body)); oi.ChecksumSHA256 != want {
		t.Fatalf("stored sha256 = %q, want %q", oi.ChecksumSHA256, want)
	}

	// Nobody gets around COMPLIANCE: not a governance bypass, not a
	// shorter retention.
	bypass := minio.RemoveObjectOptions{VersionID: put.VersionID, GovernanceBypass: true}
	if err := raw.RemoveObject(ctx, cfg.Bucket, put.Key, bypass); err == nil {
		t.Fatal("raw delete with governance bypass removed a COMPLIANCE version")
	}
	sooner := time.Now().Add(time.Minute)
	cm := minio.Compliance
	if err := raw.PutObjectRetention(ctx, cfg.Bucket, put.Key, minio.PutObjectRetentionOptions{
		Mode: &cm, RetainUntilDate: &sooner, VersionID: put.VersionID,
	}); err == nil {
		t.Fatal("raw PutObjectRetention shortened a COMPLIANCE retention")
	}
}

// TestLockedDeleteAnswer records what the server answers to a delete of a
// locked version, and that holdfast reads it as ErrLocked.
func TestLockedDeleteAnswer(t *testing.T) {
	cfg := testConfig(t)
	s := mustOpen(t, cfg)
	put := mustPut(t, s, "locked", []byte("x"), archive.PutOptions{RetainUntil: time.Now().Add(time.Hour)})

	rawErr := rawClient(t, cfg).RemoveObject(t.Context(), cfg.Bucket, "locked", minio.RemoveObjectOptions{VersionID: put.VersionID})
	resp := minio.ToErrorResponse(rawErr)
	t.Logf("server answer to a locked delete: %d %s %q", resp.StatusCode, resp.Code, resp.Message)
	if rawErr == nil || (resp.Code != "InvalidRequest" && resp.Code != "AccessDenied") {
		t.Fatalf("raw delete of a locked version: %v, want InvalidRequest (MinIO) or AccessDenied (AWS)", rawErr)
	}

	err := s.DeleteVersion(t.Context(), "locked", put.VersionID)
	if !errors.Is(err, archive.ErrLocked) {
		t.Fatalf("DeleteVersion: %v, want ErrLocked", err)
	}
	var got minio.ErrorResponse
	if !errors.As(err, &got) || got.Code != resp.Code {
		t.Fatalf("DeleteVersion error %v does not carry the server's answer %s", err, resp.Code)
	}
}

func TestDeleteVersionNeedsAVersionID(t *testing.T) {
	cfg := testConfig(t)
	s := mustOpen(t, cfg)
	mustPut(t, s, "k", []byte("x"), archive.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
	if err := s.DeleteVersion(t.Context(), "k", ""); err == nil {
		t.Fatal("DeleteVersion without a version id succeeded")
	}
	vs, err := s.Versions(t.Context(), "k")
	if err != nil || len(vs) != 1 || vs[0].DeleteMarker {
		t.Fatalf("Versions after a refused delete = %+v, %v; want the one version and no delete marker", vs, err)
	}
}

func TestDeleteMarkers(t *testing.T) {
	cfg := testConfig(t)
	s := mustOpen(t, cfg)
	ctx := t.Context()
	put := mustPut(t, s, "dm/k", []byte("x"), archive.PutOptions{RetainUntil: time.Now().Add(time.Hour)})

	// A plain delete "succeeds" on a locked object: it adds a marker.
	if err := rawClient(t, cfg).RemoveObject(ctx, cfg.Bucket, "dm/k", minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("raw plain delete: %v", err)
	}
	vs, err := s.Versions(ctx, "dm/k")
	if err != nil || len(vs) != 2 || !vs[0].DeleteMarker || vs[1].VersionID != put.VersionID {
		t.Fatalf("Versions = %+v, %v; want a delete marker, then the version", vs, err)
	}
	if _, err := s.Stat(ctx, "dm/k"); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Stat behind a delete marker: %v, want ErrNotFound", err)
	}
	n := 0
	if err := s.List(ctx, "dm/", func(archive.ObjectInfo) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("List behind a delete marker: %d keys, %v; want none", n, err)
	}

	// Removing the marker brings the record back.
	if err := s.DeleteVersion(ctx, "dm/k", vs[0].VersionID); err != nil {
		t.Fatalf("DeleteVersion of the delete marker: %v", err)
	}
	if info, err := s.Stat(ctx, "dm/k"); err != nil || info.VersionID != put.VersionID {
		t.Fatalf("Stat after removing the marker = %+v, %v; want version %s", info, err, put.VersionID)
	}
}

func TestPutWithoutSHA256(t *testing.T) {
	cfg := testConfig(t)
	s := mustOpen(t, cfg)
	body := []byte("no hash given")
	put, err := s.Put(t.Context(), "nohash", bytes.NewReader(body), int64(len(body)),
		archive.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	oi, err := rawClient(t, cfg).StatObject(t.Context(), cfg.Bucket, "nohash",
		minio.StatObjectOptions{VersionID: put.VersionID, Checksum: true})
	if err != nil {
		t.Fatalf("raw StatObject: %v", err)
	}
	if want := base64.StdEncoding.EncodeToString(sha(body)); oi.ChecksumSHA256 != want {
		t.Fatalf("stored sha256 = %q, want %q", oi.ChecksumSHA256, want)
	}
}

func TestOutageSurfacesInSeconds(t *testing.T) {
	cfg := testConfig(t)
	s := mustOpen(t, cfg)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	// An address nobody listens on stands in for a server that is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Endpoint = l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = s3.Open(t.Context(), cfg, nil)
	if err == nil {
		t.Fatal("Open against a closed port succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open took %s to fail, want seconds", d)
	}
}
