package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// DefaultAckStoredTimeout is how long ?ack=stored waits for storage to
// confirm a request's records before answering 503 with Retry-After.
const DefaultAckStoredTimeout = 30 * time.Second

// errVersionGone is what awaitVersion answers when the request that
// reserved a version ended without spooling it.
var errVersionGone = errors.New("the request that reserved this version failed; nothing was accepted for it")

// spooledAt is the spool LSN a ledger entry waits at for upload, or 0 once
// it is stored (the entry must be resolved).
func spooledAt(e *ledgerEntry) uint64 {
	if e.Segment != "" {
		return 0
	}
	return e.LSN
}

// notifyChanged wakes awaitVersion callers. Callers hold l.mu.
func (l *ledger) notifyChanged() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// awaitVersion waits until the version r repeats is recorded in the
// ledger — another request reserved it and is spooling it — and returns
// the spool LSN it waits at for upload (0 once stored). It fails with
// errVersionGone when that request ended without spooling it.
func (l *ledger) awaitVersion(ctx context.Context, r *record) (uint64, error) {
	key := eventKey(r.msg.ID, r.event)
	for {
		l.mu.Lock()
		_, held := l.pending[string(key)]
		changed := l.changed
		l.mu.Unlock()
		// Read after looking at the reservation: commit writes the
		// version before it drops the reservation, so a reservation gone
		// and no version means the request failed.
		e, err := l.version(r.msg.ID, r.msg.Version)
		switch {
		case err == nil:
			return spooledAt(&e), nil
		case !errors.Is(err, archive.ErrNotFound):
			return 0, err
		case !held:
			return 0, errVersionGone
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// waitRecordsStored returns once every record of a request is in storage
// and verified: the new ones it spooled up to last, and the duplicates,
// whose earlier copies may still be in the spool or, accepted by a
// request in flight, not even there yet. It waits at most
// cfg.AckStoredTimeout, then answers 503 with Retry-After.
func (g *Gateway) waitRecordsStored(ctx context.Context, recs []*record, last uint64) *APIError {
	wctx, cancel := context.WithTimeout(ctx, g.cfg.AckStoredTimeout)
	defer cancel()
	want := last
	for _, r := range recs {
		if !r.duplicate {
			continue
		}
		lsn := r.spooledAt
		if r.inflight {
			var err error
			if lsn, err = g.ledger.awaitVersion(wctx, r); err != nil {
				return g.storedWaitError(ctx, err)
			}
		}
		want = max(want, lsn)
	}
	if want == 0 {
		return nil
	}
	if err := g.uploader.waitStored(wctx, want); err != nil {
		return g.storedWaitError(ctx, err)
	}
	return nil
}

// storedWaitError is the answer to an ?ack=stored wait that ended without
// storage confirming: 503 when storage did not answer in time (the sender
// retries), 504 when the sender went away first.
func (g *Gateway) storedWaitError(ctx context.Context, err error) *APIError {
	switch {
	case errors.Is(err, errVersionGone):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "a request sending the same messages at the same time failed; nothing was stored for them, retry"}
	case ctx.Err() != nil:
		return &APIError{Status: http.StatusGatewayTimeout, Code: CodeStoreTimedOut,
			Message: "the messages are spooled and will be stored, but storage did not confirm before the request ended"}
	case errors.Is(err, context.DeadlineExceeded):
		msg := fmt.Sprintf("the messages are spooled and will be stored, but storage did not confirm them within %s (spool.ack_stored_timeout)", g.cfg.AckStoredTimeout)
		if serr := g.uploader.StorageErr(); serr != nil {
			msg += ": storage is unreachable"
		}
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeStoreTimedOut, Message: msg + "; retry with ack=stored to learn when they are stored"}
	default:
		g.log.WithError(err).Error("wait for stored records")
		return &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "ledger unreadable: " + err.Error()}
	}
}
