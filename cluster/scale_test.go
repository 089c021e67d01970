package cluster

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/holdfast/holdfast/archive"
)

// TestHeapStaysBoundedWith100kSegments seals 100,000 segments and checks
// that the catalog lives on disk: the Go heap stays far below what holding
// them all in memory would take.
func TestHeapStaysBoundedWith100kSegments(t *testing.T) {
	if testing.Short() {
		t.Skip("seals 100k segments; skipped with -short")
	}
	const total, batch = 100_000, 1000
	n := mustOpenNode(t)
	base := heapInuse()

	var mapBytes int // what map[string]archive.Segment of them all would hold, at least
	for from := 0; from < total; from += batch {
		segs := testSegments(from, batch)
		for _, s := range segs {
			mapBytes += int(unsafe.Sizeof(s)) + len(s.Key)*2 + len(s.SHA256) + len(s.VersionID) + len(s.Tenant) + len(s.Node)
		}
		mustSeal(t, n, segs)
	}
	if c, err := n.SegmentCount(); c != total || err != nil {
		t.Fatalf("SegmentCount = %d, %v; want %d", c, err, total)
	}
	if n.LastSeq() != total {
		t.Fatalf("LastSeq = %d, want %d", n.LastSeq(), total)
	}
	if s, ok, err := n.Segment(testSegment(total - 1).Key); !ok || err != nil || s.SHA256 != testSegment(total-1).SHA256 {
		t.Fatalf("last segment: found %v, %v", ok, err)
	}

	inuse := heapInuse()
	t.Logf("heap in use: %.1f MiB at open, %.1f MiB after %d segments; a map of them would need > %.1f MiB",
		mib(base), mib(inuse), total, mib(uint64(mapBytes)))
	const limit = 64 << 20
	if inuse > limit {
		t.Fatalf("heap in use %.1f MiB > %.0f MiB", mib(inuse), mib(limit))
	}
	if grown := int64(inuse) - int64(base); grown > int64(mapBytes)/2 {
		t.Fatalf("heap grew %.1f MiB, at least half of the %.1f MiB a map of every segment needs",
			mib(uint64(grown)), mib(uint64(mapBytes)))
	}
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// BenchmarkSealSegments measures catalog writes through raft on one node:
// large batches from one caller, and small batches from many concurrent
// callers (raft batches those into shared log writes and transactions).
func BenchmarkSealSegments(b *testing.B) {
	for _, bc := range []struct {
		name    string
		batch   int
		callers int
	}{
		{"batch=1000/callers=1", 1000, 1},
		{"batch=10/callers=64", 10, 64},
		{"batch=1/callers=64", 1, 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := mustOpenNode(b)
			var next atomic.Int64
			work := make(chan []archive.Segment)
			var wg sync.WaitGroup
			for range bc.callers {
				wg.Go(func() {
					for segs := range work {
						if err := n.SealSegments(context.Background(), segs); err != nil {
							b.Error(err)
						}
					}
				})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				work <- testSegments(int(next.Add(int64(bc.batch)))-bc.batch, bc.batch)
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			segs := float64(b.N * bc.batch)
			b.ReportMetric(segs/b.Elapsed().Seconds(), "segments/s")
			if c, _ := n.SegmentCount(); c != b.N*bc.batch {
				b.Fatalf("SegmentCount = %d, want %d", c, b.N*bc.batch)
			}
		})
	}
}
