package main

import (
	"context"
	"fmt"
)

// runBench runs a benchmark: ingest (against MinIO) or search (local).
func runBench(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("bench ingest|search|sweep: %w", errUsage)
	}
	// The benchmarks run the daemon's code in this process: as serve does.
	setProcs()
	switch args[0] {
	case "ingest":
		return runBenchIngest(ctx, args[1:])
	case "search":
		return runBenchSearch(ctx, args[1:])
	case "sweep":
		return runBenchSweep(ctx, args[1:])
	}
	return fmt.Errorf("bench %q: want ingest, search or sweep: %w", args[0], errUsage)
}
