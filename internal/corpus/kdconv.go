package corpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// kdDialogue is one element of a KdConv file; the knowledge triples
// ("attrs") each turn is grounded on are not messages and are not read.
type kdDialogue struct {
	Name     string `json:"name"`
	Messages []struct {
		Message string `json:"message"`
	} `json:"messages"`
}

func streamKdConv(dir string, fn func(Message) error) error {
	paths, err := files(dir, KdConv, filepath.Join("*", "*.json"))
	if err != nil {
		return err
	}
	seq := 0 // messages sent so far: the synthetic clock
	for _, p := range paths {
		domain := filepath.Base(filepath.Dir(p))
		split := strings.TrimSuffix(filepath.Base(p), ".json")
		if err := streamKdConvFile(p, domain+"-"+split, &seq, fn); err != nil {
			return err
		}
	}
	return nil
}

// streamKdConvFile decodes one file's dialogues one at a time. key is
// "<domain>-<split>" ("film-dev"): dialogue numbers restart in every file.
func streamKdConvFile(path, key string, seq *int, fn func(Message) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("kdconv: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("kdconv: %s: %w", path, err)
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("kdconv: %s: want a JSON array of dialogues, found %v", path, tok)
	}
	for d := 0; dec.More(); d++ {
		var dl kdDialogue
		if err := dec.Decode(&dl); err != nil {
			return fmt.Errorf("kdconv: %s: dialogue %d: %w", path, d, err)
		}
		conv := "kd-" + key + "-" + strconv.Itoa(d)
		name := strings.TrimSpace(dl.Name)
		if name == "" {
			name = conv
		}
		var turns []string
		for _, m := range dl.Messages {
			turns = append(turns, m.Message)
		}
		err := sendDialogue(turns, dialogue{
			source:   "kdconv:" + key + ":" + strconv.Itoa(d),
			conv:     Conversation{ID: conv, Kind: kindDirect, Name: name},
			platform: "generic",
		}, seq, fn)
		if err != nil {
			return err
		}
	}
	return nil
}

// dialogue is what sendDialogue needs to know about a two-person
// conversation besides its turns.
type dialogue struct {
	platform string
	source   string // SourceID prefix; the turn number follows
	conv     Conversation
}

// sendDialogue sends the non-blank turns of a conversation between two
// synthetic speakers, "<conversation>-a" and "<conversation>-b", who
// alternate turn by turn (a blank turn still counts, so the speakers stay
// those of the data). Each message is addressed to the other speaker and
// sent one minute after the one before it, counting from syntheticBase with
// the stream-wide *seq.
func sendDialogue(turns []string, d dialogue, seq *int, fn func(Message) error) error {
	a := Participant{ID: d.conv.ID + "-a", Name: d.conv.ID + "-a"}
	b := Participant{ID: d.conv.ID + "-b", Name: d.conv.ID + "-b"}
	for i, t := range turns {
		text, ok := cleanText(t)
		if !ok {
			continue
		}
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		err := fn(Message{
			Platform:     d.platform,
			SourceID:     d.source + ":" + strconv.Itoa(i),
			Conversation: d.conv,
			From:         from,
			To:           []Participant{to},
			SentAt:       syntheticBase.Add(time.Duration(*seq) * time.Minute),
			Type:         "text",
			Text:         text,
		})
		if err != nil {
			return err
		}
		*seq++
	}
	return nil
}
