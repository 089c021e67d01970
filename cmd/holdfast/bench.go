package main

import (
	"context"
	"fmt"
)

// runBench runs a benchmark.
func runBench(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "ingest" {
		return fmt.Errorf("bench ingest: %w", errUsage)
	}
	return runBenchIngest(ctx, args[1:])
}
