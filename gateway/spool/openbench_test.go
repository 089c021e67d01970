package spool_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/holdfast/holdfast/gateway/spool"
)

// BenchmarkOpenWithBacklog measures opening a spool holding 1 GiB that
// was never uploaded: the time a restart spends recovering it.
func BenchmarkOpenWithBacklog(b *testing.B) {
	dir := b.TempDir()
	s, err := spool.Open(dir, spool.Options{MaxBytes: 2 << 30}, nil)
	if err != nil {
		b.Fatal(err)
	}
	rec := bytes.Repeat([]byte("r"), 2048)
	batch := make([][]byte, 512)
	for i := range batch {
		batch[i] = rec
	}
	for s.Size() < 1<<30 {
		if _, _, err := s.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		s, err := spool.Open(dir, spool.Options{MaxBytes: 2 << 30}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/open")
		s.Close()
	}
}
