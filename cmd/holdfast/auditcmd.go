package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/audit"
)

// runAudit dispatches `holdfast audit SUBCOMMAND`.
func runAudit(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("audit: the subcommand is verify: %w", errUsage)
	}
	return runAuditVerify(ctx, args[1:], os.Stdout)
}

// runAuditVerify checks every node's audit hash chain from the bucket
// alone — the storage settings of the config file, no daemon, no catalog —
// and names every gap and break. It fails (exit 1) when it finds any.
func runAuditVerify(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	path := fs.String("config", "", "a node's config file, for its storage settings (none: the embedded fs store in ./holdfast-data)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("audit verify: %w", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
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
	codec, err := archive.NewCodec()
	if err != nil {
		return err
	}
	defer codec.Close()
	rep, err := audit.Verify(ctx, store, codec)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printAuditReport(out, rep)
	}
	if !rep.OK() {
		return fmt.Errorf("%d problem(s) found: %w", len(rep.Problems), audit.ErrProblems)
	}
	return nil
}

func printAuditReport(out io.Writer, rep *audit.Report) {
	fmt.Fprintf(out, "audit trail: %d segments, %d records\n", rep.Segments, rep.Records)
	for _, c := range rep.Chains {
		fmt.Fprintf(out, "node %s chain %s: seq %d..%d, %d records", c.Node, c.Chain, c.First, c.Last, c.Records)
		if c.Copies > 0 {
			fmt.Fprintf(out, " (%d stored twice, identical)", c.Copies)
		}
		fmt.Fprintln(out)
	}
	if rep.Unchained > 0 {
		fmt.Fprintf(out, "%d records from before the hash chain (not chained)\n", rep.Unchained)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(out, "note:", n)
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(out, "PROBLEM", p)
	}
	if rep.OK() {
		fmt.Fprintln(out, "ok: every chain is complete and unbroken")
	}
}
