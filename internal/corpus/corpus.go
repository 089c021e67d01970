package corpus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by this package, tested with errors.Is.
var (
	// ErrNoData means the data directory, or a source's folder in it, is
	// missing or empty. Tests skip on it.
	ErrNoData = errors.New("corpus: conversation data not found")
	// ErrUnknownSource means a Source is not one of IRC, Slack, KdConv, LCCC.
	ErrUnknownSource = errors.New("corpus: unknown source")
)

// EnvDir is the environment variable that names the data directory,
// overriding the search done by Dir.
const EnvDir = "HOLDFAST_DATA"

// Message is one record in the shape POST /v1/messages accepts.
type Message struct {
	// Platform is "irc", "slack", "generic" (KdConv) or "weibo" (LCCC).
	Platform string `json:"platform"`
	// Tenant is left empty: the gateway applies its default.
	Tenant string `json:"tenant,omitempty"`
	// SourceID is deterministic and unique across every source, e.g.
	// "irc:2005-06-27_12:17" (file and 1-based line number).
	SourceID string `json:"source_id"`
	// Action is left empty: every record is a send.
	Action       string        `json:"action,omitempty"`
	Conversation Conversation  `json:"conversation"`
	From         Participant   `json:"from"`
	To           []Participant `json:"to,omitempty"`
	// SentAt is the real time where the data has one (IRC, Slack) and a
	// synthetic one otherwise (see the package comment); always UTC.
	SentAt time.Time `json:"sent_at"`
	// Type is always "text".
	Type string `json:"type"`
	// Text is valid UTF-8 and never blank.
	Text string `json:"text"`
}

// Conversation is where a message was exchanged.
type Conversation struct {
	ID string `json:"id"`
	// Kind is "channel", "group" or "direct".
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Participant is a sender or recipient.
type Participant struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Source names one of the data sets.
type Source string

// The data sets this package reads.
const (
	IRC    Source = "irc"
	Slack  Source = "slack"
	KdConv Source = "kdconv"
	LCCC   Source = "lccc"
)

// Conversation kinds used by the sources.
const (
	kindChannel = "channel"
	kindDirect  = "direct"
)

// syntheticBase is the SentAt of the first KdConv and LCCC message; each
// following message is one minute later.
var syntheticBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Sources returns the four sources in the order Mixed interleaves them.
func Sources() []Source { return []Source{IRC, Slack, KdConv, LCCC} }

// folder returns the source's folder inside the data directory.
func (s Source) folder() (string, error) {
	switch s {
	case IRC:
		return "irc-ubuntu", nil
	case Slack:
		return "slack-disentangled", nil
	case KdConv:
		return "kdconv", nil
	case LCCC:
		return "lccc-toy", nil
	}
	return "", fmt.Errorf("%q: %w", string(s), ErrUnknownSource)
}

// Dir locates the data directory: $HOLDFAST_DATA when set, otherwise the
// first of "<a>/../shared/data" and "<a>/shared/data" that holds data, for
// each ancestor a of the working directory, nearest first. The error wraps
// ErrNoData when there is none.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		if !hasData(d) {
			return "", fmt.Errorf("$%s=%s holds none of irc-ubuntu, slack-disentangled, kdconv, lccc-toy: %w", EnvDir, d, ErrNoData)
		}
		return filepath.Abs(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find data directory: %w", err)
	}
	for a := wd; ; a = filepath.Dir(a) {
		for _, c := range []string{filepath.Join(a, "..", "shared", "data"), filepath.Join(a, "shared", "data")} {
			if hasData(c) {
				return c, nil
			}
		}
		if filepath.Dir(a) == a {
			break
		}
	}
	return "", fmt.Errorf("no shared/data or ../shared/data above %s and $%s unset: %w", wd, EnvDir, ErrNoData)
}

// hasData reports whether dir holds at least one source's folder.
func hasData(dir string) bool {
	for _, s := range Sources() {
		f, _ := s.folder()
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// files returns the source's files matching pattern (relative to its
// folder), sorted by path; no match is ErrNoData.
func files(dir string, s Source, pattern string) ([]string, error) {
	f, err := s.folder()
	if err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(dir, f, pattern))
	if err != nil {
		return nil, fmt.Errorf("%s: glob %s: %w", s, pattern, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no %s under %s: %w", s, pattern, filepath.Join(dir, f), ErrNoData)
	}
	return paths, nil
}

// Stream calls fn with every message of src in the data directory dir, in a
// deterministic order, holding at most one file's worth of data at a time.
// An error from fn stops the stream and is returned as it is.
func Stream(dir string, src Source, fn func(Message) error) error {
	switch src {
	case IRC:
		return streamIRC(dir, fn)
	case Slack:
		return streamSlack(dir, fn)
	case KdConv:
		return streamKdConv(dir, fn)
	case LCCC:
		return streamLCCC(dir, fn)
	}
	return fmt.Errorf("%q: %w", string(src), ErrUnknownSource)
}

// errEnough stops a Stream once Load has its limit.
var errEnough = errors.New("corpus: enough messages")

// Load returns the first limit messages of src in Stream order, or all of
// them when limit <= 0.
func Load(dir string, src Source, limit int) ([]Message, error) {
	// Collect in fixed-size chunks and copy once at the end: growing one
	// slice of a quarter-million 200-byte structs by doubling costs several
	// times the parse itself.
	const chunk = 8192
	var chunks [][]Message
	total := 0
	err := Stream(dir, src, func(m Message) error {
		if len(chunks) == 0 || len(chunks[len(chunks)-1]) == chunk {
			chunks = append(chunks, make([]Message, 0, chunk))
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], m)
		total++
		if limit > 0 && total >= limit {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	out := make([]Message, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, nil
}

// Mixed returns n messages taking one from each source in turn (IRC, Slack,
// KdConv, LCCC, IRC, ...), so English and Chinese stay interleaved at one
// in four each throughout. A source that runs out starts again from its
// first message: the k-th repeat (k = 2, 3, ...) appends "#k" to SourceID
// and moves SentAt k-1 years earlier, so every SourceID stays unique and no
// time lands in the future, where the gateway would refuse it.
func Mixed(dir string, n int) ([]Message, error) {
	if n <= 0 {
		return nil, nil
	}
	srcs := Sources()
	per := (n + len(srcs) - 1) / len(srcs)
	pools := make([][]Message, len(srcs))
	for i, s := range srcs {
		ms, err := Load(dir, s, per)
		if err != nil {
			return nil, fmt.Errorf("mixed: %w", err)
		}
		if len(ms) == 0 {
			return nil, fmt.Errorf("mixed: %s has no messages: %w", s, ErrNoData)
		}
		pools[i] = ms
	}
	out := make([]Message, n)
	for i := range out {
		pool := pools[i%len(srcs)]
		j := i / len(srcs)
		m := pool[j%len(pool)]
		if cycle := j / len(pool); cycle > 0 {
			m.SourceID += "#" + strconv.Itoa(cycle+1)
			m.SentAt = m.SentAt.AddDate(-cycle, 0, 0)
		}
		out[i] = m
	}
	return out, nil
}

// cleanText makes s valid UTF-8, replacing each invalid byte sequence with
// U+FFFD (the message is kept, its bad bytes visibly marked), and reports
// whether anything but white space is left.
func cleanText(s string) (string, bool) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s, strings.TrimSpace(s) != ""
}
