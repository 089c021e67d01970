package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/gateway/spool"
)

func TestGroupNamesMatchRetentionDay(t *testing.T) {
	n := groupNames{}
	base := time.Date(2033, 1, 2, 0, 0, 0, 0, time.UTC)
	times := []time.Time{base, base.Add(-time.Nanosecond), base.Add(24*time.Hour - time.Nanosecond), base.Add(24 * time.Hour),
		base.In(time.FixedZone("", 8*3600)), time.Unix(-1, 0), time.Unix(-86400, 0), time.Unix(-86401, 0), time.Unix(0, 0)}
	for _, tenant := range []string{"acme", "a"} {
		for _, at := range times {
			h := spoolHeader{Tenant: tenant, RetainUntil: at}
			if got, want := n.of(&h), tenant+"|"+archive.RetentionDay(at); got != want {
				t.Errorf("group of %s at %v = %q, want %q", tenant, at, got, want)
			}
		}
	}
}

// An ack=stored request answers once its records are stored, however the
// uploader's batches fall: a flush asked for while a batch fills up is
// carried to the next batch instead of waiting for segment.max_age (an
// hour here).
func TestAckStoredNeverWaitsForSegmentAge(t *testing.T) {
	// Each PUT takes a while, as against remote storage: the flush comes
	// while the uploader is busy with an earlier batch.
	store := slowPuts{mustOpenStore(t), 50 * time.Millisecond}
	n := mustStartNode(t, t.TempDir(), store, func(c *Config) {
		c.SegmentMaxBytes, c.SegmentMaxAge = 24<<10, time.Hour
	})
	hc := &http.Client{Timeout: 20 * time.Second}
	post := func(sourcePrefix string, count int) error {
		var body strings.Builder
		for i := range count {
			body.WriteString(msg(fmt.Sprintf("%s-%d", sourcePrefix, i), strings.Repeat("stored before the answer ", 8)))
			body.WriteByte('\n')
		}
		req, err := http.NewRequest(http.MethodPost, n.url+"/v1/messages?ack=stored", strings.NewReader(body.String()))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+testTokens[RoleIngest])
		req.Header.Set("Content-Type", "application/x-ndjson")
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w after %v", sourcePrefix, err, time.Since(start))
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("%s: status %d", sourcePrefix, resp.StatusCode)
		}
		return nil
	}
	// One request of many batches: the flush it asks for arrives while the
	// first of them fills up.
	const big = 1500
	if err := post("big", big); err != nil {
		t.Fatal(err)
	}
	const writers, rounds, perRequest = 4, 4, 30
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if err := post(fmt.Sprintf("w%d-r%d", w, r), perRequest); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := len(storedRecords(t, n.store)), big+writers*rounds*perRequest; got != want {
		t.Fatalf("%d records stored, want %d", got, want)
	}
}

// slowPuts is a store whose PUTs take at least delay.
type slowPuts struct {
	archive.ObjectStore
	delay time.Duration
}

func (s slowPuts) Put(ctx context.Context, key string, body io.Reader, size int64, o archive.PutOptions) (archive.ObjectInfo, error) {
	time.Sleep(s.delay)
	return s.ObjectStore.Put(ctx, key, body, size, o)
}

// A flush asked for while a batch fills up from the backlog is not lost
// with that batch: the batch after it takes what is spooled at once
// instead of waiting for segment.max_age.
func TestFlushOutlivesTheBatchThatFilledUp(t *testing.T) {
	sp, err := spool.Open(t.TempDir(), spool.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	u := &uploader{spool: sp, maxBytes: 8 << 10, maxAge: time.Hour}
	u.init()
	next := uint64(1)
	for round := range 40 {
		var recs [][]byte
		for i := range 60 { // about two batches and a bit
			m := archive.Message{Tenant: "acme", Platform: "generic", SourceID: fmt.Sprintf("r%d-%d", round, i), Action: archive.ActionSend,
				Text: strings.Repeat("spooled ", 20), SentAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				RetainUntil: time.Date(2033, 1, 2, 0, 0, 0, 0, time.UTC)}
			m.Seal()
			rec, err := messageRecord(&m, "send/v0")
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, rec)
		}
		if _, _, err := sp.Append(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
		u.flush()
		for next <= sp.LastLSN() {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			_, to, err := u.collect(ctx, next)
			cancel()
			if err != nil {
				t.Fatalf("round %d: collect from lsn %d: %v: the flush was lost and the batch waits for segment.max_age", round, next, err)
			}
			next = to
		}
	}
}
