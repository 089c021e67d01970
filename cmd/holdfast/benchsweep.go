package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/s3"
	"github.com/holdfast/holdfast/cluster"
	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/index"
	"github.com/holdfast/holdfast/internal/corpus"
)

// runBenchSweep is `holdfast bench sweep`: N messages built from the
// shared data are sealed into segments in MinIO under a retention of
// seconds, catalogued by a single-node cluster and indexed; once they have
// expired a retention sweep deletes them, and the benchmark prints how
// fast messages left storage and the index. Target: 1,000,000 a minute.
func runBenchSweep(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench sweep", flag.ContinueOnError)
	n := fs.Int("n", 1_000_000, "messages to expire and sweep")
	keep := fs.Duration("keep", 30*time.Second, "retention of each message from when it is sealed (they must expire before the sweep)")
	var s3c s3.Config
	fs.StringVar(&s3c.Endpoint, "s3-endpoint", os.Getenv("HOLDFAST_TEST_S3_ENDPOINT"), "MinIO host:port (HOLDFAST_TEST_S3_ENDPOINT)")
	fs.StringVar(&s3c.AccessKey, "s3-access-key", os.Getenv("HOLDFAST_TEST_S3_ACCESS_KEY"), "access key")
	fs.StringVar(&s3c.SecretKey, "s3-secret-key", os.Getenv("HOLDFAST_TEST_S3_SECRET_KEY"), "secret key")
	dataDir := fs.String("data", "", "shared conversation data (default: find ../shared/data)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("bench sweep: %w", errUsage)
	}
	if s3c.Endpoint == "" {
		return fmt.Errorf("bench sweep needs MinIO: set HOLDFAST_TEST_S3_ENDPOINT or run `make bench`: %w", errUsage)
	}
	if *dataDir == "" {
		d, err := corpus.Dir()
		if err != nil {
			return err
		}
		*dataDir = d
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	entry := logrus.NewEntry(log)
	s3c.Bucket = "bench-sweep-" + randomHex(4)
	store, err := s3.Open(ctx, s3c, entry)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "holdfast-bench-sweep-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Printf("building %d messages from %s, kept %v\n", *n, *dataDir, *keep)
	cms, err := corpus.Mixed(*dataDir, *n)
	if err != nil {
		return err
	}
	node, err := cluster.Open(cluster.Config{NodeID: "bench", RaftListen: "127.0.0.1:0", Dir: dir + "/raft", Bootstrap: true}, entry)
	if err != nil {
		return err
	}
	defer node.Close()
	if err := node.WaitLeader(ctx); err != nil {
		return err
	}
	ix, err := index.Open(index.Config{Dir: dir + "/index"}, entry)
	if err != nil {
		return err
	}
	defer ix.Close()
	follower := index.NewFollower(ix, node, store, entry)
	follower.Start(ctx)
	defer follower.Close()

	start := time.Now()
	stats, err := sealExpiring(ctx, store, node, cms, *keep)
	until := time.Now().Add(*keep)
	if err != nil {
		return err
	}
	fmt.Printf("  stored %d messages in %d segments (%.1f MB) in %v; indexing...\n",
		stats.records, stats.segments, float64(stats.stored)/1e6, time.Since(start).Round(time.Second))
	if err := follower.WaitIndexed(ctx, node.LastSeq()); err != nil {
		return err
	}
	fmt.Printf("  indexed after %v; waiting for the retention to pass\n", time.Since(start).Round(time.Second))
	if d := time.Until(until.Add(time.Second)); d > 0 {
		time.Sleep(d)
	}

	node.RunRetention(cluster.Retention{Store: store, Matcher: benchMatcher{ix}, Log: entry})
	sweepStart := time.Now()
	sw, err := node.StartSweep(ctx, false, cluster.TriggerAPI, "bench")
	if err != nil {
		return err
	}
	for sw.State == cluster.SweepRunning {
		time.Sleep(50 * time.Millisecond)
		if sw, err = node.Sweep(sw.ID); err != nil {
			return err
		}
	}
	storageTook := time.Since(sweepStart)
	if err := follower.WaitIndexed(ctx, node.LastSeq()); err != nil {
		return err
	}
	indexTook := time.Since(sweepStart)
	res, err := ix.Search(ctx, index.Request{AllVersions: true, Size: 1})
	if err != nil {
		return err
	}
	fmt.Printf("\nholdfast bench sweep: %d expired messages in %d segments, MinIO at %s\n", stats.records, stats.segments, s3c.Endpoint)
	fmt.Printf("  report:   examined %d segments, deleted %d segments / %d messages / %.1f MB, held %d, refused %d, failed %d\n",
		sw.Examined.Segments, sw.Deleted.Segments, sw.Deleted.Messages, float64(sw.Deleted.Bytes)/1e6, sw.SkippedHeld.Segments, sw.Refused.Segments, sw.Failed.Segments)
	fmt.Printf("  storage:  %9.0f msgs/s deleted (%v for the sweep: every version of every object, recorded through raft)\n",
		float64(sw.Deleted.Messages)/storageTook.Seconds(), storageTook.Round(time.Millisecond))
	fmt.Printf("  index:    %9.0f msgs/s removed (%v from the sweep's start until the index dropped them; %d documents left)\n",
		float64(sw.Deleted.Messages)/indexTook.Seconds(), indexTook.Round(time.Millisecond), res.Total)
	fmt.Printf("  target:   1,000,000 messages a minute = %d msgs/s\n", 1_000_000/60)
	return nil
}

// sealExpiring stores the messages in segments, each message retained for
// keep from when it is built, and catalogues them.
func sealExpiring(ctx context.Context, store archive.ObjectStore, node *cluster.Node, cms []corpus.Message, keep time.Duration) (buildStats, error) {
	codec, err := archive.NewCodec()
	if err != nil {
		return buildStats{}, err
	}
	defer codec.Close()
	s := &sealer{codec: codec, store: store, maxBytes: int64(config.Default().Segment.MaxBytes)}
	var segs []archive.Segment
	now := time.Now().UTC()
	for i := range cms {
		c := &cms[i]
		m := archive.Message{Platform: c.Platform, Tenant: "bench", SourceID: c.SourceID, Action: archive.ActionSend,
			Conversation: archive.Conversation{ID: c.Conversation.ID, Kind: c.Conversation.Kind, Name: c.Conversation.Name},
			From:         archive.Participant{ID: c.From.ID, Name: c.From.Name}, SentAt: c.SentAt, ReceivedAt: now,
			Type: "text", Text: c.Text, RetainUntil: time.Now().Add(keep), Policy: archive.DefaultPolicy}
		m.Seal()
		seg, err := s.add(ctx, &m)
		if err != nil {
			return s.stats, err
		}
		if seg != nil {
			segs = append(segs, *seg)
		}
	}
	seg, err := s.seal(ctx)
	if err != nil {
		return s.stats, err
	}
	if seg != nil {
		segs = append(segs, *seg)
	}
	return s.stats, node.SealSegments(ctx, segs)
}

// benchMatcher serves the hold job of a benchmark that places no hold.
type benchMatcher struct{ ix *index.Index }

func (benchMatcher) MatchSegments(context.Context, archive.HoldCriteria, []string) (map[string]int, error) {
	return nil, nil
}

func (m benchMatcher) Indexed() uint64 { return m.ix.Checkpoint() }
