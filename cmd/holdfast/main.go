// Command holdfast is the compliance archiving gateway: `holdfast serve` runs
// the daemon; the other subcommands are clients of a running daemon's HTTP
// API, or tools (bench) that run one themselves.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage marks a command-line mistake: exit code 2.
var errUsage = errors.New("usage")

const usage = `holdfast — compliance archiving gateway

Usage:
  holdfast serve [-config FILE]       run the daemon (no config: single node, ./holdfast-data, 127.0.0.1:8080)
  holdfast ingest [FILE...]           send NDJSON messages from files (or stdin) to a daemon
  holdfast get ID                     show every archived version of a message
  holdfast import FORMAT PATH...      back-fill exports: slack (zip or dir), teams, wecom, zoom (JSON), eml (file or dir), mbox
                                      resumable (run it again), idempotent, with a progress bar and a summary
  holdfast search [flags] QUERY       search the archive (words, "phrases", field:value, -exclude, date ranges)
  holdfast reindex [-config FILE]     rebuild this node's index from storage alone (daemon stopped)
  holdfast repair [-all] [SEGMENT...] list quarantined segments (corrupt in storage, indexed past); with
                                      keys or -all, have every node's indexer read them again (admin)
  holdfast hold create -matter M -reason R [-custodians IDS] [-conversations IDS] [-query Q] [-from D] [-to D]
  holdfast hold list | show ID | release [-reason R] ID
                                      legal holds: S3 legal hold on every segment with a matching message
  holdfast sweep run [-dry-run] | list | show ID
                                      retention sweeps and their reports
  holdfast bench ingest [flags]       measure ingest against MinIO, next to one PUT per message
  holdfast audit verify [-config FILE] [-json]
                                      check every node's audit hash chain from the bucket alone; names each gap and break
  holdfast version                    print the version

Client commands take -server URL and -token T, or HOLDFAST_SERVER and HOLDFAST_TOKEN.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "holdfast:", err)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "holdfast:", err)
		os.Exit(1)
	}
}

// run dispatches a subcommand.
func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("no command given: %w", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest)
	case "ingest":
		return runIngest(ctx, rest)
	case "get":
		return runGet(ctx, rest)
	case "search":
		return runSearch(ctx, rest)
	case "reindex":
		return runReindex(ctx, rest)
	case "repair":
		return runRepair(ctx, rest)
	case "import":
		return runImport(ctx, rest)
	case "hold":
		return runHold(ctx, rest)
	case "sweep":
		return runSweep(ctx, rest)
	case "bench":
		return runBench(ctx, rest)
	case "audit":
		return runAudit(ctx, rest)
	case "version", "-version", "--version":
		fmt.Println("holdfast", version)
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q: %w", cmd, errUsage)
}
