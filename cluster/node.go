package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// Files and settings under Config.Dir.
const (
	fsmFile  = "fsm.db"  // the catalog
	raftFile = "raft.db" // raft log and stable store
	// retainSnapshots is how many snapshots the file store keeps.
	retainSnapshots = 2
	// logCacheSize is how many recent log entries stay in memory for
	// replication. An entry holds up to maxSegmentsPerCommand segments
	// (about 100 KiB), so the cache stays under about 8 MiB.
	logCacheSize = 64
	// transportMaxPool and transportTimeout are raft's connection pool per
	// peer and I/O deadline, as in hraftd.
	transportMaxPool = 3
	transportTimeout = 10 * time.Second
	// leaderPoll is how often WaitLeader looks for a leader.
	leaderPoll = 10 * time.Millisecond
)

// Node is one raft server and its local copy of the catalog.
type Node struct {
	cfg     Config
	log     *logrus.Entry
	started time.Time // when Open ran: the first scheduled sweep counts from it
	fsm     *fsm
	store   *logStore
	mux     *mux
	trans   *raft.NetworkTransport
	raft    *raft.Raft

	ctx    context.Context // cancelled when Close starts
	cancel context.CancelFunc
	bg     sync.WaitGroup // the leadership watcher, the join loop, leader jobs

	mu      sync.Mutex // guards closed and wg.Add against Close
	closed  bool
	closing chan struct{}  // closed when Close starts
	wg      sync.WaitGroup // in-flight calls and their future waiters

	jobsMu     sync.Mutex // guards the fields below
	jobs       []leaderJob
	term       *leaderTerm // while leading
	lastTerm   *leaderTerm
	jobsClosed bool

	contactMu sync.Mutex
	failing   map[string]time.Time // leader's view: follower id → last contact, while heartbeats fail

	closeOnce sync.Once
	closeErr  error
}

// Open opens the state in cfg.Dir and starts raft and the cluster
// listener. With no raft state yet, it bootstraps a single-node cluster
// when cfg.Bootstrap is set and cfg.Join is empty, or, with cfg.Join set,
// starts asking the members listed there to add it, in the background.
// Call WaitLeader before the first write.
func Open(cfg Config, log *logrus.Entry) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	n := &Node{
		cfg:     cfg,
		log:     log.WithField("component", "cluster"),
		closing: make(chan struct{}),
		failing: make(map[string]time.Time),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.open(); err != nil {
		n.closeErr = n.shutdown()
		return nil, errors.Join(fmt.Errorf("open cluster node %s: %w", cfg.NodeID, err), n.closeErr)
	}
	return n, nil
}

// open builds the node step by step; on error, shutdown releases whatever
// was built.
func (n *Node) open() error {
	cfg := n.cfg
	n.started = cfg.now()
	hlog := newRaftLogger(n.log)

	// 1. The directory and the catalog.
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return err
	}
	f, err := openFSM(filepath.Join(cfg.Dir, fsmFile), n.log)
	if err != nil {
		return err
	}
	n.fsm = f

	// 2. The raft log and stable store: one bolt file, with the recent
	// entries cached in memory.
	n.store, err = openLogStore(filepath.Join(cfg.Dir, raftFile))
	if err != nil {
		return err
	}
	logs, err := raft.NewLogCache(logCacheSize, n.store)
	if err != nil {
		return err
	}

	// 3. Snapshots.
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, retainSnapshots, hlog)
	if err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}

	// 4. Whether the catalog is current or must be restored from a snapshot.
	restore, err := catalogNeedsSnapshot(f.applied.Load(), n.store, snaps)
	if err != nil {
		return err
	}

	// 5. The listener and raft's transport over it. Nothing is accepted
	// until step 8.
	n.mux, err = listenMux(cfg, n.log)
	if err != nil {
		return err
	}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  raftStream{n.mux},
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		Logger:  hlog,
	})

	// 6. Raft itself.
	hasState, err := raft.HasExistingState(logs, n.store, snaps)
	if err != nil {
		return fmt.Errorf("inspect raft state: %w", err)
	}
	rc := raftConfig(cfg, hlog)
	rc.NoSnapshotRestoreOnStart = !restore
	n.raft, err = raft.NewRaft(rc, f, logs, n.store, snaps, n.trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}

	// 7. Bootstrap a fresh single-node cluster; refuse to run a cluster of
	// several without a secret.
	bootstrap := !hasState && cfg.Bootstrap && len(cfg.Join) == 0
	if bootstrap {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       raft.ServerID(cfg.NodeID),
			Address:  n.trans.LocalAddr(),
		}}}
		if err := n.raft.BootstrapCluster(boot).Error(); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	servers, err := n.servers()
	if err != nil {
		return err
	}
	switch {
	case cfg.Secret != "":
	case len(servers) > 1:
		return fmt.Errorf("the raft configuration has %d members but there is no Secret", len(servers))
	case len(servers) == 0:
		return errors.New("no raft state, no Bootstrap and no Secret: without a secret a node can only bootstrap alone")
	}

	// 8. Serve peers, watch leadership, and ask to join.
	n.mux.start(n.serveRPC)
	n.bg.Go(n.watchLeadership)
	joining := !hasState && len(cfg.Join) > 0
	if joining {
		n.bg.Go(n.joinLoop)
	}
	n.log.WithFields(logrus.Fields{
		"node_id":          cfg.NodeID,
		"raft_addr":        n.trans.LocalAddr(),
		"bootstrapped":     bootstrap,
		"joining":          joining,
		"members":          len(servers),
		"tls":              cfg.TLS != nil,
		"catalog_index":    f.applied.Load(),
		"catalog_last_seq": f.lastSeq.Load(),
		"snapshot_restore": restore,
	}).Info("cluster node started")
	return nil
}

