package spool

import (
	"path/filepath"
	"time"
)

// Internals exposed to the external tests.
const (
	HeaderSize      = headerSize
	FrameHeaderSize = frameHeaderSize
	CommitFrameSize = commitFrameSize
	IndexInterval   = indexInterval
)

// Fsyncs returns how many batch fsyncs the writer has done.
func (s *Spool) Fsyncs() int64 { return s.fsyncs.Load() }

// SetSyncDelay makes every batch fsync take at least d longer, as on a
// disk slower than the test machine's (tmpfs fsyncs in microseconds). Call
// it before the first Append.
func (s *Spool) SetSyncDelay(d time.Duration) { s.afterSync = func() { time.Sleep(d) } }

// FilePaths returns the paths of the WAL files the spool holds.
func (s *Spool) FilePaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var paths []string
	for _, f := range s.files {
		paths = append(paths, f.path)
	}
	return paths
}

// FileName is the name of the WAL file starting at first.
func FileName(first uint64) string { return fileName(first) }

// WriteWatermark writes state.json as a Commit would, without deleting
// files: what a crash between the two leaves behind.
func WriteWatermark(dir string, next uint64) error {
	return writeState(dir, state{Watermark: next})
}

// AppendRecordFrame and AppendCommitFrame encode frames for tests that
// forge file contents.
func AppendRecordFrame(b, payload []byte) []byte { return appendRecord(b, payload) }

// AppendCommitFrame encodes a commit frame for first..last.
func AppendCommitFrame(b []byte, first, last uint64) []byte { return appendCommit(b, first, last) }

// StatePath is the path of the spool's state file.
func StatePath(dir string) string { return filepath.Join(dir, stateFile) }
