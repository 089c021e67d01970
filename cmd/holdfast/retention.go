package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/cluster"
)

// holdView is a hold as the API answers it.
type holdView struct {
	archive.Hold
	Covering []cluster.HoldSegment `json:"covering"`
}

// runHold is `holdfast hold create|list|show|release`.
func runHold(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("hold: create, list, show or release: %w", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("hold "+sub, flag.ContinueOnError)
	newClient := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print the JSON answer")
	var (
		matter, reason, custodians, conversations, query, from, to, tenants *string
	)
	if sub == "create" {
		matter = fs.String("matter", "", "the matter the hold is for (required)")
		reason = fs.String("reason", "", "why (required)")
		custodians = fs.String("custodians", "", "participant ids, comma-separated")
		conversations = fs.String("conversations", "", "conversation ids, comma-separated")
		query = fs.String("query", "", "a search query the held messages match")
		from = fs.String("from", "", "sent at or after (2026-01-31 or RFC 3339)")
		to = fs.String("to", "", "sent before (a day includes the whole day)")
		tenants = fs.String("tenants", "", "tenants, comma-separated")
	}
	if sub == "release" {
		reason = fs.String("reason", "", "why the hold is released")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("hold %s: %w", sub, errUsage)
	}
	c := newClient()
	switch sub {
	case "create":
		body := map[string]any{"matter": *matter, "reason": *reason, "custodians": splitList(*custodians),
			"conversations": splitList(*conversations), "query": *query, "from": *from, "to": *to, "tenants": splitList(*tenants)}
		var h holdView
		if err := c.postJSON(ctx, "/v1/holds", body, &h); err != nil {
			return fmt.Errorf("hold create: %w", err)
		}
		return printHolds(*asJSON, h)
	case "list":
		var ans struct {
			Holds []holdView `json:"holds"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/holds", "", nil, &ans); err != nil {
			return fmt.Errorf("hold list: %w", err)
		}
		return printHolds(*asJSON, ans.Holds...)
	case "show", "release":
		if len(pos) != 1 {
			return fmt.Errorf("hold %s ID: %w", sub, errUsage)
		}
		id := pos[0]
		var h holdView
		var err error
		if sub == "show" {
			err = c.do(ctx, http.MethodGet, "/v1/holds/"+id, "", nil, &h)
		} else {
			err = c.postJSON(ctx, "/v1/holds/"+id+"/release", map[string]string{"reason": *reason}, &h)
		}
		if err != nil {
			return fmt.Errorf("hold %s: %w", sub, err)
		}
		if err := printHolds(*asJSON, h); err != nil || *asJSON || sub != "show" {
			return err
		}
		for _, s := range h.Covering {
			fmt.Printf("  %s  %d messages\n", s.Key, s.Messages)
		}
		return nil
	}
	return fmt.Errorf("hold %q: want create, list, show or release: %w", sub, errUsage)
}

func printHolds(asJSON bool, holds ...holdView) error {
	if asJSON {
		return printJSON(holds)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMATTER\tSTATE\tSEGMENTS\tMESSAGES\tCREATED\tCRITERIA")
	for _, h := range holds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s by %s\t%s\n", h.ID, h.Matter, h.State, h.Segments, h.Messages,
			h.CreatedAt.Format(time.DateTime), h.CreatedBy, criteriaText(h))
	}
	return tw.Flush()
}

func criteriaText(h holdView) string {
	var parts []string
	c := h.Criteria
	if len(c.Custodians) > 0 {
		parts = append(parts, "custodians="+strings.Join(c.Custodians, ","))
	}
	if len(c.Conversations) > 0 {
		parts = append(parts, "conversations="+strings.Join(c.Conversations, ","))
	}
	if c.Query != "" {
		parts = append(parts, fmt.Sprintf("query=%q", c.Query))
	}
	if !c.From.IsZero() {
		parts = append(parts, "from="+c.From.Format(time.RFC3339))
	}
	if !c.To.IsZero() {
		parts = append(parts, "to="+c.To.Format(time.RFC3339))
	}
	return strings.Join(parts, " ")
}

// runSweep is `holdfast sweep run|list|show`.
func runSweep(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("sweep: run, list or show: %w", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("sweep "+sub, flag.ContinueOnError)
	newClient := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print the JSON answer")
	dryRun := fs.Bool("dry-run", false, "report what would be deleted, delete nothing (run)")
	wait := fs.Bool("wait", true, "wait for the sweep to finish and print its report (run)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("sweep %s: %w", sub, errUsage)
	}
	c := newClient()
	switch sub {
	case "run":
		var s cluster.Sweep
		if err := c.postJSON(ctx, "/v1/sweeps", map[string]bool{"dry_run": *dryRun}, &s); err != nil {
			return fmt.Errorf("sweep run: %w", err)
		}
		for *wait && s.State == cluster.SweepRunning {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
			if err := c.do(ctx, http.MethodGet, "/v1/sweeps/"+s.ID, "", nil, &s); err != nil {
				return fmt.Errorf("sweep run: %w", err)
			}
		}
		return printSweeps(*asJSON, s)
	case "list":
		var ans struct {
			Sweeps []cluster.Sweep `json:"sweeps"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/sweeps", "", nil, &ans); err != nil {
			return fmt.Errorf("sweep list: %w", err)
		}
		return printSweeps(*asJSON, ans.Sweeps...)
	case "show":
		if len(pos) != 1 {
			return fmt.Errorf("sweep show ID: %w", errUsage)
		}
		var s cluster.Sweep
		if err := c.do(ctx, http.MethodGet, "/v1/sweeps/"+pos[0], "", nil, &s); err != nil {
			return fmt.Errorf("sweep show: %w", err)
		}
		if err := printSweeps(*asJSON, s); err != nil || *asJSON {
			return err
		}
		for _, e := range s.Errors {
			fmt.Println("  error:", e)
		}
		return nil
	}
	return fmt.Errorf("sweep %q: want run, list or show: %w", sub, errUsage)
}

func printSweeps(asJSON bool, sweeps ...cluster.Sweep) error {
	if asJSON {
		return printJSON(sweeps)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tDRY\tEXAMINED\tDELETED (MSGS, BYTES)\tHELD\tREFUSED\tFAILED\tSTARTED\tPROTECTED")
	for _, s := range sweeps {
		del := s.Deleted
		if s.DryRun {
			del = s.WouldDelete
		}
		state := s.State
		if s.Error != "" {
			state += ": " + s.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d (%d, %d)\t%d\t%d\t%d\t%s\t%d\n", s.ID, state, s.DryRun, s.Examined.Segments,
			del.Segments, del.Messages, del.Bytes, s.SkippedHeld.Segments, s.Refused.Segments, s.Failed.Segments, s.StartedAt.Format(time.DateTime),
			s.Protected.Segments)
	}
	return tw.Flush()
}

// parseInterleaved parses flags that may come before or after the
// positional arguments ("hold show ID -token T") and returns the latter.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// postJSON posts v as JSON.
func (c *client) postJSON(ctx context.Context, path string, v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, "application/json", bytes.NewReader(b), out)
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
