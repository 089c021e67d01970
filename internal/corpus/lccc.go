package corpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// lcccPlatform is the platform LCCC conversations were collected from.
const lcccPlatform = "weibo"

// streamLCCC reads the toy LCCC set: toy_train.txt and toy_valid.txt (one
// conversation per line, turns separated by tabs) and toy_data.json
// ({"train"|"valid"|"test": [[turn, ...], ...]}), whose conversations
// appear in neither text file. Files are read in name order.
func streamLCCC(dir string, fn func(Message) error) error {
	paths, err := files(dir, LCCC, "*")
	if err != nil {
		return err
	}
	seq, read := 0, 0
	for _, p := range paths {
		key := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		switch filepath.Ext(p) {
		case ".txt":
			err = streamLCCCText(p, key, &seq, fn)
		case ".json":
			err = streamLCCCJSON(p, key, &seq, fn)
		default:
			continue
		}
		if err != nil {
			return err
		}
		read++
	}
	if read == 0 {
		return fmt.Errorf("%s: no *.txt or *.json in %s: %w", LCCC, filepath.Join(dir, "lccc-toy"), ErrNoData)
	}
	return nil
}

// streamLCCCText sends one conversation per line; conversations are
// numbered by line, from 1.
func streamLCCCText(path, key string, seq *int, fn func(Message) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("lccc: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if err := sendLCCC(strings.Split(sc.Text(), "\t"), key, n, seq, fn); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("lccc: %s: %w", path, err)
	}
	return nil
}

// streamLCCCJSON sends the conversations of each split of a JSON file,
// splits in name order, conversations numbered from 1 within a split.
func streamLCCCJSON(path, key string, seq *int, fn func(Message) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("lccc: %w", err)
	}
	var splits map[string][][]string
	if err := json.Unmarshal(data, &splits); err != nil {
		return fmt.Errorf("lccc: %s: %w", path, err)
	}
	names := make([]string, 0, len(splits))
	for name := range splits {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for i, turns := range splits[name] {
			if err := sendLCCC(turns, key+"-"+name, i+1, seq, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendLCCC sends the n-th conversation of the part named key.
func sendLCCC(turns []string, key string, n int, seq *int, fn func(Message) error) error {
	for i, t := range turns {
		turns[i] = joinChars(t)
	}
	conv := "lccc-" + key + "-" + strconv.Itoa(n)
	return sendDialogue(turns, dialogue{
		platform: lcccPlatform,
		source:   "lccc:" + key + ":" + strconv.Itoa(n),
		conv:     Conversation{ID: conv, Kind: kindDirect, Name: conv},
	}, seq, fn)
}

// joinChars undoes LCCC's tokenisation, which puts a space between every
// two characters ("为 什 么", but also "2 0 1 8" and "c a l l"). The
// original spaces between words are lost in it, so a space is kept only
// between two ASCII tokens that are both longer than one character (a
// word-segmented "hello world" stays as it is); every other space goes.
// Removing only the spaces next to a non-ASCII character would leave
// "2 0 1 8年" and "c a l l", which no search for "2018" or "call" finds;
// in this data every token is a single character and runs of ASCII ones
// are single words or numbers, so joining them is the faithful reading.
func joinChars(s string) string {
	toks := strings.Fields(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, t := range toks {
		if i > 0 && isASCIIWord(toks[i-1]) && isASCIIWord(t) {
			b.WriteByte(' ')
		}
		b.WriteString(t)
	}
	return b.String()
}

// isASCIIWord reports whether t is ASCII and longer than one byte.
func isASCIIWord(t string) bool {
	if len(t) < 2 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] >= 0x80 {
			return false
		}
	}
	return true
}
