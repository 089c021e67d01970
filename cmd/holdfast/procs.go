package main

import (
	"os"
	"runtime"
)

// procsHeadroom is how many Ps (Go's slots for running goroutines) holdfast
// runs beyond the CPUs Go found.
//
// An ingest acknowledgement waits for a few short steps (decode, hash, one
// group-committed fsync), each needing a P. Background work — compressing
// and hashing a segment, the ledger's memtable flushes, garbage collection
// — runs for tens of milliseconds without blocking, and Go preempts it only
// every 10 ms. With as many Ps as CPUs (two on the reference machine), one
// background goroutine held half of them and acknowledgements queued behind
// it: bench ingest offered 30,000 msgs/s for 10 s measured an ack p99 of
// 85–134 ms. With two Ps more the kernel shares the CPUs between the threads
// at a finer grain: p99 26–37 ms for the same CPU time. Four more did no
// better (25–33 ms) and made the indexer slower per CPU-second.
const procsHeadroom = 2

// setProcs raises GOMAXPROCS by procsHeadroom, unless the GOMAXPROCS
// environment variable sets it, and returns the value in effect. The base
// is Go's own default (the CPUs, or a container's CPU limit at start);
// once set, Go no longer follows later changes of that limit: a restart
// picks them up.
func setProcs() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	n := runtime.GOMAXPROCS(0) + procsHeadroom
	runtime.GOMAXPROCS(n)
	return n
}
