package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/holdfast/holdfast/index"
)

// runReindex rebuilds this node's index from the bucket alone — no catalog,
// no spool — proving that storage is the source of truth. The daemon must be
// stopped: the new index is built beside the old one and swapped in only
// when complete, so an interrupted rebuild leaves the old index in place.
func runReindex(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	path := fs.String("config", "", "the node's config file (none: the embedded single node in ./holdfast-data)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("reindex: %w", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if err := ensureStopped(cfg.Node.DataDir); err != nil {
		return err
	}
	log, err := newLogger(cfg.Log)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	target := cfg.IndexDir()
	tmp := target + ".rebuild"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("clear %s: %w", tmp, err)
	}
	bar := newProgress(os.Stderr, "segments", *quiet)
	start := time.Now()
	info, err := index.RebuildReport(ctx, tmp, store, log.WithField("component", "reindex"), bar.update)
	if err != nil {
		return fmt.Errorf("rebuild index: %w", err)
	}
	bar.done()
	for _, s := range info.Skipped {
		fmt.Fprintf(os.Stderr, "left out, corrupt in storage: %s: %s\n", s.Key, s.Reason)
	}
	if n := len(info.Skipped); n > 0 {
		fmt.Fprintf(os.Stderr, "%d segments left out: once the node runs, its indexer quarantines them (holdfast repair lists them)\n", n)
	}
	old := fmt.Sprintf("%s.old-%s", target, time.Now().UTC().Format("20060102T150405"))
	if _, err := os.Stat(target); err == nil {
		if err := os.Rename(target, old); err != nil {
			return fmt.Errorf("move the old index aside: %w", err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("install the rebuilt index: %w", err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("remove the old index %s: %w", old, err)
	}
	fmt.Fprintf(os.Stderr, "index rebuilt from storage in %s: %s\n", time.Since(start).Round(time.Millisecond), target)
	return nil
}

// ensureStopped refuses to work on a data dir a running daemon holds: its
// spool keeps an exclusive lock on spool/LOCK.
func ensureStopped(dataDir string) error {
	f, err := os.OpenFile(filepath.Join(dataDir, "spool", "LOCK"), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check that holdfast is stopped: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("holdfast is running on %s: stop it before rebuilding its index", dataDir)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// progress draws a one-line progress bar on a terminal (or a line per 10%
// elsewhere).
type progress struct {
	w     *os.File
	unit  string
	quiet bool
	start time.Time
	last  int
}

func newProgress(w *os.File, unit string, quiet bool) *progress {
	return &progress{w: w, unit: unit, quiet: quiet, start: time.Now(), last: -1}
}

func (p *progress) update(done, total int) {
	if p.quiet || total == 0 {
		return
	}
	pct := done * 100 / total
	if pct == p.last {
		return
	}
	p.last = pct
	const width = 30
	fill := pct * width / 100
	rate := float64(done) / time.Since(p.start).Seconds()
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r[%s%s] %3d%%  %d/%d %s  %.0f/s  ETA %s ", strings.Repeat("#", fill), strings.Repeat(" ", width-fill),
		pct, done, total, p.unit, rate, eta)
}

func (p *progress) done() {
	if !p.quiet && p.last >= 0 {
		fmt.Fprintln(p.w)
	}
}
