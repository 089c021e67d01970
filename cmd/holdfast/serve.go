package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/fsstore"
	"github.com/holdfast/holdfast/archive/s3"
	"github.com/holdfast/holdfast/cluster"
	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/gateway"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/index/querystring"
)

// runServe runs the daemon until ctx is cancelled (SIGINT, SIGTERM).
func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "config file (YAML); none: a single node on the embedded fs store in ./holdfast-data")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("serve: %w", errUsage)
	}

	// 1. Configuration: defaults, then the file, then validation.
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log)
	if err != nil {
		return err
	}
	procs := setProcs()
	if err := os.MkdirAll(cfg.Node.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}

	// 2. Storage, the source of truth: refuse to start on a bucket that
	// cannot keep records immutable.
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}

	// 3. The index: a derived view of storage, opened before the catalog
	// so that the catalog can report this node's indexing progress.
	ix, err := index.Open(index.Config{Dir: cfg.IndexDir(), Limits: searchLimits(cfg.Search)}, log.WithField("component", "index"))
	if err != nil {
		return fmt.Errorf("open index: %w", err)
	}

	// 4. The catalog: a Raft node, bootstrapped alone when it has no state
	// and nobody to join; its indexer follows it.
	tlsCfg, err := clusterTLS(cfg.Cluster)
	if err != nil {
		ix.Close()
		return err
	}
	node, err := cluster.Open(cluster.Config{
		NodeID: cfg.Node.ID, RaftListen: cfg.Cluster.RaftListen, Dir: cfg.RaftDir(),
		Bootstrap: len(cfg.Cluster.Join) == 0, Join: cfg.Cluster.Join, Secret: cfg.Cluster.Secret, TLS: tlsCfg,
		Progress: ix.Checkpoint,

		HandshakeTimeout: time.Duration(cfg.Cluster.HandshakeTimeout), MaxHandshakes: cfg.Cluster.MaxHandshakes, MaxHandshakesPerAddr: cfg.Cluster.MaxHandshakesPerAddr,
	}, log.WithField("component", "cluster"))
	if err != nil {
		ix.Close()
		return fmt.Errorf("open catalog: %w", err)
	}
	follower := index.NewFollower(ix, node, store, log.WithField("component", "indexer"))
	follower.SetQuarantiner(node) // a corrupt segment is quarantined, not retried for ever
	follower.Start(ctx)

	// 5. The gateway: spool, ledger, uploader and HTTP API.
	// Ingest does not wait for a leader: with no quorum the spool keeps
	// acknowledging and the uploader retries the catalog.
	gw, err := gateway.New(gatewayConfig(cfg), gateway.Deps{
		Store: store, Catalog: node, Searcher: ix, Cluster: clusterAdmin{node}, Indexed: follower,
		Retention: node, Sources: webhookSources(cfg.Sources),
	}, log.WithField("component", "gateway"))
	if err != nil {
		follower.Close()
		ix.Close()
		node.Close()
		return err
	}
	if err := gw.Start(ctx); err != nil {
		gw.Shutdown(context.Background())
		follower.Close()
		ix.Close()
		node.Close()
		return err
	}
	// 6. The leader's retention jobs: legal holds, sweeps, and the
	// configured policies replicated to every node.
	startRetention(node, gw, store, cfg.Retention, log.WithField("component", "retention"))

	// 7. The SMTP journaling listener, when configured.
	mail, err := startSMTP(cfg, gw, log.WithField("component", "smtp"))
	if err != nil {
		gw.Shutdown(context.Background())
		follower.Close()
		ix.Close()
		node.Close()
		return err
	}

	if tok := gw.AdminToken(); tok != "" {
		fmt.Fprintf(os.Stdout, "\nholdfast: generated an admin token; it is shown only this once, store it now:\n\n    %s\n\n"+
			"Try:  curl -H 'Authorization: Bearer %s' http://%s/readyz\n\n", tok, tok, gw.Addr())
	}
	log.WithFields(logrus.Fields{"node": cfg.Node.ID, "http": gw.Addr(), "storage": cfg.Storage.Kind, "version": version, "gomaxprocs": procs}).Info("holdfast started")

	<-ctx.Done()
	log.Info("stopping")

	// Shutdown runs in reverse: the gateway first, so that it stops taking
	// messages and uploads what is spooled while the catalog it records
	// segments in is still running; then the indexer and the index, which
	// only read the catalog; the catalog last.
	sctx, cancel := context.WithTimeout(context.Background(), gateway.DefaultShutdownTimeout)
	defer cancel()
	if mail != nil {
		if err := mail.Shutdown(sctx); err != nil {
			log.WithError(err).Error("stop SMTP listener")
		}
	}
	gerr := gw.Shutdown(sctx)
	follower.Close()
	ierr := ix.Close()
	cerr := node.Close()
	if ierr != nil {
		log.WithError(ierr).Error("close index")
	}
	if gerr != nil {
		return fmt.Errorf("stop gateway: %w", gerr)
	}
	if cerr != nil {
		return fmt.Errorf("stop catalog: %w", cerr)
	}
	log.Info("stopped")
	return nil
}

