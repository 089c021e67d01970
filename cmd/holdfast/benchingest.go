package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/s3"
	"github.com/holdfast/holdfast/cluster"
	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/gateway"
	"github.com/holdfast/holdfast/internal/corpus"
)

// benchOptions are the knobs of `holdfast bench ingest`.
type benchOptions struct {
	n, clients, batch, naive, naiveClients, nodes int
	// rate, when set, offers requests at this many messages per second
	// (open loop) instead of each client sending as soon as its last
	// request was answered.
	rate    float64
	s3      s3.Config
	dataDir string
	// noClaims turns the cluster-wide version claim off in the nodes of
	// one run, to measure what it costs (benchclaims.go); claimRounds is
	// how many runs with and without it the cluster figure takes the best
	// of.
	noClaims    bool
	claimRounds int
}

// runBenchIngest measures ingest through the HTTP API of an in-process node
// writing to MinIO, then, in the same run and against the same MinIO, the
// naive design that writes one locked object per message.
func runBenchIngest(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	var o benchOptions
	fs.IntVar(&o.n, "n", 200000, "messages to ingest")
	fs.IntVar(&o.clients, "clients", 8, "concurrent HTTP clients")
	fs.IntVar(&o.batch, "batch", 250, "messages per request")
	fs.Float64Var(&o.rate, "rate", 0, "offer this many messages per second, paced (open loop), and measure each ack from the request's scheduled time; 0: every client sends as fast as it is answered")
	fs.IntVar(&o.naive, "naive", 3000, "messages for the one-PUT-per-message baseline")
	fs.IntVar(&o.naiveClients, "naive-clients", 32, "concurrent PUTs of the baseline")
	fs.IntVar(&o.nodes, "nodes", 1, "also run a cluster of this many in-process nodes, for a cluster-wide figure next to the single node's")
	fs.IntVar(&o.claimRounds, "claim-rounds", 1, "with -nodes > 1: run the cluster this many times with the cluster-wide version claim and as many without it, alternating, and report the best of each")
	fs.StringVar(&o.s3.Endpoint, "s3-endpoint", os.Getenv("HOLDFAST_TEST_S3_ENDPOINT"), "MinIO host:port (HOLDFAST_TEST_S3_ENDPOINT)")
	fs.StringVar(&o.s3.AccessKey, "s3-access-key", os.Getenv("HOLDFAST_TEST_S3_ACCESS_KEY"), "access key (HOLDFAST_TEST_S3_ACCESS_KEY)")
	fs.StringVar(&o.s3.SecretKey, "s3-secret-key", os.Getenv("HOLDFAST_TEST_S3_SECRET_KEY"), "secret key (HOLDFAST_TEST_S3_SECRET_KEY)")
	fs.StringVar(&o.dataDir, "data", "", "shared conversation data (default: find ../shared/data)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the ingest phase to this file")
	traceFile := fs.String("trace", "", "write a runtime execution trace of the single node's ingest phase to this file (go tool trace)")
	memProfile := fs.String("memprofile", "", "write a profile of the allocations made up to the end of the ingest phase (loading the corpus included) to this file")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("bench ingest: %w", errUsage)
	}
	if o.s3.Endpoint == "" {
		return fmt.Errorf("bench ingest needs MinIO: set HOLDFAST_TEST_S3_ENDPOINT or run `make bench`: %w", errUsage)
	}
	if o.dataDir == "" {
		d, err := corpus.Dir()
		if err != nil {
			return err
		}
		o.dataDir = d
	}
	fmt.Printf("loading %d messages from %s\n", o.n, o.dataDir)
	msgs, err := corpus.Mixed(o.dataDir, o.n)
	if err != nil {
		return err
	}
	bodies, raw, err := encodeBatches(msgs, o.batch)
	if err != nil {
		return err
	}
	// Keep only what the naive baseline sends: the corpus's structs would
	// otherwise stay live through the run, and every garbage collection of
	// holdfast's would mark them.
	msgs = slices.Clone(msgs[:min(o.naive, len(msgs))])
	runtime.GC()

	stopCPU, err := startRecording(*cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return err
	}
	stopTrace, err := startRecording(*traceFile, trace.Start, trace.Stop)
	if err != nil {
		stopCPU()
		return err
	}
	res, err := benchPipeline(ctx, o, 1, bodies, raw)
	stopTrace()
	if err != nil {
		stopCPU()
		return err
	}
	var clusterRes, unclaimed pipelineResult
	if o.nodes > 1 {
		clusterRes, unclaimed, err = benchClaims(ctx, o, bodies, raw)
	}
	stopCPU()
	if err != nil {
		return err
	}
	if *memProfile != "" {
		if err := writeAllocProfile(*memProfile); err != nil {
			return err
		}
	}
	naive, err := benchNaive(ctx, o, msgs)
	if err != nil {
		return err
	}
	load := "as fast as answered"
	if o.rate > 0 {
		load = fmt.Sprintf("offered at %.0f msgs/s", o.rate)
	}
	fmt.Printf("\nholdfast bench ingest: %d messages (%.1f MB of JSON), %d clients x %d per request (%s), MinIO at %s, GOMAXPROCS %d\n",
		o.n, float64(raw)/1e6, o.clients, o.batch, load, o.s3.Endpoint, runtime.GOMAXPROCS(0))
	fmt.Printf("  acked:    %9.0f msgs/s  %6.1f MB/s  ack latency p50 %v  p99 %v  (%d requests)\n",
		res.ackedRate, res.mbps, res.p50.Round(time.Microsecond), res.p99.Round(time.Microsecond), len(bodies))
	fmt.Printf("  stored:   %9.0f msgs/s  (every message in a verified WORM segment after %v)\n", res.storedRate, res.storedAfter.Round(time.Millisecond))
	fmt.Printf("  objects:  %9.1f per 10k messages  (%d segments for %d messages; %.1f MB stored, %.1fx smaller than the JSON sent)\n",
		res.objectsPer10k, res.objects, o.n, float64(res.storedBytes)/1e6, float64(raw)/float64(res.storedBytes))
	fmt.Printf("  naive:    %9.0f msgs/s  (one PUT with COMPLIANCE retention per message, %d messages, %d concurrent)\n", naive, o.naive, o.naiveClients)
	fmt.Printf("  speed-up: %9.1fx acked, %.1fx stored, over the naive baseline\n", res.ackedRate/naive, res.storedRate/naive)
	if o.nodes > 1 {
		c := clusterRes
		fmt.Printf("\n  %d-node cluster (same messages, same MinIO, clients spread over the nodes, all on this machine's cores):\n", o.nodes)
		fmt.Printf("  acked:    %9.0f msgs/s cluster-wide  (single node: %.0f, ratio %.2f)  ack latency p50 %v  p99 %v\n",
			c.ackedRate, res.ackedRate, c.ackedRate/res.ackedRate, c.p50.Round(time.Microsecond), c.p99.Round(time.Microsecond))
		fmt.Printf("  stored:   %9.0f msgs/s cluster-wide  (single node: %.0f)  objects %.1f per 10k messages\n", c.storedRate, res.storedRate, c.objectsPer10k)
		printClaimCost(o, c, unclaimed)
	}
	return nil
}

