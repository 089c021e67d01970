package corpus

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// mustDir returns the data directory or skips the test.
func mustDir(t testing.TB) string {
	t.Helper()
	dir, err := Dir()
	if err != nil {
		t.Skipf("skipping: no conversation data (set $%s or provide ../shared/data): %v", EnvDir, err)
	}
	return dir
}

// loaded caches each source's full load: several tests read all of it.
var loaded = map[Source]func() ([]Message, error){}

func init() {
	for _, s := range Sources() {
		loaded[s] = sync.OnceValues(func() ([]Message, error) {
			dir, err := Dir()
			if err != nil {
				return nil, err
			}
			return Load(dir, s, 0)
		})
	}
}

// mustLoadAll returns every message of s, loaded once per test binary.
func mustLoadAll(t testing.TB, s Source) []Message {
	t.Helper()
	mustDir(t)
	ms, err := loaded[s]()
	if err != nil {
		t.Fatalf("load %s: %v", s, err)
	}
	return ms
}

func TestLoadEachSource(t *testing.T) {
	mustDir(t)
	year := func(y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		src      Source
		platform string
		kind     string
		from, to time.Time // SentAt range, [from, to)
	}{
		{IRC, "irc", "channel", year(2004), year(2019)},
		{Slack, "slack", "channel", year(2014), year(2020)},
		{KdConv, "generic", "direct", year(2025), year(2025).AddDate(0, 1, 0)},
		{LCCC, "weibo", "direct", year(2025), year(2025).AddDate(0, 1, 0)},
	}
	for _, tt := range tests {
		t.Run(string(tt.src), func(t *testing.T) {
			t.Parallel()
			ms := mustLoadAll(t, tt.src)
			if len(ms) == 0 {
				t.Fatalf("no messages")
			}
			seen := make(map[string]bool, len(ms))
			for _, m := range ms {
				if m.Platform != tt.platform || m.Type != "text" || m.Conversation.Kind != tt.kind {
					t.Fatalf("%s: platform %q type %q kind %q", m.SourceID, m.Platform, m.Type, m.Conversation.Kind)
				}
				if !strings.HasPrefix(m.SourceID, string(tt.src)+":") || seen[m.SourceID] {
					t.Fatalf("source_id %q: not prefixed or seen before", m.SourceID)
				}
				seen[m.SourceID] = true
				if m.Conversation.ID == "" || m.From.ID == "" {
					t.Fatalf("%s: empty conversation or sender", m.SourceID)
				}
				if strings.TrimSpace(m.Text) == "" || !utf8.ValidString(m.Text) {
					t.Fatalf("%s: blank or invalid text %q", m.SourceID, m.Text)
				}
				if m.SentAt.Before(tt.from) || !m.SentAt.Before(tt.to) || m.SentAt.Location() != time.UTC {
					t.Fatalf("%s: sent_at %v outside [%v, %v) or not UTC", m.SourceID, m.SentAt, tt.from, tt.to)
				}
				if tt.kind == "direct" && (len(m.To) != 1 || m.To[0].ID == m.From.ID) {
					t.Fatalf("%s: direct message to %v from %v", m.SourceID, m.To, m.From)
				}
			}
			t.Logf("%s: %d messages", tt.src, len(ms))
		})
	}
}

func TestLoadIsDeterministic(t *testing.T) {
	dir := mustDir(t)
	for _, s := range Sources() {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			again, err := Load(dir, s, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(mustLoadAll(t, s), again) {
				t.Fatalf("two loads differ")
			}
			first, err := Load(dir, s, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(first, again[:10]) {
				t.Fatalf("Load(10) is not the first 10 of Load(0)")
			}
		})
	}
}

func TestStreamStopsOnCallbackError(t *testing.T) {
	dir := mustDir(t)
	stop := errors.New("stop")
	n := 0
	err := Stream(dir, Slack, func(Message) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Stream = %v after %d messages, want stop after 1", err, n)
	}
}

// ircChatLine is a line a user would call an IRC message.
var ircChatLine = regexp.MustCompile(`^\[\d\d:\d\d\] <[^>]+> \s*\S`)

