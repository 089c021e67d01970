package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/index"
)

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// print writes the report: everything, or only the queries when they
// ran on a kept index.
func (rep *searchReport) print(o searchBenchOptions, total time.Duration) {
	b := rep.build
	fmt.Printf("\nholdfast bench search: %d messages from %s (English and Chinese), run took %v\n", b.records, o.dataDir, total.Round(time.Second))
	if rep.reused {
		fmt.Printf("  index:      kept in %s by an earlier run, %d monthly partitions; not built or measured by this run\n", o.dir, rep.partitions)
		rep.printMachine()
		rep.printQueries()
		return
	}
	fmt.Printf("  segments:   %d sealed as the gateway does (time-sorted, one tenant and retention day, <= %v of records each): %.1f MB of records, %.1f MB stored\n",
		b.segments, config.Default().Segment.MaxBytes, float64(b.raw)/1e6, float64(b.stored)/1e6)
	ratio := rep.indexRate / rep.rawRate
	perCPU, rawPerCPU := float64(b.records)/rep.indexing.cpu.Seconds(), float64(o.rawN)/rep.raw.cpu.Seconds()
	fmt.Printf("  indexing:   %7.0f msgs/s  a Follower catching up from the catalog (fetch, verify, decode, %d monthly partitions, latest versions, checkpoint): %v; %.0f per CPU-second\n",
		rep.indexRate, rep.partitions, rep.indexTook.Round(time.Millisecond), perCPU)
	fmt.Printf("  raw bleve:  %7.0f docs/s  the same documents and mapping, one index, plain batches of %d, on the first %d messages of the same set; %.0f per CPU-second\n",
		rep.rawRate, index.DefaultBatchSize, o.rawN, rawPerCPU)
	fmt.Printf("  ratio:      %7.0f%%        of raw bleve          target >= %.0f%%   %s   (per CPU-second: %.0f%%)\n",
		100*ratio, 100*targetRawRatio, verdict(ratio >= targetRawRatio), 100*perCPU/rawPerCPU)
	rep.printMachine()
	fmt.Printf("  index size: %7.0f bytes/msg  (%.2f GB on disk once merges settled, after %v; raw bleve: %d bytes/doc)\n",
		float64(rep.indexBytes)/float64(b.records), float64(rep.indexBytes)/1e9, rep.settled.Round(time.Second), rep.rawBytes)
	fmt.Print("  RSS:       ")
	for _, p := range rep.rss {
		fmt.Printf(" %s %.2f GiB;", p.phase, float64(p.rss)/(1<<30))
	}
	fmt.Printf(" peak (VmHWM) %.2f GiB\n", float64(rep.rss[len(rep.rss)-1].hwm)/(1<<30))
	rep.printQueries()
	worst := slices.Max(rep.fresh)
	fmt.Printf("  fresh segment (%d messages into the newest month): catalog entry -> searchable p50 %.0f ms, max %.0f ms over %d\n",
		o.fresh, ms(quantile(rep.fresh, 0.5)), ms(worst), len(rep.fresh))
	fmt.Printf("  ack -> searchable <= segment.max_age (%v) + seal, PUT, verify and catalog commit (see bench ingest) + %.0f ms;\n",
		time.Duration(config.Default().Segment.MaxAge), ms(worst))
	fmt.Printf("    target <= max_age + %v: the index's share is %.0f ms   %s (index side only; the upload side is not measured here)\n",
		targetFresh, ms(worst), verdict(worst <= targetFresh))
}

// printMachine says how busy the machine was: on a shared one, the figures
// only mean something if other processes left the CPUs alone.
func (rep *searchReport) printMachine() {
	warning := ""
	if max(rep.raw.others, rep.indexing.others, rep.query.others) > 0.10 {
		warning = ": BUSY, rates and latencies are understated; rerun on an idle machine (the per-CPU ratio is the fairer one meanwhile)"
	}
	if rep.reused {
		fmt.Printf("  machine:    %d CPUs; other processes used %.0f%% of them during the queries%s\n",
			runtime.NumCPU(), 100*rep.query.others, warning)
		return
	}
	fmt.Printf("  machine:    %d CPUs; other processes used %.0f%% / %.0f%% / %.0f%% of them during raw bleve / indexing / queries%s\n",
		runtime.NumCPU(), 100*rep.raw.others, 100*rep.indexing.others, 100*rep.query.others, warning)
}

// printQueries writes the latency of each kind of query.
func (rep *searchReport) printQueries() {
	scale := ""
	if rep.build.records < 1_000_000 {
		scale = " (the target is for 1,000,000 messages)"
	}
	fmt.Printf("  queries:    as the API runs them (newest first, %d hits, highlights), after a warm-up; target p99 <= %v%s\n", index.DefaultSize, targetP99, scale)
	fmt.Printf("              (a total is at least, total_relation gte, past %d matches or %v into the search; hits are exact)\n",
		index.TotalCountLimit, index.TotalCountTime)
	for _, k := range rep.kinds {
		totals := slices.Sorted(slices.Values(k.totals))
		zero := 0
		for _, t := range totals {
			if t == 0 {
				zero++
			}
		}
		p99 := quantile(k.took, 0.99)
		fmt.Printf("    %-24s p50 %7.2f ms  p99 %7.2f ms  %s   %d queries, median total %d hits, %d with none, %d totals at least; e.g. %s\n",
			k.name, ms(quantile(k.took, 0.5)), ms(p99), verdict(p99 <= targetP99), len(k.took), totals[len(totals)/2], zero,
			k.atLeast, strings.Join(k.examples, " | "))
		slow := make([]string, len(k.slowest))
		for i, s := range k.slowest {
			slow[i] = fmt.Sprintf("%.1f ms %s", ms(s.took), s.what)
		}
		fmt.Printf("    %-24s slowest: %s\n", "", strings.Join(slow, " | "))
	}
	if rep.deepWalks > 0 {
		fmt.Printf("    (deep cursor: %d walks from different To bounds, page %d of each timed %d times, pages 1-%d untimed)\n",
			rep.deepWalks, deepPage, rep.deepRepeat, deepPage-1)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
