package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// Each node's audit records form a hash chain: record n carries its
// sequence number n, the id of the node's chain and the sha256 of record
// n-1, and its own sha256 covers all three (they are in its raw payload).
// A record removed from storage leaves a gap in the sequence, a record
// altered or forged breaks the link of the next one: `holdfast audit
// verify` finds both from the bucket alone.
//
// A record's source id is "<chain>-<seq>", so the ledger — which holds
// every record the spool ever took, replayed from the spool at start — is
// the durable truth of how far the chain got: at start the chain goes on
// after the last sequence number the ledger knows, a batch that was never
// spooled is simply not there, and nothing on the audit path needs an
// fsync of its own. auditChainFile (written once, durably) holds the
// chain's id; auditHeadFile is a hint of the last sequence number and
// hash, rewritten after each batch without fsync, so that a start looks
// up one or a few ids rather than the whole chain.

// auditHintEvery is how many records the head hint may fall behind: a
// start looks up at most that many ids more.
const auditHintEvery = 256

// Files of the audit chain in the data dir.
const (
	auditChainFile = "audit-chain.json"
	auditHeadFile  = "audit-chain-head.json"
)

// chainHead is the state of a node's audit chain.
type chainHead struct {
	// Chain identifies the chain: a node whose data dir is lost starts a
	// new one rather than repeat sequence numbers.
	Chain string `json:"chain"`
	Seq   uint64 `json:"seq,omitempty"`
	// Prev is the sha256 of record Seq ("" before the first).
	Prev string `json:"prev,omitempty"`
}

// auditSourceID is the source id of record seq of chain.
func auditSourceID(chain string, seq uint64) string {
	return chain + "-" + strconv.FormatUint(seq, 10)
}

// storedSHA looks an audit record up by id: its sha256, and whether the
// spool ever took it.
type storedSHA func(id string) (sha string, ok bool, err error)

// auditChain serialises this node's audit records into one chain. Callers
// queue their event; whichever finds no batch in progress writes every
// queued event in one batch (one spool append, one fsync) and hands each
// caller its result, so concurrent audits share their writes.
type auditChain struct {
	path string // of the head hint

	mu    sync.Mutex
	queue []*auditJob
	busy  bool

	// head and hinted (the Seq of the last hint saved) are only touched
	// by the batch writer (busy).
	head   chainHead
	hinted uint64
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

// openAuditChain opens the chain whose files are in dir (a new chain when
// there is none) and finds its head: the hint, checked against the ledger
// (lookup), then carried past every later record the ledger knows.
func openAuditChain(dir string, lookup storedSHA) (*auditChain, error) {
	c := &auditChain{path: filepath.Join(dir, auditHeadFile)}
	idPath := filepath.Join(dir, auditChainFile)
	b, err := os.ReadFile(idPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return c, c.create(idPath)
	case err != nil:
		return nil, fmt.Errorf("read audit chain id: %w", err)
	}
	if err := json.Unmarshal(b, &c.head); err != nil || c.head.Chain == "" {
		return nil, fmt.Errorf("audit chain id %s is unreadable (%v): restore it, or move it aside to start a new chain", idPath, err)
	}
	c.head.Seq, c.head.Prev = 0, ""
	var hint chainHead
	if b, err := os.ReadFile(c.path); err == nil && json.Unmarshal(b, &hint) == nil && hint.Chain == c.head.Chain && hint.Seq > 0 {
		sha, ok, err := lookup(c.id(hint.Seq))
		if err != nil {
			return nil, fmt.Errorf("audit chain head: %w", err)
		}
		if ok && sha == hint.Prev {
			c.head.Seq, c.head.Prev, c.hinted = hint.Seq, hint.Prev, hint.Seq
		}
	}
	for {
		sha, ok, err := lookup(c.id(c.head.Seq + 1))
		if err != nil {
			return nil, fmt.Errorf("audit chain head: %w", err)
		}
		if !ok {
			return c, nil
		}
		c.head.Seq, c.head.Prev = c.head.Seq+1, sha
	}
}

// create starts a new chain and saves its id durably.
func (c *auditChain) create(idPath string) error {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("new audit chain id: %w", err)
	}
	c.head = chainHead{Chain: hex.EncodeToString(id)}
	b, err := json.Marshal(c.head)
	if err == nil {
		err = writeFileSync(idPath, b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("save new audit chain id: %w", err)
	}
	return nil
}

// id is the record id of seq in this chain.
func (c *auditChain) id(seq uint64) string {
	return archive.MessageID(AuditTenant, AuditPlatform, auditSourceID(c.head.Chain, seq))
}

// saveHint rewrites the head hint every auditHintEvery records:
// atomically, but without fsync, since the ledger has the truth and a
// stale hint only costs lookups.
func (c *auditChain) saveHint() {
	if c.head.Seq-c.hinted < auditHintEvery {
		return
	}
	c.hinted = c.head.Seq
	b, err := json.Marshal(c.head)
	if err != nil {
		return
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err == nil {
		_ = os.Rename(tmp, c.path)
	}
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

// write chains and archives one batch, all or nothing: when the records
// are not spooled the head stays where it was and their numbers are used
// again.
func (c *auditChain) write(ctx context.Context, batch []*auditJob, w chainBatch) error {
	head, now := c.head, w.now()
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
	if err := w.spool(ctx, recs, now); err != nil {
		return err
	}
	c.head = head
	c.saveHint()
	return nil
}

// storedAudit looks an audit record up in this node's ledger.
func (g *Gateway) storedAudit(id string) (string, bool, error) {
	entries, err := g.ledger.versions(id)
	if err != nil || len(entries) == 0 {
		return "", false, err
	}
	return entries[0].SHA256, true, nil
}
