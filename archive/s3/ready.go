package s3

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Deadlines of storage calls: a server that hangs (a SIGSTOPped MinIO, a
// black-holed route) accepts connections and then never answers, which
// only a deadline on the whole call detects.
const (
	// DefaultRequestTimeout bounds a call that moves little data, retries
	// included.
	DefaultRequestTimeout = 15 * time.Second
	// DefaultMinBytesPerSecond is the slowest transfer a call carrying a
	// body is allowed: its deadline grows by one second per this many
	// bytes beyond DefaultRequestTimeout.
	DefaultMinBytesPerSecond = 1 << 20
)

// bucketCheck remembers whether the bucket has been checked for Object
// Lock. Every call checks it first until that succeeds once, so a store
// opened while the server was unreachable never writes to a bucket it has
// not checked.
type bucketCheck struct {
	region string
	ok     atomic.Bool

	mu sync.Mutex
	// running is closed when the check in progress ends, nil when none
	// runs: calls arriving meanwhile share its outcome rather than queue
	// behind it, each waiting for a hung server in turn.
	running chan struct{}
	err     error // outcome of the last check
}

// Connect returns a Store for cfg without talking to the server: the
// bucket is checked (and created with Object Lock when missing) by Check
// or, failing that, before the first call that needs it. A node uses it
// to start while storage is unreachable; Open checks at once.
func Connect(cfg Config, log *logrus.Entry) (*Store, error) {
	return newStore(cfg, log)
}

// Check makes sure the bucket exists with Object Lock, creating it when
// missing, as Open does. Once it has succeeded it returns nil at once.
func (s *Store) Check(ctx context.Context) error {
	if s.check.ok.Load() {
		return nil
	}
	c := &s.check
	c.mu.Lock()
	if running := c.running; running != nil {
		c.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	}
	if c.ok.Load() {
		c.mu.Unlock()
		return nil
	}
	running := make(chan struct{})
	c.running = running
	failedBefore := c.err != nil
	c.mu.Unlock()

	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	err := s.ensureBucket(cctx, c.region)
	cancel()
	if err == nil && failedBefore {
		s.log.Info("storage reachable: bucket checked, Object Lock enabled")
	}
	c.mu.Lock()
	c.err, c.running = err, nil
	c.ok.Store(err == nil)
	close(running)
	c.mu.Unlock()
	return err
}

// begin checks the bucket when that has not succeeded yet and bounds the
// call by a deadline for moving size bytes.
func (s *Store) begin(ctx context.Context, size int64) (context.Context, context.CancelFunc, error) {
	if err := s.Check(ctx); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.budget(size))
	return ctx, cancel, nil
}

// budget is the deadline of a call that moves size bytes.
func (s *Store) budget(size int64) time.Duration {
	return s.timeout + time.Duration(size/s.minRate)*time.Second
}

// beginStream is begin for a read whose size is known only once the
// server answers: the deadline starts as for a small call and extend
// moves it to fit the size.
func (s *Store) beginStream(ctx context.Context) (context.Context, *streamDeadline, error) {
	if err := s.Check(ctx); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	return ctx, &streamDeadline{cancel: cancel, timer: time.AfterFunc(s.timeout, cancel), s: s}, nil
}

// streamDeadline cancels a streaming read that outlives its budget.
type streamDeadline struct {
	cancel context.CancelFunc
	timer  *time.Timer
	s      *Store
}

// extend gives the read the budget of size bytes, counted from now.
func (d *streamDeadline) extend(size int64) { d.timer.Reset(d.s.budget(size)) }

// stop ends the read's context.
func (d *streamDeadline) stop() {
	d.timer.Stop()
	d.cancel()
}

// deadlineCloser ends a stream's deadline when the stream is closed.
type deadlineCloser struct {
	io.ReadCloser
	d *streamDeadline
}

func (c deadlineCloser) Close() error {
	defer c.d.stop()
	return c.ReadCloser.Close()
}