// encodeBatches turns messages into NDJSON request bodies, before the clock
// starts: the benchmark measures holdfast, not its client.
func encodeBatches(msgs []corpus.Message, batch int) ([][]byte, int64, error) {
	var bodies [][]byte
	var raw int64
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, m := range msgs {
		if err := enc.Encode(m); err != nil {
			return nil, 0, err
		}
		if (i+1)%batch == 0 || i == len(msgs)-1 {
			bodies = append(bodies, append([]byte(nil), buf.Bytes()...))
			raw += int64(buf.Len())
			buf.Reset()
		}
	}
	return bodies, raw, nil
}

type pipelineResult struct {
	ackedRate, storedRate, mbps float64
	p50, p99, storedAfter       time.Duration
	objects                     int
	objectsPer10k               float64
	storedBytes                 int64 // every object in the bucket
}

// benchNode is one in-process holdfast node of the benchmark.
type benchNode struct {
	node *cluster.Node
	gw   *gateway.Gateway
}

// startBenchNodes starts n nodes on store, joined into one cluster, each
// with its own gateway; stop closes them.
func startBenchNodes(ctx context.Context, dir string, store archive.ObjectStore, n int, token string, noClaims bool) (nodes []benchNode, stop func(), err error) {
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	stop = func() {
		for _, bn := range nodes {
			if bn.gw != nil {
				bn.gw.Shutdown(context.Background())
			}
		}
		for _, bn := range nodes {
			bn.node.Close()
		}
	}
	def := config.Default()
	secret := "bench-cluster-secret-" + randomHex(8)
	var first string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("bench%d", i+1)
		addr, err := freeAddr()
		if err != nil {
			return nodes, stop, err
		}
		cfg := cluster.Config{NodeID: id, RaftListen: addr, Dir: filepath.Join(dir, id, "raft"), Secret: secret, Bootstrap: i == 0}
		if i == 0 {
			first = addr
		} else {
			cfg.Join = []string{first}
		}
		node, err := cluster.Open(cfg, log.WithField("node", id))
		if err != nil {
			return nodes, stop, err
		}
		nodes = append(nodes, benchNode{node: node})
		if err := node.WaitLeader(ctx); err != nil {
			return nodes, stop, err
		}
		gw, err := gateway.New(gateway.Config{
			NodeID: id, DataDir: filepath.Join(dir, id, "node"), Listen: "127.0.0.1:0",
			SpoolMaxBytes: int64(def.Spool.MaxBytes), SegmentMaxBytes: int64(def.Segment.MaxBytes),
			SegmentMaxAge: time.Duration(def.Segment.MaxAge), Retention: def.Retention.Default,
			RetentionFloor:  time.Duration(def.Retention.Floor),
			Tokens:          []gateway.Token{{Name: "bench", Role: gateway.RoleIngest, TokenSHA256: gateway.HashToken(token)}},
			NoVersionClaims: noClaims,
		}, gateway.Deps{Store: store, Catalog: node}, log.WithField("node", id))
		if err != nil {
			return nodes, stop, err
		}
		nodes[i].gw = gw
		if err := gw.Start(ctx); err != nil {
			return nodes, stop, err
		}
	}
	return nodes, stop, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// benchPipeline ingests bodies through the HTTP API of a cluster of
