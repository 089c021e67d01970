package index

import (
	"errors"
	"fmt"

	"github.com/blevesearch/bleve/v2"
)

// writer applies document changes to the partitions in batches of
// BatchSize. Each partition it touches gets a goroutine that applies that
// partition's batches in order, each one returning once persisted, while
// the caller maps the documents of the next batch: decoding, mapping and
// analysis overlap with bleve's segment building and fsync. A writer is
// used by one goroutine and must be finished (finish or close).
type writer struct {
	ix        *Index
	pipes     map[int]*pipe
	last      *pipe
	lastMonth int
	done      bool
}

// pipe is one partition's batch being built and the goroutine applying the
// previous ones.
type pipe struct {
	month int
	idx   bleve.Index
	batch *bleve.Batch
	queue chan *bleve.Batch
	over  chan struct{} // closed when the goroutine has applied everything
	err   error         // set by the goroutine; read after over is closed
}

func (ix *Index) newWriter() *writer {
	return &writer{ix: ix, pipes: map[int]*pipe{}, lastMonth: -1}
}

// pipe returns month's pipe, opening (or creating) the partition and
// starting its goroutine the first time.
func (w *writer) pipe(month int) (*pipe, error) {
	if month == w.lastMonth {
		return w.last, nil
	}
	p := w.pipes[month]
	if p == nil {
		idx, err := w.ix.partition(month, true).open(w.ix.mapping)
		if err != nil {
			return nil, err
		}
		p = &pipe{month: month, idx: idx, batch: idx.NewBatch(),
			queue: make(chan *bleve.Batch, 1), over: make(chan struct{})}
		go p.run()
		w.pipes[month] = p
	}
	w.last, w.lastMonth = p, month
	return p, nil
}

func (p *pipe) run() {
	defer close(p.over)
	for b := range p.queue {
		if p.err != nil {
			continue // drain: the writer reports the first error
		}
		if err := p.idx.Batch(b); err != nil {
			p.err = fmt.Errorf("apply batch to %s: %w", monthName(p.month), err)
		}
	}
}

// send queues the batch being built and starts a new one.
func (w *writer) send(p *pipe) {
	p.queue <- p.batch
	p.batch = p.idx.NewBatch()
}

// index adds h's document to its month's partition.
func (w *writer) index(h *Hit) error {
	p, err := w.pipe(monthKey(h.SentAt))
	if err != nil {
		return err
	}
	d, err := newDoc(h)
	if err != nil {
		return err
	}
	id := docID(h.ID, h.Version)
	if err := p.batch.Index(id, d); err != nil {
		return fmt.Errorf("map %s: %w", id, err)
	}
	if p.batch.Size() >= w.ix.cfg.BatchSize {
		w.send(p)
	}
	return nil
}

// delete removes document id from month's partition.
func (w *writer) delete(month int, id string) error {
	p, err := w.pipe(month)
	if err != nil {
		return err
	}
	p.batch.Delete(id)
	if p.batch.Size() >= w.ix.cfg.BatchSize {
		w.send(p)
	}
	return nil
}

// finish applies what is left and waits until every batch is persisted.
func (w *writer) finish() error { return w.stop(true) }

// close stops the writer if an error left it unfinished, dropping the
// batches not yet queued: the operation failed and will be redone.
func (w *writer) close() { _ = w.stop(false) }

func (w *writer) stop(apply bool) error {
	if w.done {
		return nil
	}
	w.done = true
	for _, p := range w.pipes {
		if apply && p.batch.Size() > 0 {
			p.queue <- p.batch
		}
		close(p.queue)
	}
	var errs []error
	for _, p := range w.pipes {
		<-p.over
		errs = append(errs, p.err)
	}
	return errors.Join(errs...)
}
