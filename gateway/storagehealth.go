package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// probeInterval is how often storage is pinged while nothing else has
// talked to it: an outage shows in /readyz and holdfast_storage_up even
// when there is nothing to upload, and so does its end.
const probeInterval = 5 * time.Second

// pinger is a store that can be asked whether it answers (s3.Store).
type pinger interface {
	Ping(ctx context.Context) error
}

// storageHealth is what this node knows of storage: the last error of a
// storage call (nil once one succeeds), since when storage has been
// failing, and when it was last talked to. It logs each change.
type storageHealth struct {
	up  *gauge        // holdfast_storage_up; may be nil
	log *logrus.Entry // may be nil

	mu     sync.Mutex
	err    error
	since  time.Time // first failure of the current outage
	lastOp time.Time
}

// set records the outcome of a storage call.
func (h *storageHealth) set(err error) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastOp = now
	if err != nil && h.err == nil {
		h.since = now
	}
	switch {
	case h.log == nil:
	case err != nil && h.err == nil:
		h.log.WithError(err).Warn("storage unreachable: messages are still accepted into the spool, up to spool.max_bytes, and uploaded once storage answers")
	case err == nil && h.err != nil:
		h.log.WithField("down_for", now.Sub(h.since).Round(time.Second).String()).Info("storage reachable again; uploading the spooled messages")
	}
	h.err = err
	if h.up != nil {
		h.up.set(boolGauge(err == nil))
	}
}

// state is since when storage has failed and the last storage error.
func (h *storageHealth) state() (time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.since, h.err
}

// idle reports whether no storage call finished in the last d.
func (h *storageHealth) idle(d time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Since(h.lastOp) >= d
}

// describe is /readyz's word on storage: "ok", or "unreachable for 12 s: …".
func (h *storageHealth) describe() string {
	since, err := h.state()
	if err == nil {
		return "ok"
	}
	return fmt.Sprintf("unreachable for %d s: %v", int(time.Since(since).Seconds()), err)
}

// probe pings p at once and then whenever storage has been idle for
// probeInterval, until ctx is done.
func (h *storageHealth) probe(ctx context.Context, p pinger) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		if h.idle(probeInterval) {
			pctx, cancel := context.WithTimeout(ctx, probeInterval*3)
			err := p.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			h.set(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
