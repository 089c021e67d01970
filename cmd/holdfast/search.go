package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// searchHit is the part of a hit the table shows.
type searchHit struct {
	ID           string    `json:"id"`
	Version      int       `json:"version"`
	Action       string    `json:"action"`
	Platform     string    `json:"platform"`
	SentAt       time.Time `json:"sent_at"`
	Text         string    `json:"text"`
	Conversation struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"conversation"`
	From struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"from"`
}

// runSearch runs GET /v1/search and prints a readable table (or the JSON
// answer with -json).
func runSearch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	newClient := clientFlags(fs)
	var (
		platform     = fs.String("platform", "", "only these platforms (comma-separated)")
		participant  = fs.String("participant", "", "only messages from or to these participant ids")
		sender       = fs.String("sender", "", "only messages from these participant ids")
		conversation = fs.String("conversation", "", "only these conversation ids")
		from         = fs.String("from", "", "sent at or after (2026-01-31 or RFC 3339)")
		to           = fs.String("to", "", "sent before (a day includes the whole day)")
		all          = fs.Bool("versions", false, "every version, not only the latest")
		sort         = fs.String("sort", "time", "time (newest first) or relevance")
		size         = fs.Int("size", 50, "hits per page (at most 1000)")
		pages        = fs.Int("pages", 1, "pages to fetch, following the cursor (0: all)")
		asJSON       = fs.Bool("json", false, "print the JSON answers")
	)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("search: %w", errUsage)
	}
	q := url.Values{}
	q.Set("q", strings.Join(fs.Args(), " "))
	for k, v := range map[string]string{"platform": *platform, "participant": *participant, "sender": *sender,
		"conversation": *conversation, "from": *from, "to": *to, "sort": *sort} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *all {
		q.Set("versions", "all")
	}
	q.Set("size", strconv.Itoa(*size))
	c := newClient()
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(w, "SENT (UTC)\tPLATFORM\tCONVERSATION\tFROM\tV\tTEXT")
	}
	var shown uint64
	for page := 0; *pages == 0 || page < *pages; page++ {
		var raw json.RawMessage
		if err := c.do(ctx, http.MethodGet, "/v1/search?"+q.Encode(), "", nil, &raw); err != nil {
			return err
		}
		var ans struct {
			Total    uint64      `json:"total"`
			Relation string      `json:"total_relation"`
			Hits     []searchHit `json:"hits"`
			Cursor   string      `json:"cursor"`
		}
		if err := json.Unmarshal(raw, &ans); err != nil {
			return fmt.Errorf("decode search answer: %w", err)
		}
		if *asJSON {
			fmt.Println(string(raw))
		} else {
			for _, h := range ans.Hits {
				v := strconv.Itoa(h.Version)
				if h.Action != "send" {
					v += " " + h.Action
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", h.SentAt.UTC().Format("2006-01-02 15:04:05"), h.Platform,
					clip(first(h.Conversation.Name, h.Conversation.ID), 24), clip(first(h.From.Name, h.From.ID), 20), v, clip(oneLine(h.Text), 70))
			}
		}
		shown += uint64(len(ans.Hits))
		if ans.Cursor == "" {
			if !*asJSON {
				w.Flush()
				fmt.Printf("\n%d of %s hits\n", shown, totalText(ans.Total, ans.Relation))
			}
			return nil
		}
		q.Set("cursor", ans.Cursor)
		if !*asJSON && (*pages != 0 && page+1 == *pages) {
			w.Flush()
			fmt.Printf("\n%d of %s hits (more: -pages 0, or -size)\n", shown, totalText(ans.Total, ans.Relation))
		}
	}
	return w.Flush()
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// clip shortens s to n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// totalText shows a total that may be a lower bound ("at least 10000").
func totalText(n uint64, relation string) string {
	if relation == "gte" {
		return fmt.Sprintf("at least %d", n)
	}
	return strconv.FormatUint(n, 10)
}
