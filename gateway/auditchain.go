package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Each node's audit records form a hash chain: record n carries its
// sequence number n, the id of the node's chain and the sha256 of record
// n-1, and its own sha256 covers all three (they are in its raw payload).
// A record removed from storage leaves a gap in the sequence, a record
// altered or forged breaks the link of the next one: `holdfast audit
// verify` finds both from the bucket alone.
//
// The chain's head (the last sequence number and hash) is kept in
// auditChainFile in the data dir, written durably before each batch is
// spooled together with the batch itself; at start a batch that never
// reached the spool (the ledger does not know its first record) is rolled
// back, so a crash between the two writes neither forks the chain nor
// leaves a gap in it.

// auditChainFile holds the head of this node's audit chain.
const auditChainFile = "audit-chain.json"

// chainHead is the state of a node's audit chain.
type chainHead struct {
	// Chain identifies the chain: a node whose data dir is lost starts a
	// new one rather than repeat sequence numbers.
	Chain string `json:"chain"`
	Seq   uint64 `json:"seq"`
	// Prev is the sha256 of record Seq ("" before the first).
	Prev string `json:"prev"`
	// Pending is the batch being spooled when the head was written: its
	// first record's id and the head before it.
	Pending *pendingBatch `json:"pending,omitempty"`
}

// pendingBatch is what the head was before a batch whose spooling is not
// yet confirmed.
type pendingBatch struct {
	FirstID string `json:"first_id"`
	Seq     uint64 `json:"seq"`
	Prev    string `json:"prev"`
}

// auditChain serialises this node's audit records into one chain. Callers
// queue their event; whichever finds no batch in progress writes every
// queued event in one batch (one fsync of the head, one spool append) and
// hands each caller its result, so concurrent audits share their writes.
type auditChain struct {
	path string

	mu    sync.Mutex
	queue []*auditJob
	busy  bool

	// head is only touched by the batch writer (busy).
	head chainHead
}

// auditJob is one queued audit event and where its result goes.
type auditJob struct {
	ev   AuditEvent
	done chan error
}

// chainBatch turns chained events into records and spools them; the
// gateway's is auditWriter.
type chainBatch interface {
	// now is the reception time of a batch.
	now() time.Time
	// build makes the record of ev, received at now.
	build(ev AuditEvent, now time.Time) (auditRecord, error)
	// spool archives recs in one spool append: all or nothing.
	spool(ctx context.Context, recs []auditRecord, now time.Time) error
}

// openAuditChain reads the chain's head from dir (a new chain when there
// is none) and settles a pending batch: known reports whether a record id
// reached the spool.
func openAuditChain(path string, known func(id string) (bool, error)) (*auditChain, error) {
	c := &auditChain{path: path}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		id := make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return nil, fmt.Errorf("new audit chain id: %w", err)
		}
		c.head = chainHead{Chain: hex.EncodeToString(id)}
		return c, c.save()
	case err != nil:
		return nil, fmt.Errorf("read audit chain head: %w", err)
	}
	if err := json.Unmarshal(b, &c.head); err != nil || c.head.Chain == "" {
		return nil, fmt.Errorf("audit chain head %s is unreadable (%v): restore it or move it aside to start a new chain", path, err)
	}
	if p := c.head.Pending; p != nil {
		ok, err := known(p.FirstID)
		if err != nil {
			return nil, fmt.Errorf("settle pending audit batch: %w", err)
		}
		if !ok {
			c.head.Seq, c.head.Prev = p.Seq, p.Prev
		}
		c.head.Pending = nil
		if err := c.save(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// save writes the head durably.
func (c *auditChain) save() error {
	b, err := json.Marshal(c.head)
	if err != nil {
		return fmt.Errorf("encode audit chain head: %w", err)
	}
	if err := writeFileSync(c.path, b, 0o600); err != nil {
		return fmt.Errorf("save audit chain head: %w", err)
	}
	return nil
}

// append chains ev and archives it, batched with whatever other events are
// queued meanwhile. It returns once ev is spooled, or why it is not.
func (c *auditChain) append(ctx context.Context, ev AuditEvent, w chainBatch) error {
	job := &auditJob{ev: ev, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, job)
	if c.busy {
		c.mu.Unlock()
		return <-job.done
	}
	c.busy = true
	// This caller writes for everyone until the queue is empty; the
	// others' records must not fail because this caller went away.
	ctx = context.WithoutCancel(ctx)
	for {
		batch := c.queue
		c.queue = nil
		c.mu.Unlock()
		err := c.write(ctx, batch, w)
		for _, j := range batch {
			j.done <- err
		}
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.busy = false
			c.mu.Unlock()
			return <-job.done
		}
	}
}

// write chains and archives one batch: the head is saved (with the batch
// pending) before the records are spooled, and rolled back when they are
// not.
func (c *auditChain) write(ctx context.Context, batch []*auditJob, w chainBatch) error {
	before, head, now := c.head, c.head, w.now()
	recs := make([]auditRecord, 0, len(batch))
	for _, j := range batch {
		ev := j.ev
		head.Seq++
		ev.Chain, ev.Seq, ev.Prev = head.Chain, head.Seq, head.Prev
		rec, err := w.build(ev, now)
		if err != nil {
			return err
		}
		head.Prev = rec.sha
		recs = append(recs, rec)
	}
	head.Pending = &pendingBatch{FirstID: recs[0].id, Seq: before.Seq, Prev: before.Prev}
	c.head = head
	if err := c.save(); err != nil {
		c.head = before
		return err
	}
	if err := w.spool(ctx, recs, now); err != nil {
		c.head = before
		// Best effort: a head left pending is settled at the next start.
		_ = c.save()
		return err
	}
	// Not saved again now: the next batch saves the head anyway, and a
	// pending batch is settled from the ledger at the next start.
	c.head.Pending = nil
	return nil
}

// ledgerKnows reports whether this node's ledger holds a version of id:
// whether a record reached the spool.
func (g *Gateway) ledgerKnows(id string) (bool, error) {
	entries, err := g.ledger.versions(id)
	return len(entries) > 0, err
}
