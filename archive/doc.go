// Package archive holds holdfast's domain: the normalised message record
// (Message), the immutable segment that stores many of them (Segment and its
// codec), retention arithmetic, and the ObjectStore contract that every WORM
// backend (archive/s3, archive/fsstore) satisfies.
//
// Nothing here performs network I/O; adapters live in subpackages and callers
// receive them through the ObjectStore interface.
package archive