// raftConfig maps Config onto raft's.
//
// The catalog is durable on its own (fsm.db, one fsync'd bbolt transaction
// per applied batch, with the applied index inside it), so restart does not
// rebuild it from raft: NoSnapshotRestoreOnStart skips copying the latest
// snapshot over a catalog that is already newer (catalogNeedsSnapshot turns
// it back on when the catalog was lost), and the entries raft replays after
// that snapshot are skipped by index in ApplyBatch without being decoded.
// Snapshots therefore only compact the log and seed new followers, and the
// replay on restart is bounded by SnapshotThreshold plus raft's
// TrailingLogs, not by the length of the history.
func raftConfig(cfg Config, hlog hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	// Concurrent SealSegments calls share one log write and one catalog
	// transaction (ApplyBatch).
	rc.BatchApplyCh = true
	// Only Close shuts raft down, so that every write in flight is answered
	// before it does.
	rc.ShutdownOnRemove = false
	rc.NoLegacyTelemetry = true
	return rc
}

// Close stops the node, in an order that lets everything in flight end
// cleanly: it refuses new calls and cancels the background work (leader
// jobs, the join loop) and the calls waiting on the network; waits for
// every call that raft accepted to be answered, raft still running; then
// shuts raft down, which closes the listener and every cluster connection;
// and closes the raft store and the catalog last, since raft's FSM
// goroutine writes the one and snapshots read the other. It is idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		close(n.closing)
		n.mu.Unlock()
		n.closeErr = n.shutdown()
		n.log.Info("cluster node stopped")
	})
	return n.closeErr
}

// shutdown releases, in reverse order of open, whatever open built.
func (n *Node) shutdown() error {
	n.cancel()
	n.bg.Wait()
	n.wg.Wait()
	var errs []error
	switch {
	case n.raft != nil:
		errs = append(errs, n.raft.Shutdown().Error())
	case n.trans != nil:
		errs = append(errs, n.trans.Close())
	case n.mux != nil:
		errs = append(errs, n.mux.Close())
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft store: %w", err))
		}
	}
	if n.fsm != nil {
		errs = append(errs, n.fsm.close())
	}
	return errors.Join(errs...)
}

// enter registers a call that may wait on raft, or reports ErrClosed.
func (n *Node) enter() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	n.wg.Add(1)
	return nil
}

// WaitLeader waits until some leader is known: for a single node, itself;
// for a node joining, the leader that added it.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for {
		select {
		case <-n.closing:
			return ErrClosed
		default:
		}
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for leader: %w", context.Cause(ctx))
		case <-n.closing:
			return ErrClosed
		case <-t.C:
		}
	}
}

// IsLeader reports whether this node is the leader. Leader-only work
// should rather use RunWhileLeader.
func (n *Node) IsLeader() bool {
	return n.raft.State() == raft.Leader
}

// LeaderAddr returns the leader's raft address, or "" when none is known.
func (n *Node) LeaderAddr() string {
	addr, _ := n.raft.LeaderWithID()
	return string(addr)
}

// AppliedIndex returns the index of the last raft log entry applied here.
func (n *Node) AppliedIndex() uint64 {
	return n.raft.AppliedIndex()
}

// Stats returns raft's statistics plus the catalog's, as strings.
func (n *Node) Stats() map[string]string {
	s := n.raft.Stats()
	s["node_id"] = n.cfg.NodeID
	s["raft_addr"] = string(n.trans.LocalAddr())
	s["catalog_applied_index"] = strconv.FormatUint(n.fsm.applied.Load(), 10)
	s["catalog_last_seq"] = strconv.FormatUint(n.fsm.lastSeq.Load(), 10)
	return s
}
