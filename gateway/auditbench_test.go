package gateway

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkAudit is the cost of one audit record as concurrent requests
// write them (spooled, fsync'd; chained since Build 5).
//
//	go test -run '^$' -bench BenchmarkAudit -benchtime 3000x ./gateway/
func BenchmarkAudit(b *testing.B) {
	n := mustStartNode(b, b.TempDir(), mustOpenStore(b))
	ctx := context.Background()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ev := AuditEvent{Actor: "sup", Role: RoleSupervisor, Remote: "127.0.0.1", Action: AuditSearch,
				Query: map[string]any{"q": "swap curve"}, Status: http.StatusOK}
			if err := n.gw.audit(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
