package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
)

// storageStartTimeout bounds the bucket check at start: a node does not
// wait for storage to accept messages into its spool.
const storageStartTimeout = 3 * time.Second

// bucketChecker is the storage check serve runs at start (s3.Store).
type bucketChecker interface {
	Check(ctx context.Context) error
}

// checkStorageAtStart checks the bucket once. A bucket without Object Lock
// stops the start: that is a configuration to fix, not an outage. Storage
// that does not answer does not: the node spools and acknowledges up to
// spool.max_bytes, /readyz says storage is unreachable, and the store
// checks the bucket again before its first write.
func checkStorageAtStart(ctx context.Context, st bucketChecker, endpoint, bucket string, log *logrus.Logger) error {
	cctx, cancel := context.WithTimeout(ctx, storageStartTimeout)
	defer cancel()
	err := st.Check(cctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, archive.ErrNoObjectLock):
		return fmt.Errorf("open storage: %w", err)
	}
	log.WithError(err).WithFields(logrus.Fields{"endpoint": endpoint, "bucket": bucket}).
		Warn("storage unreachable at start; accepting messages into the spool (up to spool.max_bytes) and uploading them once storage answers")
	return nil
}
