package gateway

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/sirupsen/logrus"
)

// The ledger checkpoint keeps restarts independent of the spool backlog.
// The ledger is written without fsync, so at start every record it may
// have lost is replayed from the spool into it. Rather than replaying the
// whole un-uploaded spool, the gateway records under the ledger key 'c'
// the highest LSN up to which every spooled record's ledger entry is
// durable, and a start replays only what follows it.
//
// The checkpoint is written with a sync after those entries were
// committed: Pebble's WAL is one ordered log, so the sync makes them
// durable too.

// checkpointInterval is how often the checkpoint moves: a restart
// replays about this much of ingest, whatever the backlog.
const checkpointInterval = time.Second

// checkpointKey is the ledger key of the checkpoint ('c' → LSN u64 BE).
var checkpointKey = []byte{'c'}

// checkpoint reads the ledger's checkpoint; ok is false when none was
// written.
func (l *ledger) checkpoint() (lsn uint64, ok bool, err error) {
	raw, found, err := l.get(checkpointKey)
	if err != nil {
		return 0, false, fmt.Errorf("read ledger checkpoint: %w", err)
	}
	if !found {
		return 0, false, nil
	}
	if len(raw) != 8 {
		return 0, false, fmt.Errorf("read ledger checkpoint: %d bytes, want 8: %w", len(raw), errBadSpoolRecord)
	}
	return binary.BigEndian.Uint64(raw), true, nil
}

// setCheckpoint records that the entries of every record up to lsn are
// in the ledger, and syncs it.
func (l *ledger) setCheckpoint(lsn uint64) error {
	if err := l.db.Set(checkpointKey, binary.BigEndian.AppendUint64(nil, lsn), pebble.Sync); err != nil {
		return fmt.Errorf("write ledger checkpoint %d: %w", lsn, err)
	}
	return nil
}

// appliedTracker follows which spooled LSNs have their ledger entries
// committed. Requests append and commit concurrently, so ranges complete
// out of order; upTo is the end of the prefix that is complete, and
// checkpointed the part of it the ledger checkpoint covers.
type appliedTracker struct {
	mu   sync.Mutex
	next uint64            // the lowest LSN not known to be applied
	done map[uint64]uint64 // first → last of ranges applied beyond next
	cp   uint64            // the checkpoint written
	// frozen is set when a range will never be applied (a ledger commit
	// failed): next stays below it until a restart replays it, and later
	// ranges are no longer kept.
	frozen bool
}

// newAppliedTracker starts a tracker with everything before next applied
// and checkpointed.
func newAppliedTracker(next uint64) *appliedTracker {
	return &appliedTracker{next: next, done: map[uint64]uint64{}, cp: next - 1}
}

// checkpointed is the LSN the ledger checkpoint is at.
func (a *appliedTracker) checkpointed() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cp
}

func (a *appliedTracker) setCheckpointed(lsn uint64) {
	a.mu.Lock()
	a.cp = max(a.cp, lsn)
	a.mu.Unlock()
}

// mark records that the records first..last are in the ledger.
func (a *appliedTracker) mark(first, last uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if last < a.next || a.frozen {
		return
	}
	a.done[first] = last
	for {
		l, ok := a.done[a.next]
		if !ok {
			return
		}
		delete(a.done, a.next)
		a.next = l + 1
	}
}

// freeze records that the records from first on will not all be applied
// before a restart; it reports whether it was not frozen already.
func (a *appliedTracker) freeze(first uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.frozen || first < a.next {
		return false
	}
	a.frozen = true
	clear(a.done)
	return true
}

// upTo is the highest LSN up to which every record is applied.
func (a *appliedTracker) upTo() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.next - 1
}

// checkpointer moves the ledger checkpoint every checkpointInterval while
// records are applied, until ctx is done; it writes a last one then.
type checkpointer struct {
	ledger  *ledger
	applied *appliedTracker
	log     *logrus.Entry
}

func (c *checkpointer) run(ctx context.Context) {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.write()
			return
		case <-t.C:
			c.write()
		}
	}
}

// write records the checkpoint when it moved.
func (c *checkpointer) write() {
	lsn := c.applied.upTo()
	if lsn <= c.applied.checkpointed() {
		return
	}
	if err := c.ledger.setCheckpoint(lsn); err != nil {
		// Not fatal: the next start replays from the last checkpoint.
		c.log.WithError(err).Warn("ledger checkpoint not written; the next start replays more of the spool")
		return
	}
	c.applied.setCheckpointed(lsn)
}

// replayBacklog is how many spooled records a restart would replay into
// the ledger now: those after the checkpoint and not yet uploaded.
func (g *Gateway) replayBacklog() int64 {
	last, from := g.spool.LastLSN(), max(g.applied.checkpointed()+1, g.spool.Watermark())
	if from > last {
		return 0
	}
	return int64(last + 1 - from)
}

// replayFrom is where a start replays the spool from: past the
// checkpoint when it lies within the spool, else from the watermark.
func (g *Gateway) replayFrom() (uint64, error) {
	from, last := g.spool.Watermark(), g.spool.LastLSN()
	cp, ok, err := g.ledger.checkpoint()
	if err != nil {
		return 0, err
	}
	switch {
	case !ok:
	case cp > last:
		g.log.WithFields(logrus.Fields{"checkpoint": cp, "spool_last": last}).
			Warn("ledger checkpoint is past the end of the spool; replaying the whole spool into the ledger")
	case cp+1 > from:
		from = cp + 1
	}
	return from, nil
}
