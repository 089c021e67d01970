package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/holdfast/holdfast/journal"
)

// importReader reads one export format, calling fn for every item in a
// deterministic order.
type importReader func(path, tenant string, lim journal.Limits, now time.Time, fn func(journal.Item) error) error

// fromReader adapts a reader-based importer to a path.
func fromReader(read func(io.Reader, string, journal.Limits, time.Time, func(journal.Item) error) error) importReader {
	return func(path, tenant string, lim journal.Limits, now time.Time, fn func(journal.Item) error) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return read(f, tenant, lim, now, fn)
	}
}

// importFormats are the formats `holdfast import` reads.
var importFormats = map[string]importReader{
	"slack": journal.ReadSlackExport,
	"teams": fromReader(journal.ReadTeams),
	"wecom": fromReader(journal.ReadWeCom),
	"zoom":  fromReader(journal.ReadZoomHistory),
	"mbox":  fromReader(journal.ReadMbox),
	"eml":   journal.ReadEMLPath,
}

// importState is what an interrupted import resumes from: how many items of
// the path were sent and acknowledged.
type importState struct {
	Format string `json:"format"`
	Path   string `json:"path"`
	Done   int    `json:"done"`
}

// importer sends the items of one path in batches and reports progress.
type importer struct {
	c        *client
	batch    int
	state    importState
	statePth string
	total    int
	totalB   int64
	sent     int
	sentB    int64
	accepted int
	dups     int
	rejected []string
	start    time.Time
	buf      bytes.Buffer
	n        int
	out      io.Writer
	last     time.Time
}

// runImport is `holdfast import FORMAT PATH...`.
func runImport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	newClient := clientFlags(fs)
	tenant := fs.String("tenant", "", "tenant to archive under (default: the server's default tenant)")
	batch := fs.Int("batch", 200, "messages per request")
	restart := fs.Bool("restart", false, "ignore the saved progress and start from the first item")
	maxField := fs.Int64("max-field-bytes", 1<<20, "largest field a message may have (the server's http.max_field_bytes)")
	if err := fs.Parse(args); err != nil || fs.NArg() < 2 {
		return fmt.Errorf("import FORMAT PATH... (FORMAT: slack, teams, wecom, zoom, eml, mbox): %w", errUsage)
	}
	format := fs.Arg(0)
	read, ok := importFormats[format]
	if !ok {
		return fmt.Errorf("import: unknown format %q (slack, teams, wecom, zoom, eml, mbox): %w", format, errUsage)
	}
	lim := journal.Limits{MaxFieldBytes: *maxField}
	for _, path := range fs.Args()[1:] {
		im := &importer{c: newClient(), batch: *batch, out: os.Stderr}
		if err := im.run(ctx, read, format, path, *tenant, lim, *restart); err != nil {
			return err
		}
	}
	return nil
}

func (im *importer) run(ctx context.Context, read importReader, format, path, tenant string, lim journal.Limits, restart bool) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	im.statePth = statePath(format, abs)
	im.state = importState{Format: format, Path: abs}
	if !restart {
		if b, err := os.ReadFile(im.statePth); err == nil {
			_ = json.Unmarshal(b, &im.state)
		}
	}
	now := time.Now()
	// A first pass counts the items, for the ETA.
	if err := read(abs, tenant, lim, now, func(it journal.Item) error {
		im.total++
		im.totalB += it.Bytes
		return ctx.Err()
	}); err != nil {
		return fmt.Errorf("import %s %s: %w", format, path, err)
	}
	if im.state.Done > 0 {
		fmt.Fprintf(im.out, "resuming %s after %d of %d items already sent\n", path, im.state.Done, im.total)
	}
	im.start = time.Now()
	i := 0
	err = read(abs, tenant, lim, now, func(it journal.Item) error {
		i++
		if i <= im.state.Done {
			return nil
		}
		return im.add(ctx, it)
	})
	if err == nil {
		err = im.flush(ctx)
	}
	im.progress(true)
	fmt.Fprintln(im.out)
	if err != nil {
		return fmt.Errorf("import %s %s: stopped after %d items (run the same command again to resume): %w", format, path, im.state.Done, err)
	}
	fmt.Printf("%s: %d items: %d accepted (%d already archived), %d rejected\n", path, im.total, im.accepted, im.dups, len(im.rejected))
	for _, r := range im.rejected {
		fmt.Println("  rejected", r)
	}
	_ = os.Remove(im.statePth)
	return nil
}

