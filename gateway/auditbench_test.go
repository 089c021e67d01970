package gateway

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkAudit is the cost of one audit record (spooled, fsync'd,
// chained since Build 5): written by one caller at a time, and by 16
// concurrent callers (2 cores × 8).
//
//	go test -run '^$' -bench BenchmarkAudit -benchtime 3000x ./gateway/
func BenchmarkAudit(b *testing.B) {
	n := mustStartNode(b, b.TempDir(), mustOpenStore(b))
	ctx := context.Background()
	audit := func(b *testing.B) {
		ev := AuditEvent{Actor: "sup", Role: RoleSupervisor, Remote: "127.0.0.1", Action: AuditSearch,
			Query: map[string]any{"q": "swap curve"}, Status: http.StatusOK}
		if err := n.gw.audit(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			audit(b)
		}
	})
	b.Run("concurrent", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				audit(b)
			}
		})
	})
}
