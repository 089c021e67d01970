package spool

import "errors"

// Sentinel errors returned (wrapped) by the Spool; test them with errors.Is.
var (
	// ErrFull means accepting the records would take the spool's live bytes
	// over Options.MaxBytes. Nothing was written; the caller should answer
	// 503 / SMTP 451 so the sender retries after the uploader catches up.
	ErrFull = errors.New("spool: full")
	// ErrClosed means the Spool has been closed.
	ErrClosed = errors.New("spool: closed")
	// ErrCorrupt means bytes on disk fail their checksum or framing in a
	// place a crash cannot explain. The wrapping error names the file and
	// offset.
	ErrCorrupt = errors.New("spool: corrupt")
	// ErrTooLarge means a record exceeds MaxRecordBytes, or one Append call
	// exceeds Options.MaxBytes, so it could never be accepted.
	ErrTooLarge = errors.New("spool: too large")
	// ErrCompacted means a Read asked for LSNs below the watermark, whose
	// records are done and may already be deleted.
	ErrCompacted = errors.New("spool: below watermark")
)