// add queues one item; a rejected item is reported, not sent.
func (im *importer) add(ctx context.Context, it journal.Item) error {
	im.sent++
	im.sentB += it.Bytes
	if it.Err != nil {
		im.rejected = append(im.rejected, it.Where+": "+it.Err.Error())
		im.n++ // counted in Done with its batch
		return nil
	}
	line, err := journal.EncodeInput(&it.Record)
	if err != nil {
		im.rejected = append(im.rejected, it.Where+": "+err.Error())
		im.n++
		return nil
	}
	im.buf.Write(line)
	im.buf.WriteByte('\n')
	if im.n++; im.n >= im.batch {
		return im.flush(ctx)
	}
	im.progress(false)
	return nil
}

// flush sends the queued items and records them as done.
func (im *importer) flush(ctx context.Context) error {
	if im.n == 0 {
		return nil
	}
	if im.buf.Len() > 0 {
		var out struct {
			Accepted []struct {
				Duplicate bool `json:"duplicate"`
			} `json:"accepted"`
		}
		err := im.c.do(ctx, http.MethodPost, "/v1/messages", "application/x-ndjson", bytes.NewReader(im.buf.Bytes()), &out)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			// One bad record refuses its whole batch: send them one by
			// one so that the others go in and the bad one is named.
			return im.oneByOne(ctx)
		}
		if err != nil {
			return err
		}
		for _, a := range out.Accepted {
			im.accepted++
			if a.Duplicate {
				im.dups++
			}
		}
	}
	return im.done()
}

func (im *importer) oneByOne(ctx context.Context) error {
	for _, line := range bytes.Split(bytes.TrimSpace(im.buf.Bytes()), []byte("\n")) {
		var out struct {
			Accepted []struct {
				Duplicate bool `json:"duplicate"`
			} `json:"accepted"`
		}
		err := im.c.do(ctx, http.MethodPost, "/v1/messages", "application/x-ndjson", bytes.NewReader(line), &out)
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			im.rejected = append(im.rejected, fmt.Sprintf("%.80s: %v", line, err))
		case err != nil:
			return err
		default:
			im.accepted++
			if len(out.Accepted) > 0 && out.Accepted[0].Duplicate {
				im.dups++
			}
		}
	}
	return im.done()
}

// done records the sent batch in the state file.
func (im *importer) done() error {
	im.state.Done += im.n
	im.n = 0
	im.buf.Reset()
	im.progress(false)
	b, _ := json.Marshal(im.state)
	if err := os.MkdirAll(filepath.Dir(im.statePth), 0o700); err != nil {
		return err
	}
	return os.WriteFile(im.statePth, b, 0o600)
}

// progress draws the progress line: messages, MB, rate, ETA.
func (im *importer) progress(force bool) {
	if !force && time.Since(im.last) < 200*time.Millisecond {
		return
	}
	im.last = time.Now()
	el := time.Since(im.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(im.sent) / el
	}
	eta := "-"
	if rate > 0 {
		eta = (time.Duration(float64(im.total-im.state.Done-im.n) / rate * float64(time.Second))).Round(time.Second).String()
	}
	pct := 100.0
	if im.total > 0 {
		pct = 100 * float64(im.state.Done+im.n) / float64(im.total)
	}
	fmt.Fprintf(im.out, "\r%5.1f%%  %d/%d messages  %.1f/%.1f MB  %.0f msgs/s  ETA %s  (%d rejected)   ",
		pct, im.state.Done+im.n, im.total, float64(im.sentB)/1e6, float64(im.totalB)/1e6, rate, eta, len(im.rejected))
}

// statePath is where the progress of importing path as format is kept.
func statePath(format, abs string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	sum := sha256.Sum256([]byte(format + "\x00" + abs))
	return filepath.Join(dir, "holdfast", "import-"+strings.ToLower(format)+"-"+hex.EncodeToString(sum[:8])+".json")
}
