package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startProfile starts a CPU profile into path, if set; the function it
// returns stops it.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// settle waits until background merging is done (the process uses under
// 5% of a CPU for a second), at most max; it returns how long it waited.
func settle(ctx context.Context, max time.Duration) time.Duration {
	start := time.Now()
	prev := cpuTime()
	for time.Since(start) < max && ctx.Err() == nil {
		time.Sleep(time.Second)
		cur := cpuTime()
		if cur-prev < 50*time.Millisecond {
			break
		}
		prev = cur
	}
	return time.Since(start)
}

// meter measures a phase of the benchmark: on a shared machine, its
// figures only mean something if other processes left the CPUs alone.
type meter struct {
	start       time.Time
	self        time.Duration
	busy, total uint64 // the machine's, in clock ticks
}

// phaseUsage is what a meter measured: the phase's wall time, this process's
// CPU time, and the share of the machine's CPU time that other processes
// used meanwhile.
type phaseUsage struct {
	wall, cpu time.Duration
	others    float64
}

func startMeter() meter {
	busy, total := machineTicks()
	return meter{start: time.Now(), self: cpuTime(), busy: busy, total: total}
}

func (m meter) stop() phaseUsage {
	busy, total := machineTicks()
	u := phaseUsage{wall: time.Since(m.start), cpu: cpuTime() - m.self}
	if total > m.total {
		share := float64(busy-m.busy) / float64(total-m.total)
		self := u.cpu.Seconds() / (u.wall.Seconds() * float64(runtime.NumCPU()))
		u.others = max(0, share-self)
	}
	return u
}

// machineTicks reads the busy and total CPU time of the machine from the
// first line of /proc/stat; zeros where there is none.
func machineTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	// user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already counted in user.
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		if i < 8 {
			total += v
		}
		if i < 8 && i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// diskUsage is what du reports for dir: allocated blocks, in bytes.
func diskUsage(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file merged away while walking
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

// rssPoint is the process's memory at one phase.
type rssPoint struct {
	phase    string
	rss, hwm int64 // VmRSS and VmHWM, bytes
}

// rssNow reads VmRSS and VmHWM from /proc/self/status.
func rssNow(phase string) rssPoint {
	p := rssPoint{phase: phase, rss: -1, hwm: -1}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return p
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			p.rss = kb << 10
		} else if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			p.hwm = kb << 10
		}
	}
	return p
}
