package archive

import "errors"

// Sentinel errors shared by every ObjectStore implementation and by the
// segment codec. Adapters wrap them with their own context ("s3: ...") so
// callers test them with errors.Is.
var (
	// ErrNotFound means the object or version does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrLocked means storage refused to delete or shorten a record because
	// its Object Lock retention has not passed or a legal hold is on.
	ErrLocked = errors.New("object is locked")
	// ErrNoObjectLock means the bucket was created without Object Lock and
	// therefore cannot hold compliance records.
	ErrNoObjectLock = errors.New("bucket has no object lock")
	// ErrExists means a Put would replace an object that is already stored.
	ErrExists = errors.New("object already exists")
	// ErrCorrupt means stored bytes do not match their recorded hash or
	// cannot be decoded.
	ErrCorrupt = errors.New("corrupt data")
)
