package journal

import (
	"container/heap"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrReplay is returned by ReplayCache.Check when a signature already
// accepted for one body comes again with another: a captured signature
// replayed with a forged body.
var ErrReplay = errors.New("journal: webhook signature already used for a different body")

// Signature identifies one verified webhook signature, for the replay
// cache. A Source sets Result.Signature once the signature verified.
type Signature struct {
	// Key is the signed header tuple (timestamp and signature): the
	// platform makes a new one for each delivery it signs.
	Key string
	// Expires is when the source's timestamp window closes for it: after
	// it the signature is refused anyway, so the cache may forget it.
	Expires time.Time
}

// DefaultReplayCacheEntries bounds a ReplayCache made with max <= 0.
const DefaultReplayCacheEntries = 100_000

// ReplayCache remembers, for every signature accepted inside its window,
// the hash of the body it came with. The same signature with the same body
// again is a redelivery (accepted, and the ledger answers it as a
// duplicate); with a different body it is a replay (ErrReplay). It holds at
// most max entries: expired ones are dropped first, and when it is still
// full the entry closest to expiry makes room (counted by Evicted). Safe
// for concurrent use; it starts no goroutine.
//
// The cache is per process: a replay sent to another node of a cluster is
// checked against that node's cache only. For Slack and Zoom the signature
// covers the body, so no other body can carry it anywhere; for DingTalk,
// whose sign covers the timestamp only, route a source's deliveries to one
// node to keep the protection cluster-wide (see README, "Journal sources").
type ReplayCache struct {
	mu      sync.Mutex
	max     int
	seen    map[[32]byte]*replayEntry
	byTime  replayHeap
	evicted uint64
}

type replayEntry struct {
	key     [32]byte
	body    [32]byte
	expires time.Time
	index   int // in byTime
}

// NewReplayCache returns an empty cache of at most max entries
// (DefaultReplayCacheEntries when max <= 0).
func NewReplayCache(max int) *ReplayCache {
	if max <= 0 {
		max = DefaultReplayCacheEntries
	}
	return &ReplayCache{max: max, seen: map[[32]byte]*replayEntry{}}
}

// Check records that platform's signature sig came with body at now. It
// returns an error wrapping ErrReplay, and records nothing, when sig was
// seen before with a different body and has not expired.
func (c *ReplayCache) Check(platform string, sig Signature, body []byte, now time.Time) error {
	key := sha256.Sum256([]byte(platform + "\x00" + sig.Key))
	sum := sha256.Sum256(body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if e, ok := c.seen[key]; ok {
		if e.body != sum {
			return fmt.Errorf("%s: %w (a replay of a captured delivery)", platform, ErrReplay)
		}
		return nil
	}
	if !sig.Expires.After(now) {
		return nil // outside its window: the source refuses it anyway
	}
	for len(c.byTime) >= c.max {
		c.remove(c.byTime[0])
		c.evicted++
	}
	e := &replayEntry{key: key, body: sum, expires: sig.Expires}
	c.seen[key] = e
	heap.Push(&c.byTime, e)
	return nil
}

// Len is the number of signatures remembered.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// Evicted is how many signatures were forgotten before they expired
// because the cache was full.
func (c *ReplayCache) Evicted() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evicted
}

// expire drops the entries whose window closed by now.
func (c *ReplayCache) expire(now time.Time) {
	for len(c.byTime) > 0 && !c.byTime[0].expires.After(now) {
		c.remove(c.byTime[0])
	}
}

func (c *ReplayCache) remove(e *replayEntry) {
	heap.Remove(&c.byTime, e.index)
	delete(c.seen, e.key)
}

// replayHeap orders entries by expiry, soonest first (container/heap).
type replayHeap []*replayEntry

func (h replayHeap) Len() int           { return len(h) }
func (h replayHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h replayHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *replayHeap) Push(x any) {
	e := x.(*replayEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *replayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
