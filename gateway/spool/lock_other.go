//go:build !unix

package spool

// lockDir is a no-op where flock is unavailable; holdfast runs on Linux.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }
