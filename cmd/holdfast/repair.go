package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"text/tabwriter"
	"time"
)

// quarantinedView is one quarantine record as GET /v1/cluster shows it.
type quarantinedView struct {
	Segment string    `json:"segment"`
	Seq     uint64    `json:"seq"`
	Node    string    `json:"node"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// runRepair is `holdfast repair [-all] [SEGMENT...]`: with no argument it
// lists the quarantined segments; with segment keys (or -all) it clears
// their quarantine so that every node's indexer reads them again, once
// the objects are restored or the binary that could not read them is
// fixed. A segment still corrupt is quarantined again.
func runRepair(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("repair", flag.ContinueOnError)
	newClient := clientFlags(fs)
	all := fs.Bool("all", false, "repair every quarantined segment")
	asJSON := fs.Bool("json", false, "print the JSON answer")
	keys, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("repair: %w", errUsage)
	}
	c := newClient()
	if len(keys) == 0 && !*all {
		var ans struct {
			Quarantined []quarantinedView `json:"quarantined"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/cluster", "", nil, &ans); err != nil {
			return fmt.Errorf("repair: list quarantined segments: %w", err)
		}
		if *asJSON {
			return printJSON(ans.Quarantined)
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEGMENT\tSEQ\tNODE\tAT\tREASON")
		for _, q := range ans.Quarantined {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", q.Segment, q.Seq, q.Node, q.At.Format(time.DateTime), q.Reason)
		}
		return tw.Flush()
	}
	if *all && len(keys) > 0 {
		return fmt.Errorf("repair: -all or segment keys, not both: %w", errUsage)
	}
	bodies := []map[string]any{{"all": true}}
	if !*all {
		bodies = bodies[:0]
		for _, k := range keys {
			bodies = append(bodies, map[string]any{"segment": k})
		}
	}
	var repaired []string
	for _, b := range bodies {
		var ans struct {
			Repaired []string `json:"repaired"`
		}
		if err := c.postJSON(ctx, "/v1/cluster/repair", b, &ans); err != nil {
			return fmt.Errorf("repair: %w", err)
		}
		repaired = append(repaired, ans.Repaired...)
	}
	if *asJSON {
		return printJSON(map[string]any{"repaired": repaired})
	}
	for _, k := range repaired {
		fmt.Println("sent back to every indexer:", k)
	}
	fmt.Printf("%d segments repaired; `holdfast repair` lists any that are quarantined again\n", len(repaired))
	return nil
}
