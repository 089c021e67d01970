package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// client talks to a running daemon's HTTP API.
type client struct {
	base  string
	token string
	http  *http.Client
}

// clientFlags registers -server and -token on fs, defaulting to
// HOLDFAST_SERVER and HOLDFAST_TOKEN.
func clientFlags(fs *flag.FlagSet) func() *client {
	server := fs.String("server", envOr("HOLDFAST_SERVER", "http://127.0.0.1:8080"), "daemon URL (HOLDFAST_SERVER)")
	token := fs.String("token", os.Getenv("HOLDFAST_TOKEN"), "bearer token (HOLDFAST_TOKEN)")
	return func() *client {
		base := strings.TrimRight(*server, "/")
		if !strings.Contains(base, "://") {
			base = "http://" + base
		}
		return &client{base: base, token: *token, http: &http.Client{Timeout: 5 * time.Minute}}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// apiError is the daemon's error answer.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
	Line    int    `json:"line"`
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	if e.Line > 0 {
		s += fmt.Sprintf(" (line %d)", e.Line)
	}
	return s
}

// do sends a request and decodes a 2xx JSON answer into out (when not nil).
func (c *client) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return &apiError{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// runIngest sends NDJSON files (or stdin) to POST /v1/messages in batches.
func runIngest(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	newClient := clientFlags(fs)
	batch := fs.Int("batch", 500, "messages per request")
	stored := fs.Bool("stored", false, "wait until the messages are in WORM storage (ack=stored)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("ingest: %w", errUsage)
	}
	c := newClient()
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	path := "/v1/messages"
	if *stored {
		path += "?ack=stored"
	}
	var accepted, dups int
	for _, name := range files {
		f := os.Stdin
		if name != "-" {
			var err error
			if f, err = os.Open(name); err != nil {
				return err
			}
		}
		a, d, err := ingestNDJSON(ctx, c, path, f, *batch)
		if name != "-" {
			f.Close()
		}
		accepted, dups = accepted+a, dups+d
		if err != nil {
			return fmt.Errorf("%s: %w (accepted so far: %d)", name, err, accepted)
		}
	}
	fmt.Printf("accepted %d message versions (%d already archived)\n", accepted, dups)
	return nil
}

func ingestNDJSON(ctx context.Context, c *client, path string, r io.Reader, batch int) (accepted, dups int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var buf bytes.Buffer
	n := 0
	send := func() error {
		if n == 0 {
			return nil
		}
		var out struct {
			Accepted []struct {
				Duplicate bool `json:"duplicate"`
			} `json:"accepted"`
		}
		if err := c.do(ctx, http.MethodPost, path, "application/x-ndjson", bytes.NewReader(buf.Bytes()), &out); err != nil {
			return err
		}
		for _, a := range out.Accepted {
			accepted++
			if a.Duplicate {
				dups++
			}
		}
		buf.Reset()
		n = 0
		return nil
	}
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		buf.Write(sc.Bytes())
		buf.WriteByte('\n')
		if n++; n >= batch {
			if err := send(); err != nil {
				return accepted, dups, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return accepted, dups, err
	}
	return accepted, dups, send()
}

// runGet prints every archived version of a message as JSON.
func runGet(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	newClient := clientFlags(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return fmt.Errorf("get ID: %w", errUsage)
	}
	var out json.RawMessage
	if err := newClient().do(ctx, http.MethodGet, "/v1/messages/"+fs.Arg(0), "", nil, &out); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "  "); err != nil {
		return err
	}
	fmt.Println(pretty.String())
	return nil
}