// TestIRCMessagesAreChatLines checks every IRC message against the line it
// came from: a "[hh:mm] <nick> text" line, never a join/part notice, and
// that every such line became a message.
func TestIRCMessagesAreChatLines(t *testing.T) {
	dir := mustDir(t)
	paths, err := filepath.Glob(filepath.Join(dir, "irc-ubuntu", "*", "*.raw.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string][]string{}
	want := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ls := strings.Split(string(b), "\n")
		lines[strings.TrimSuffix(filepath.Base(p), ".raw.txt")] = ls
		for _, l := range ls {
			if ircChatLine.MatchString(l) {
				want++
			}
		}
	}
	ms := mustLoadAll(t, IRC)
	for _, m := range ms {
		rest := strings.TrimPrefix(m.SourceID, "irc:")
		i := strings.LastIndexByte(rest, ':')
		var n int
		for _, c := range rest[i+1:] {
			n = n*10 + int(c-'0')
		}
		l := lines[rest[:i]][n-1]
		if strings.HasPrefix(l, "===") || !ircChatLine.MatchString(l) || !strings.HasSuffix(l, m.Text) {
			t.Fatalf("%s comes from %q, not a chat line with text %q", m.SourceID, l, m.Text)
		}
	}
	if len(ms) != want {
		t.Fatalf("%d IRC messages, want one per chat line: %d", len(ms), want)
	}
}

func TestIRCKnownLines(t *testing.T) {
	ms := mustLoadAll(t, IRC)
	byID := make(map[string]Message, len(ms))
	for _, m := range ms {
		byID[m.SourceID] = m
	}
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		id, from string
		at       time.Time
	}{
		{"irc:2005-06-27_12:1", "cthulfuego", utc("2005-06-27T09:19:00Z")},
		// Logs that start before midnight: context on the day before.
		{"irc:2011-11-13_02:1", "", utc("2011-11-12T21:29:00Z")},
		{"irc:2011-11-13_02:1001", "", utc("2011-11-13T02:00:00Z")},
		// 12-hour clock: "[02:00]" in the log named for 14:00.
		{"irc:2005-07-06_14:1001", "", utc("2005-07-06T14:00:00Z")},
		// "[12:18]" before "[01:00]" is 00:18 on a 12-hour clock.
		{"irc:2004-11-15_03:1", "", utc("2004-11-15T00:18:00Z")},
	}
	for _, tt := range tests {
		m, ok := byID[tt.id]
		if !ok {
			t.Errorf("%s: missing", tt.id)
			continue
		}
		if !m.SentAt.Equal(tt.at) || (tt.from != "" && m.From.ID != tt.from) {
			t.Errorf("%s: from %q at %v, want %q at %v", tt.id, m.From.ID, m.SentAt, tt.from, tt.at)
		}
	}
	if m, ok := byID["irc:2005-06-27_12:2"]; ok {
		t.Errorf("join notice on line 2 became a message: %+v", m)
	}
	for i := 1; i < len(ms); i++ {
		a, b := ms[i-1], ms[i]
		if sameFile(a.SourceID, b.SourceID) && b.SentAt.Before(a.SentAt) {
			t.Fatalf("%s at %v after %s at %v: time goes back within a log", b.SourceID, b.SentAt, a.SourceID, a.SentAt)
		}
	}
}

func sameFile(a, b string) bool {
	return a[:strings.LastIndexByte(a, ':')] == b[:strings.LastIndexByte(b, ':')]
}

// cjkGap is a space between two Chinese characters; cjkPair is two
// Chinese characters side by side.
var (
	cjkGap  = regexp.MustCompile(`\p{Han}\s+\p{Han}`)
	cjkPair = regexp.MustCompile(`\p{Han}\p{Han}`)
)

func TestLCCCHasNoSpaceBetweenChineseCharacters(t *testing.T) {
	ms := mustLoadAll(t, LCCC)
	cjk := 0
	for _, m := range ms {
		if cjkGap.MatchString(m.Text) {
			t.Fatalf("%s: %q keeps a space between Chinese characters", m.SourceID, m.Text)
		}
		if cjkPair.MatchString(m.Text) {
			cjk++
		}
	}
	if cjk < len(ms)/2 {
		t.Fatalf("only %d of %d messages hold two adjacent Chinese characters", cjk, len(ms))
	}
}

func TestMixedSampleHasUniqueSourceIDs(t *testing.T) {
	dir := mustDir(t)
	const n = 50000
	ms, err := Mixed(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != n {
		t.Fatalf("Mixed returned %d messages, want %d", len(ms), n)
	}
	platforms := []string{"irc", "slack", "generic", "weibo"}
	seen := make(map[string]bool, n)
	for i, m := range ms {
		if seen[m.SourceID] {
			t.Fatalf("message %d: source_id %q repeats", i, m.SourceID)
		}
		seen[m.SourceID] = true
		if m.Platform != platforms[i%4] {
			t.Fatalf("message %d is %s, want %s: sources not round-robin", i, m.Platform, platforms[i%4])
		}
	}
}

func TestMixedCyclesWithUniqueIDs(t *testing.T) {
	dir := mustDir(t)
	kd := mustLoadAll(t, KdConv)
	n := 4*len(kd) + 40 // KdConv, the smallest source, starts again 10 times
	ms, err := Mixed(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool, n)
	for _, m := range ms {
		if seen[m.SourceID] {
			t.Fatalf("source_id %q repeats", m.SourceID)
		}
		seen[m.SourceID] = true
	}
	again := ms[4*len(kd)+2] // KdConv's first message, second time round
	if again.SourceID != kd[0].SourceID+"#2" || !again.SentAt.Equal(kd[0].SentAt.AddDate(-1, 0, 0)) || again.Text != kd[0].Text {
		t.Fatalf("repeat is %s at %v, want %s#2 a year before %v", again.SourceID, again.SentAt, kd[0].SourceID, kd[0].SentAt)
	}
}
