package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
)

// Client limits: an unreachable server shows up as an error within seconds,
// and the caller (the spool) decides when to try again.
const (
	// DefaultMaxAttempts is how many times the client sends one request
	// before it gives up (minio-go's MaxRetries; 1 would mean no retry).
	DefaultMaxAttempts = 2
	// DefaultDialTimeout bounds opening a connection to the server.
	DefaultDialTimeout = 5 * time.Second
	// DefaultResponseHeaderTimeout bounds the wait for the server's answer
	// once a request has been sent.
	DefaultResponseHeaderTimeout = 30 * time.Second
)

// Config says where the bucket is and how to reach it.
type Config struct {
	// Endpoint is host:port, without a scheme.
	Endpoint string
	// Bucket is created with Object Lock when it does not exist.
	Bucket string
	// AccessKey and SecretKey are the static credentials requests are
	// signed with.
	AccessKey string
	SecretKey string
	// Region is sent with requests and used to create the bucket; empty
	// lets the client discover it.
	Region string
	// Secure selects HTTPS.
	Secure bool
	// RequestTimeout bounds one call, retries included, that moves little
	// data; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MinBytesPerSecond is the slowest transfer a call with a body may
	// take before its deadline; 0 means DefaultMinBytesPerSecond.
	MinBytesPerSecond int64
}

var _ archive.ObjectStore = (*Store)(nil)

// Store is an archive.ObjectStore on one S3 bucket under Object Lock. It is
// safe for concurrent use. Open one with Open.
type Store struct {
	client *minio.Client
	core   minio.Core // single-request GETs that report errors at once
	bucket string
	log    *logrus.Entry
	// check, timeout and minRate: see ready.go.
	check   bucketCheck
	timeout time.Duration
	minRate int64
}

// Open connects to cfg.Endpoint and makes sure cfg.Bucket can hold WORM
// records: a missing bucket is created with Object Lock; an existing one
// without Object Lock fails with an error wrapping archive.ErrNoObjectLock.
// log may be nil.
func Open(ctx context.Context, cfg Config, log *logrus.Entry) (*Store, error) {
	s, err := newStore(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := s.Check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// newStore builds the client; it does not talk to the server.
func newStore(cfg Config, log *logrus.Entry) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("s3: open: endpoint and bucket are required")
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	tr, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("s3: open %s: %w", cfg.Endpoint, err)
	}
	tr.DialContext = (&net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = DefaultDialTimeout
	tr.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.Secure,
		Region:    cfg.Region,
		Transport: tr,
		// Required to send x-amz-checksum-* headers with a PUT.
		TrailingHeaders: true,
		MaxRetries:      DefaultMaxAttempts,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: open %s: %w", cfg.Endpoint, err)
	}
	s := &Store{
		client:  client,
		core:    minio.Core{Client: client},
		bucket:  cfg.Bucket,
		log:     log.WithFields(logrus.Fields{"component": "s3", "bucket": cfg.Bucket}),
		timeout: cfg.RequestTimeout,
		minRate: cfg.MinBytesPerSecond,
	}
	s.check.region = cfg.Region
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.minRate <= 0 {
		s.minRate = DefaultMinBytesPerSecond
	}
	return s, nil
}

// ensureBucket creates the bucket with Object Lock when it is missing and
// checks that Object Lock is enabled on it.
func (s *Store) ensureBucket(ctx context.Context, region string) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3: open bucket %s: %w", s.bucket, err)
	}
	if !exists {
		err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region, ObjectLocking: true})
		switch code := minio.ToErrorResponse(err).Code; {
		case err == nil:
			s.log.Info("bucket created with object lock")
		case code == "BucketAlreadyOwnedByYou":
			// Another node created it first; check it like any other.
		default:
			return fmt.Errorf("s3: create bucket %s: %w", s.bucket, err)
		}
	}
	enabled, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.bucket)
	if err != nil && minio.ToErrorResponse(err).Code != "ObjectLockConfigurationNotFoundError" {
		return fmt.Errorf("s3: open bucket %s: object lock configuration: %w", s.bucket, err)
	}
	if enabled != "Enabled" {
		return fmt.Errorf("s3: bucket %s was created without Object Lock; S3 cannot add it later: "+
			"create a new bucket with Object Lock (holdfast does so itself when storage.s3.bucket names a bucket that does not exist) "+
			"and point storage.s3.bucket at it: %w", s.bucket, archive.ErrNoObjectLock)
	}
	return nil
}

// Ping checks that the server answers and the bucket exists; readiness
// checks and outage detection call it.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel, err := s.begin(ctx, 0)
	if err != nil {
		return fmt.Errorf("s3: ping: %w", err)
	}
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3: ping %s: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("s3: ping: bucket %s does not exist", s.bucket)
	}
	return nil
}

// Bucket is the name of the store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// Error codes S3 servers answer with, beyond those minio-go names.
const (
	codeNoSuchKey     = "NoSuchKey"
	codeNoSuchVersion = "NoSuchVersion"
	// A locked version: MinIO answers InvalidRequest, AWS AccessDenied.
	codeInvalidRequest = "InvalidRequest"
	codeAccessDenied   = "AccessDenied"
	codeNoLockConfig   = "NoSuchObjectLockConfiguration"
	codeInvalidRange   = "InvalidRange"
)

// corruptCodes are the answers to a body that does not match the checksum
// or digest sent with it.
var corruptCodes = map[string]bool{
	"XAmzContentChecksumMismatch": true, // MinIO, x-amz-checksum-*
	"BadDigest":                   true, // AWS, x-amz-checksum-* or Content-MD5
	"InvalidDigest":               true,
	"XAmzContentSHA256Mismatch":   true, // signed payload hash
}

// classify adds the archive sentinel an S3 answer means and keeps the
// answer in the chain. locks says whether the request was a delete or a
// retention change, for which InvalidRequest and AccessDenied mean locked.
func classify(err error, locks bool) error {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return err
	}
	switch {
	case resp.Code == codeNoSuchKey || resp.Code == codeNoSuchVersion:
		return fmt.Errorf("%w: %w", archive.ErrNotFound, err)
	case locks && (resp.Code == codeInvalidRequest || resp.Code == codeAccessDenied):
		return fmt.Errorf("%w: %w", archive.ErrLocked, err)
	case corruptCodes[resp.Code]:
		return fmt.Errorf("%w: %w", archive.ErrCorrupt, err)
	}
	return err
}

// isDeleteMarker reports a HEAD of a version that is a delete marker, which
// S3 answers 405 Method Not Allowed.
func isDeleteMarker(err error) bool {
	return minio.ToErrorResponse(err).StatusCode == http.StatusMethodNotAllowed
}
