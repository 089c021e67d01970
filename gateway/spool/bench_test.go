package spool_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/holdfast/holdfast/gateway/spool"
)

// BenchmarkAppend measures acknowledged (fsync'd) appends of one 1 KiB
// record per call from many concurrent appenders, as the gateway's ingest
// handlers make them.
func BenchmarkAppend(b *testing.B) {
	for _, perProc := range []int{1, 8, 32} {
		appenders := perProc * runtime.GOMAXPROCS(0)
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			s, err := spool.Open(b.TempDir(), spool.Options{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rec := bytes.Repeat([]byte("r"), 1024)
			b.SetBytes(int64(len(rec)))
			b.SetParallelism(perProc)
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				recs := [][]byte{rec}
				for pb.Next() {
					if _, _, err := s.Append(context.Background(), recs); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/elapsed, "records/s")
			b.ReportMetric(float64(b.N)/float64(max(s.Fsyncs(), 1)), "records/fsync")
		})
	}
}
