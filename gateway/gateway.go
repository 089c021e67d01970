package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/net/netutil"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/gateway/spool"
	"github.com/holdfast/holdfast/journal"
)

// Defaults of the gateway.
const (
	DefaultMaxBodyBytes  = 64 << 20
	DefaultMaxFieldBytes = 1 << 20
	// DefaultRetryAfter is what a 503 tells a sender to wait, in seconds.
	DefaultRetryAfter = 5
	// DefaultShutdownTimeout bounds how long a graceful stop waits for
	// requests to finish and the spool to drain to storage.
	DefaultShutdownTimeout = 30 * time.Second
)

// Config is the gateway's typed configuration; cmd/holdfast fills it from
// the config file.
type Config struct {
	NodeID          string
	DataDir         string // spool/ and ledger/ live here
	Listen          string
	TLSCert, TLSKey string
	MaxBodyBytes    int64
	MaxFieldBytes   int64
	SpoolMaxBytes   int64
	SegmentMaxBytes int64
	SegmentMaxAge   time.Duration
	Retention       archive.Period
	RetentionFloor  time.Duration
	// BasePolicies are the configured retention policies, in force until
	// a policy set is replicated; CompilePolicies validates and parses a
	// set (config.Config.Rules). Nil: only Retention applies.
	BasePolicies    archive.PolicySet
	CompilePolicies func(archive.PolicySet) (archive.Rules, error)
	Tokens          []Token
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SearchTimeout stops a search that runs longer (504);
	// DefaultSearchTimeout when 0, none when negative.
	SearchTimeout time.Duration
	// SearchesPerCaller is how many searches one caller may run at once
	// (429 beyond); DefaultSearchesPerCaller when 0, no limit when
	// negative.
	SearchesPerCaller int
	// SearchMaxQueryBytes refuses a longer query string (400) before
	// anything else, and bounds what its audit record keeps of it; 0: no
	// limit.
	SearchMaxQueryBytes int
	// Edge limits of the HTTP listener (see limits.go); zero values take
	// the Default* constants.
	ReadTimeout       time.Duration
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// MaxConns caps concurrent HTTP connections (0: DefaultMaxConns).
	MaxConns int
	// MaxRecipients caps a message's recipients over HTTP (0:
	// DefaultMaxRecipients).
	MaxRecipients int
	// MetricsToken, when set, is the bearer token GET /metrics needs.
	MetricsToken string
	// ReplayCacheEntries bounds the webhook replay cache (0:
	// journal.DefaultReplayCacheEntries).
	ReplayCacheEntries int
	// DenialWindow is the period over which denials are aggregated into
	// one audit record per caller and route (0: DefaultDenialWindow).
	DenialWindow time.Duration
	// NoVersionClaims turns off the cluster-wide claim of each version
	// before its segment is stored (see VersionClaimer): only for
	// measuring what the claim costs (holdfast bench ingest).
	NoVersionClaims bool
	// AckStoredTimeout bounds an ?ack=stored wait (spool.ack_stored_timeout);
	// 0 means DefaultAckStoredTimeout.
	AckStoredTimeout time.Duration
}

// Deps are the components a gateway works with.
type Deps struct {
	// Store is the WORM object store, the source of truth.
	Store archive.ObjectStore
	// Catalog records sealed segments (the Raft catalog).
	Catalog Catalog
	// Searcher answers searches (this node's index).
	Searcher Searcher
	// Cluster serves the membership routes and strong reads; optional.
	Cluster ClusterAdmin
	// Indexed tells how far this node's index has followed the catalog;
	// optional.
	Indexed IndexProgress
	// Retention holds the replicated policies, holds and sweeps and
	// serves their routes; optional (without it the configured policies
	// apply and the routes are absent).
	Retention Retention
	// Sources are the platform webhooks, by platform name
	// (POST /v1/sources/{platform}).
	Sources map[string]Source
}

// Gateway is the daemon's front: the HTTP API, the spool, the ledger and the
// uploader that turns spooled records into WORM segments.
type Gateway struct {
	cfg      Config
	log      *logrus.Entry
	store    archive.ObjectStore
	spool    *spool.Spool
	ledger   *ledger
	codec    *archive.Codec
	uploader *uploader
	auth     *authenticator
	metrics  *metrics
	searcher Searcher
	cluster  ClusterAdmin
	indexed  IndexProgress
	auditor  auditor
	// retention, rules and baseRules: see Deps.Retention and
	// currentRules.
	retention Retention
	rules     rulesCache
	baseRules archive.Rules
	sources   map[string]Source
	admin     string
	// spoolFull is set when the spool refused an append and cleared by the
	// next accepted one.
	spoolFull atomic.Bool
	// slots caps each caller's searches in flight.
	slots searchSlots
	// replay remembers the signatures of webhook deliveries.
	replay *journal.ReplayCache
	// denials aggregates refused requests into audit records.
	denials *denials
	// applied follows which spooled records are in the ledger, for the
	// ledger checkpoint (checkpoint.go).
	applied *appliedTracker
	// replayed is how many spooled records the start replayed into the
	// ledger.
	replayed int

	srv      *http.Server
	ln       net.Listener
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeErr error
	once     sync.Once
}

