// Package s3 is the archive.ObjectStore on S3-compatible storage with
// Object Lock (MinIO, AWS S3, Ceph RGW), built on minio-go v7.
//
// Open refuses a bucket without Object Lock (archive.ErrNoObjectLock) and
// creates a missing bucket with it. Every Put writes COMPLIANCE retention and,
// when asked, a legal hold in the same request, and sends the caller's
// SHA-256 as x-amz-checksum-sha256 so the server refuses bytes that do not
// match it (archive.ErrCorrupt). Get verifies a full-object SHA-256 checksum
// the server reports while the body is read.
//
// The server's refusals map to archive's sentinels: a locked version's
// delete, or a shortened retention, is answered 400 InvalidRequest ("Object
// is WORM protected and cannot be overwritten") by MinIO and 403
// AccessDenied by AWS; both become archive.ErrLocked. NoSuchKey and
// NoSuchVersion become archive.ErrNotFound. The server's answer stays in the
// error chain (errors.As with minio.ErrorResponse).
//
// Retries are the caller's job: the client makes at most DefaultMaxAttempts
// attempts per request and dials with DefaultDialTimeout, so an outage
// surfaces in seconds and the spool takes over.
package s3
