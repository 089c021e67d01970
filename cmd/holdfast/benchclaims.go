package main

import (
	"context"
	"fmt"
)

// benchClaims runs the cluster o.claimRounds times with the cluster-wide
// version claim (gateway.VersionClaimer) and as many times without it,
// alternating so that a machine growing busier or quieter weighs on both
// alike, and returns the best run of each: what the claim costs.
func benchClaims(ctx context.Context, o benchOptions, bodies [][]byte, raw int64) (claimed, unclaimed pipelineResult, err error) {
	best := func(cur *pipelineResult, r pipelineResult) {
		if r.storedRate > cur.storedRate {
			*cur = r
		}
	}
	for round := 0; round < max(o.claimRounds, 1); round++ {
		for _, off := range []bool{false, true} {
			run := o
			run.noClaims = off
			r, err := benchPipeline(ctx, run, o.nodes, bodies, raw)
			if err != nil {
				return claimed, unclaimed, fmt.Errorf("cluster run (version claims off: %v): %w", off, err)
			}
			if off {
				best(&unclaimed, r)
			} else {
				best(&claimed, r)
			}
		}
	}
	return claimed, unclaimed, nil
}

// printClaimCost prints the cluster's figures without the version claim
// next to those with it.
func printClaimCost(o benchOptions, with, without pipelineResult) {
	cost := func(a, b float64) float64 { return (1 - a/b) * 100 }
	fmt.Printf("  without the cluster-wide version claim (same run, best of %d): acked %.0f msgs/s, stored %.0f msgs/s, ack p99 %v\n",
		max(o.claimRounds, 1), without.ackedRate, without.storedRate, without.p99)
	fmt.Printf("  version claim cost: %.1f%% acked, %.1f%% stored (with: %.0f / %.0f msgs/s)\n",
		cost(with.ackedRate, without.ackedRate), cost(with.storedRate, without.storedRate), with.ackedRate, with.storedRate)
}