// New opens the spool and ledger under cfg.DataDir and replays spooled
// records into the ledger. Nothing is served until Start.
func New(cfg Config, deps Deps, log *logrus.Entry) (*Gateway, error) {
	store, catalog := deps.Store, deps.Catalog
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxFieldBytes <= 0 {
		cfg.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SearchTimeout == 0 {
		cfg.SearchTimeout = DefaultSearchTimeout
	}
	if cfg.SearchesPerCaller == 0 {
		cfg.SearchesPerCaller = DefaultSearchesPerCaller
	}
	if cfg.AckStoredTimeout <= 0 {
		cfg.AckStoredTimeout = DefaultAckStoredTimeout
	}
	if cfg.CompilePolicies == nil {
		cfg.CompilePolicies = func(set archive.PolicySet) (archive.Rules, error) {
			if len(set.Policies) > 0 {
				return archive.Rules{}, errors.New("no policy compiler configured")
			}
			return archive.Rules{Default: cfg.Retention, Floor: cfg.RetentionFloor}, nil
		}
	}
	base, err := cfg.CompilePolicies(cfg.BasePolicies)
	if err != nil {
		return nil, fmt.Errorf("retention policies: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	tokens, secret, err := loadOrCreateAdmin(cfg.DataDir, cfg.Tokens)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg: cfg, log: log, store: store, metrics: &metrics{}, searcher: deps.Searcher,
		cluster: deps.Cluster, indexed: deps.Indexed, retention: deps.Retention, baseRules: base, sources: deps.Sources,
		auth: &authenticator{tokens: append(append([]Token(nil), cfg.Tokens...), tokens...)}, admin: secret,
	}
	g.slots.max = cfg.SearchesPerCaller
	g.spool, err = spool.Open(filepath.Join(cfg.DataDir, "spool"), spool.Options{MaxBytes: cfg.SpoolMaxBytes}, log.WithField("component", "spool"))
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	g.ledger, err = openLedger(filepath.Join(cfg.DataDir, "ledger"))
	if err != nil {
		g.spool.Close()
		return nil, err
	}
	if g.codec, err = archive.NewCodec(); err != nil {
		g.ledger.Close()
		g.spool.Close()
		return nil, err
	}
	if err := g.replaySpool(); err != nil {
		g.closeStores()
		return nil, err
	}
	if g.auditor.chain, err = openAuditChain(cfg.DataDir, g.storedAudit); err != nil {
		g.closeStores()
		return nil, err
	}
	g.metrics.spoolBytes = g.spool.Size
	g.metrics.spoolPendingRecord = func() int64 { return int64(g.spool.LastLSN() + 1 - g.spool.Watermark()) }
	g.metrics.ledgerReplay = g.replayBacklog
	g.metrics.storageUp.set(1)
	if deps.Indexed != nil {
		g.metrics.index = deps.Indexed.Stats
	}
	g.metrics.quarantined = g.quarantinedSegments
	g.uploader = &uploader{
		node: cfg.NodeID, floor: cfg.RetentionFloor, maxBytes: cfg.SegmentMaxBytes, maxAge: cfg.SegmentMaxAge,
		spool: g.spool, store: store, catalog: catalog, ledger: g.ledger, codec: g.codec,
		metrics: g.metrics, log: log.WithField("component", "uploader"),
	}
	if deps.Retention != nil {
		g.uploader.holds = deps.Retention.ActiveHolds
	}
	if c, ok := catalog.(VersionClaimer); ok && !cfg.NoVersionClaims {
		g.uploader.claimer = c
	}
	g.uploader.init()
	g.initEdge()
	return g, nil
}

// AdminToken is the admin token generated at first start, or "" when one
// existed already. It is never stored in the clear: show it once.
func (g *Gateway) AdminToken() string { return g.admin }

// replaySpool re-enters into the ledger the spooled records it may have
// lost — the ledger is written without fsync, the spool is the durable
// copy — which are those after the ledger checkpoint (checkpoint.go).
func (g *Gateway) replaySpool() error {
	ctx := context.Background()
	start := time.Now()
	from, err := g.replayFrom()
	if err != nil {
		return err
	}
	var n int
	for next := from; next <= g.spool.LastLSN(); {
		recs, err := g.spool.Read(ctx, next, DefaultBatchRecords, 16<<20)
		if err != nil {
			return fmt.Errorf("replay spool from %d: %w", next, err)
		}
		for _, r := range recs {
			next = r.LSN + 1
			h, body, err := decodeSpoolRecord(r.Data)
			if err != nil {
				return fmt.Errorf("replay spool record %d: %w", r.LSN, err)
			}
			if h.Kind != kindMessage {
				continue
			}
			m := archive.Message{ID: h.ID, Version: h.Version, SHA256: h.SHA256, RetainUntil: h.RetainUntil}
			if err := decodeAction(body, &m); err != nil {
				return fmt.Errorf("replay spool record %d: %w", r.LSN, err)
			}
			if err := g.ledger.replay(&m, h.Event, r.LSN); err != nil {
				return fmt.Errorf("replay spool record %d: %w", r.LSN, err)
			}
			n++
		}
	}
	last := g.spool.LastLSN()
	// Synced: every record spooled is now in the ledger for good.
	if err := g.ledger.setCheckpoint(last); err != nil {
		return err
	}
	if pending := last + 1 - g.spool.Watermark(); pending > 0 || n > 0 {
		g.log.WithFields(logrus.Fields{
			"awaiting_upload": pending, "spool_bytes": g.spool.Size(), "replayed": n, "replayed_from": from,
			"took_ms": time.Since(start).Milliseconds(),
		}).Info("spooled records awaiting upload; replayed into the ledger only those after its checkpoint")
	}
	g.applied, g.replayed = newAppliedTracker(last+1), n
	return nil
}

// Start listens on cfg.Listen and starts the uploader.
func (g *Gateway) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", g.cfg.Listen, err)
	}
	ln = netutil.LimitListener(ln, g.cfg.MaxConns)
	if g.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(g.cfg.TLSCert, g.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load tls certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	g.ln = ln
	g.srv = g.httpServer()
	uctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	if p, ok := g.store.(pinger); ok {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.uploader.health.probe(uctx, p)
		}()
	}
	g.wg.Add(4)
	go func() {
		defer g.wg.Done()
		(&checkpointer{ledger: g.ledger, applied: g.applied, log: g.log}).run(uctx)
	}()
	go func() {
		defer g.wg.Done()
		g.uploader.run(uctx)
	}()
	go func() {
		defer g.wg.Done()
		g.runDenialFlusher(uctx)
	}()
	go func() {
		defer g.wg.Done()
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.WithError(err).Error("http server stopped")
		}
	}()
	g.log.WithField("addr", ln.Addr().String()).Info("listening")
	return nil
}

