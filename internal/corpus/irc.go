package corpus

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ircChannel is the one channel the IRC logs record.
var ircChannel = Conversation{ID: "#ubuntu", Kind: kindChannel, Name: "#ubuntu"}

// ircContextLines is how many lines of context precede the annotated part
// of a dev or test log; the annotated part starts at the hour its file name
// carries ("2005-06-27_12": 12:00).
const ircContextLines = 1000

// ircLine is one "[hh:mm] <nick> text" line.
type ircLine struct {
	clock int // minutes since 00:00 as written, 0..1439
	nick  string
	text  string
}

// parseIRCLine parses a message line; ok is false for anything else: join
// and part notices ("=== ..."), "/me" actions ("[hh:mm]  * nick ..."),
// notices ("[hh:mm] -nick:#ubuntu- ..."). hasClock reports whether the line
// starts with a "[hh:mm]" time, message or not.
func parseIRCLine(line string) (l ircLine, hasClock, ok bool) {
	if len(line) < 8 || line[0] != '[' || line[3] != ':' || line[6] != ']' || line[7] != ' ' {
		return l, false, false
	}
	h, m := twoDigits(line[1:3]), twoDigits(line[4:6])
	if h < 0 || h > 23 || m < 0 || m > 59 {
		return l, false, false
	}
	l.clock = h*60 + m
	rest := line[8:]
	if !strings.HasPrefix(rest, "<") {
		return l, true, false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 || !strings.HasPrefix(rest[end+1:], " ") {
		return l, true, false
	}
	// Nicks hold no spaces; the logs have one after some ']' ("<[ANF] x>",
	// "<g[r] eek>") from their tokenisation, so spaces are dropped.
	l.nick = strings.ReplaceAll(rest[1:end], " ", "")
	l.text = rest[end+2:]
	return l, true, l.nick != ""
}

// twoDigits parses "00".."99", or returns -1.
func twoDigits(s string) int {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return -1
	}
	return int(s[0]-'0')*10 + int(s[1]-'0')
}

// ircFiles returns the raw logs sorted by file name, which starts with the
// day, so that the stream runs in time order. Only the ".raw.txt" variant
// is read, never the annotations, and one file per day: were a day in two
// splits, the two excerpts would overlap, so only the first name is kept
// (the data as shipped has 173 files for 173 days).
func ircFiles(dir string) ([]string, error) {
	paths, err := files(dir, IRC, filepath.Join("*", "*.raw.txt"))
	if err != nil {
		return nil, err
	}
	sort.SliceStable(paths, func(i, j int) bool { return filepath.Base(paths[i]) < filepath.Base(paths[j]) })
	out, seen := paths[:0], map[string]bool{}
	for _, p := range paths {
		day := filepath.Base(p)[:min(10, len(filepath.Base(p)))]
		if !seen[day] {
			seen[day] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func streamIRC(dir string, fn func(Message) error) error {
	paths, err := ircFiles(dir)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := streamIRCFile(p, fn); err != nil {
			return err
		}
	}
	return nil
}

// streamIRCFile sends one log's messages. Lines that are not valid UTF-8 are
// repaired (see cleanText), not skipped; the logs as shipped have none, but
// control bytes such as ^H and mIRC colour codes are kept as sent.
func streamIRCFile(path string, fn func(Message) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("irc: %w", err)
	}
	key := strings.TrimSuffix(filepath.Base(path), ".raw.txt")
	day, hour, err := ircDay(key)
	if err != nil {
		return fmt.Errorf("irc: %s: %w", path, err)
	}
	lines := strings.Split(string(bytes.TrimRight(data, "\n")), "\n")
	times := ircTimes(lines, day, hour)
	for i, raw := range lines {
		l, _, ok := parseIRCLine(strings.TrimSuffix(raw, "\r"))
		if !ok {
			continue
		}
		text, ok := cleanText(l.text)
		if !ok {
			continue
		}
		nick, _ := cleanText(l.nick)
		err := fn(Message{
			Platform:     string(IRC),
			SourceID:     "irc:" + key + ":" + strconv.Itoa(i+1),
			Conversation: ircChannel,
			From:         Participant{ID: nick, Name: nick},
			SentAt:       times[i],
			Type:         "text",
			Text:         text,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ircDay reads the day from a log's name ("2005-06-27_12" or
// "2004-12-25.train-c") and the hour its annotated part starts, or -1 when
// the name carries none.
func ircDay(key string) (time.Time, int, error) {
	if len(key) < 10 {
		return time.Time{}, 0, fmt.Errorf("file name %q does not start with a day", key)
	}
	day, err := time.Parse(time.DateOnly, key[:10])
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("file name %q does not start with a day: %w", key, err)
	}
	hour := -1
	if len(key) > 11 && key[10] == '_' {
		if h, err := strconv.Atoi(key[11:]); err == nil && h >= 0 && h < 24 {
			hour = h
		}
	}
	return day, hour, nil
}

// ircTimes gives every line of a log a time. Clocks are chained from line
// to line: a clock that goes back by more than half the clock's period is
// a wrap (midnight, or 12:59 -> 01:00 in the 12-hour logs some early days
// use, recognised by never showing an hour past 12) and moves a period on;
// a smaller step back keeps the previous time, and the next step counts
// from it. The chain starts at
// the day's first clock, then is shifted so that the first line of the
// annotated part falls at the hour the file name gives, which puts the
// context lines of a log that starts after midnight on the day before.
// Lines without a clock get the time of the line before them.
func ircTimes(lines []string, day time.Time, hour int) []time.Time {
	clocks := make([]int, len(lines))
	period := 720
	for i, raw := range lines {
		clocks[i] = -1
		if l, has, _ := parseIRCLine(raw); has {
			clocks[i] = l.clock
			if l.clock >= 13*60 {
				period = 1440
			}
		}
	}
	rel := make([]int, len(lines))
	cur, prev := -1, -1
	for i, c := range clocks {
		switch {
		case c < 0:
		case prev < 0:
			cur, prev = c, c
		default:
			d := c - prev
			if d < -period/2 {
				d += period
			}
			if d >= 0 {
				cur, prev = cur+d, c
			}
		}
		rel[i] = max(cur, 0)
	}
	shift := 0
	if hour >= 0 {
		for i := ircContextLines; i < len(clocks); i++ {
			if clocks[i] >= 0 {
				if clocks[i]/60%12 == hour%12 {
					shift = hour*60 + clocks[i]%60 - rel[i]
				}
				break
			}
		}
	}
	out := make([]time.Time, len(lines))
	for i, r := range rel {
		out[i] = day.Add(time.Duration(r+shift) * time.Minute)
	}
	return out
}
