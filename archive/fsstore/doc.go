// Package fsstore is an archive.ObjectStore on a local directory that
// enforces Object Lock semantics itself: every Put creates a new version
// under COMPLIANCE retention, and DeleteVersion refuses, with
// archive.ErrLocked, a version whose retain-until date has not passed or
// that is under legal hold. ExtendRetention never shortens a retention.
//
// It is holdfast's embedded default for a single machine and the real fake
// the unit tests of other packages run against. It is NOT SEC 17a-4 grade:
// the operating system does not enforce the lock, so root (or anyone with
// write access to the directory) can delete or change the files. Use the
// archive/s3 store with a bucket under Object Lock for regulated records.
//
// Layout under the store's directory:
//
//	objects/<key>/.versions/<version>.data   the bytes of one version
//	objects/<key>/.versions/<version>.json   its metadata sidecar
//	tmp/                                     files being written
//
// Keys may contain '/', which become directories; a key segment may not be
// empty, ".", ".." or ".versions". Version ids are zero-padded decimal
// nanosecond timestamps, so they sort in creation order. A version exists
// once its sidecar exists: data is written to tmp/, fsynced and renamed into
// place, then the sidecar is written the same way, then the directory is
// fsynced. Empty directories left by deleted versions are not removed.
//
// One process owns a directory at a time; within it, a Store is safe for
// concurrent use.
package fsstore