// Addr is the address the API listens on.
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

// Shutdown stops the gateway in the order that loses nothing: first stop
// taking requests (letting those in flight finish), then let the uploader
// seal and upload what is spooled until ctx expires, then stop it and close
// the ledger and spool. Whatever could not be uploaded stays in the spool and
// is uploaded at the next start. Idempotent.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.once.Do(func() {
		if g.srv != nil {
			if err := g.srv.Shutdown(ctx); err != nil {
				g.log.WithError(err).Warn("http shutdown")
			}
			g.flushDenials(ctx)
			g.drain(ctx)
			g.cancel()
			g.wg.Wait()
			// Denials counted after the first flush go to the spool,
			// uploaded at the next start.
			g.flushDenials(context.WithoutCancel(ctx))
		}
		g.closeErr = g.closeStores()
	})
	return g.closeErr
}

// drain waits until every spooled record is in storage or ctx expires.
func (g *Gateway) drain(ctx context.Context) {
	last := g.spool.LastLSN()
	if g.spool.Watermark() > last {
		return
	}
	g.log.WithField("records", last+1-g.spool.Watermark()).Info("uploading spooled records before stopping")
	if err := g.WaitStored(ctx); err != nil {
		g.log.WithField("left", last+1-g.spool.Watermark()).Warn("stopping with records still spooled; they are uploaded at the next start")
	}
	// Wait for the watermark too, so that the next start does not
	// re-check the batch.
	for g.spool.Watermark() <= last && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

func (g *Gateway) closeStores() error {
	g.codec.Close()
	return errors.Join(g.ledger.Close(), g.spool.Close())
}

// WaitStored blocks until every record spooled so far is in storage.
func (g *Gateway) WaitStored(ctx context.Context) error {
	last := g.spool.LastLSN()
	if g.spool.Watermark() > last {
		return nil
	}
	return g.uploader.waitStored(ctx, last)
}