// o.nodes nodes, the clients spread evenly across them.
func benchPipeline(ctx context.Context, o benchOptions, nodeCount int, bodies [][]byte, raw int64) (pipelineResult, error) {
	var res pipelineResult
	dir, err := os.MkdirTemp("", "holdfast-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	cfg := o.s3
	cfg.Bucket = "holdfast-bench-" + randomHex(4)
	store, err := s3.Open(ctx, cfg, log.WithField("component", "s3"))
	if err != nil {
		return res, err
	}
	token := "bench-" + randomHex(16)
	nodes, stop, err := startBenchNodes(ctx, dir, store, nodeCount, token, o.noClaims)
	defer stop()
	if err != nil {
		return res, err
	}
	urls := make([]string, len(nodes))
	for i, bn := range nodes {
		urls[i] = "http://" + bn.gw.Addr() + "/v1/messages"
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.clients}}
	lat := make([]time.Duration, len(bodies))
	// With a rate, request i is due at start + i·interval and its latency
	// counts from then, so that a slow answer delaying the next requests
	// is measured rather than hidden (coordinated omission).
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(o.batch) / o.rate * float64(time.Second))
	}
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < o.clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := urls[c%len(urls)]
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if interval > 0 {
					t0 = start.Add(time.Duration(i) * interval)
					time.Sleep(time.Until(t0))
				}
				err := postBatch(ctx, hc, url, token, bodies[i])
				lat[i] = time.Since(t0)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	acked := time.Since(start)
	if firstErr != nil {
		return res, firstErr
	}
	for _, bn := range nodes {
		if err := bn.gw.WaitStored(ctx); err != nil {
			return res, err
		}
	}
	stored := time.Since(start)
	n := 0
	for _, b := range bodies {
		n += bytes.Count(b, []byte{'\n'})
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	seq, err := nodes[0].node.LeaderLastSeq(ctx) // one catalog entry per segment
	if err != nil {
		return res, err
	}
	count := int(seq)
	var storedBytes int64
	if err := store.List(ctx, "", func(oi archive.ObjectInfo) error {
		storedBytes += oi.Size
		return nil
	}); err != nil {
		return res, err
	}
	res = pipelineResult{
		storedBytes: storedBytes,
		ackedRate:   float64(n) / acked.Seconds(), storedRate: float64(n) / stored.Seconds(),
		mbps: float64(raw) / 1e6 / acked.Seconds(), p50: lat[len(lat)/2], p99: lat[len(lat)*99/100],
		storedAfter: stored, objects: count, objectsPer10k: float64(count) / float64(n) * 10000,
	}
	return res, nil
}

func postBatch(ctx context.Context, hc *http.Client, url, token string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("ingest answered %d: %s", resp.StatusCode, data)
	}
	return nil
}

// benchNaive writes one object per message with COMPLIANCE retention: the
// per-message design that the segment pipeline replaces.
func benchNaive(ctx context.Context, o benchOptions, msgs []corpus.Message) (float64, error) {
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	cfg := o.s3
	cfg.Bucket = "holdfast-naive-" + randomHex(4)
	store, err := s3.Open(ctx, cfg, log.WithField("component", "s3"))
	if err != nil {
		return 0, err
	}
	n := min(o.naive, len(msgs))
	until := time.Now().Add(24 * time.Hour)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < o.naiveClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				b, _ := json.Marshal(msgs[i])
				key := fmt.Sprintf("naive/%08d.json", i)
				if _, err := store.Put(ctx, key, bytes.NewReader(b), int64(len(b)), archive.PutOptions{RetainUntil: until, ContentType: "application/json"}); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("naive baseline: %w", firstErr)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// startRecording creates path and starts a recording (CPU profile,
// execution trace) into it; the stop it returns ends the recording and
// closes the file. An empty path records nothing.
func startRecording(path string, start func(io.Writer) error, stop func()) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("record %s: %w", path, err)
	}
	return func() {
		stop()
		f.Close()
	}, nil
}

// writeAllocProfile writes the allocations made since the process started
// to path: the ingest phase's, and the corpus loading's before it (about a
// sixth at -n 60000, under main.encodeBatches and corpus).
func writeAllocProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