// loadConfig reads path, or without one returns the embedded single-node
// setup: the fs store under ./holdfast-data.
func loadConfig(path string) (config.Config, error) {
	var cfg config.Config
	if path == "" {
		cfg = config.Default()
		cfg.Storage.Kind = config.StorageFS
		cfg.Node.DataDir = "holdfast-data"
	} else {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return cfg, err
		}
	}
	abs, err := filepath.Abs(cfg.Node.DataDir)
	if err != nil {
		return cfg, fmt.Errorf("data dir: %w", err)
	}
	cfg.Node.DataDir = abs
	cfg.Resolve()
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func newLogger(c config.Log) (*logrus.Logger, error) {
	log := logrus.New()
	log.SetOutput(os.Stderr)
	lvl, err := logrus.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	log.SetLevel(lvl)
	if c.Format == "text" {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	} else {
		log.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano})
	}
	return log, nil
}

func openStore(ctx context.Context, cfg config.Config, log *logrus.Logger) (archive.ObjectStore, error) {
	switch cfg.Storage.Kind {
	case config.StorageFS:
		st, err := fsstore.Open(cfg.Storage.FS.Dir)
		if err != nil {
			return nil, fmt.Errorf("open fs store: %w", err)
		}
		log.WithField("dir", cfg.Storage.FS.Dir).Warn("using the embedded fs store: retention is enforced by holdfast, not by storage; use S3 Object Lock for SEC 17a-4 records")
		return st, nil
	default:
		c := cfg.Storage.S3
		st, err := s3.Connect(s3.Config{Endpoint: c.Endpoint, Bucket: c.Bucket, AccessKey: c.AccessKey,
			SecretKey: c.SecretKey, Region: c.Region, Secure: c.Secure}, log.WithField("component", "s3"))
		if err != nil {
			return nil, fmt.Errorf("open storage: %w", err)
		}
		return st, checkStorageAtStart(ctx, st, c.Endpoint, c.Bucket, log)
	}
}

func gatewayConfig(cfg config.Config) gateway.Config {
	tokens := make([]gateway.Token, len(cfg.Auth.Tokens))
	for i, t := range cfg.Auth.Tokens {
		tokens[i] = gateway.Token{Name: t.Name, Role: t.Role, TokenSHA256: t.TokenSHA256}
	}
	return gateway.Config{
		NodeID: cfg.Node.ID, DataDir: cfg.Node.DataDir, Listen: cfg.HTTP.Listen,
		TLSCert: cfg.HTTP.TLSCert, TLSKey: cfg.HTTP.TLSKey,
		MaxBodyBytes: int64(cfg.HTTP.MaxBodyBytes), MaxFieldBytes: int64(cfg.HTTP.MaxFieldBytes),
		SpoolMaxBytes: int64(cfg.Spool.MaxBytes), SegmentMaxBytes: int64(cfg.Segment.MaxBytes),
		SegmentMaxAge: time.Duration(cfg.Segment.MaxAge), Retention: cfg.Retention.Default,
		RetentionFloor: time.Duration(cfg.Retention.Floor), Tokens: tokens,
		BasePolicies: cfg.Retention.PolicySet(), CompilePolicies: cfg.Rules,
		AckStoredTimeout: time.Duration(cfg.Spool.AckStoredTimeout),
		SearchTimeout:    time.Duration(cfg.Search.Timeout), SearchesPerCaller: cfg.Search.MaxConcurrentPerCaller,
		SearchMaxQueryBytes: int(cfg.Search.MaxQueryBytes),
		ReadTimeout:         time.Duration(cfg.HTTP.ReadTimeout), ReadHeaderTimeout: time.Duration(cfg.HTTP.ReadHeaderTimeout),
		IdleTimeout: time.Duration(cfg.HTTP.IdleTimeout), MaxConns: cfg.HTTP.MaxConns, MaxRecipients: cfg.HTTP.MaxRecipients,
		MetricsToken: cfg.HTTP.MetricsToken, ReplayCacheEntries: cfg.Sources.ReplayCacheEntries,
	}
}

// searchLimits are the index's share of the search budget.
func searchLimits(s config.Search) index.Limits {
	return index.Limits{
		Limits: querystring.Limits{MaxBytes: int(s.MaxQueryBytes), MaxClauses: s.MaxClauses,
			MaxWildcards: s.MaxWildcards, MaxPatternChars: s.MaxPatternChars, MaxPatternWildcards: s.MaxPatternWildcards},
		MaxPatternWords: s.MaxPatternWords,
	}
}
