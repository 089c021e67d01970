package corpus

import (
	"fmt"
	"testing"
)

// BenchmarkLoad loads all of each source; msgs/op is its size.
func BenchmarkLoad(b *testing.B) {
	dir := mustDir(b)
	for _, s := range Sources() {
		b.Run(string(s), func(b *testing.B) {
			n := 0
			for b.Loop() {
				ms, err := Load(dir, s, 0)
				if err != nil {
					b.Fatal(err)
				}
				n = len(ms)
			}
			b.ReportMetric(float64(n), "msgs/op")
		})
	}
}

// BenchmarkMixed builds the round-robin sample tests and benchmarks use.
func BenchmarkMixed(b *testing.B) {
	dir := mustDir(b)
	for _, n := range []int{50000, 1000000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Mixed(dir, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
