package corpus

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// slackTimeLayout is the <ts> format: ISO-8601 without a zone, which is
// UTC (Slack timestamps are Unix times).
const slackTimeLayout = "2006-01-02T15:04:05.999999999"

// slackMessage is one <message> element. A few carry more than one <text>
// (the first empty); the non-empty ones are joined by newlines.
type slackMessage struct {
	ConversationID string   `xml:"conversation_id,attr"`
	TS             string   `xml:"ts"`
	User           string   `xml:"user"`
	Text           []string `xml:"text"`
}

func streamSlack(dir string, fn func(Message) error) error {
	paths, err := files(dir, Slack, filepath.Join("*", "*", "*.xml"))
	if err != nil {
		return err
	}
	root := filepath.Join(dir, "slack-disentangled")
	for _, p := range paths {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return fmt.Errorf("slack: %w", err)
		}
		if err := streamSlackFile(p, filepath.ToSlash(strings.TrimSuffix(rel, ".xml")), fn); err != nil {
			return err
		}
	}
	return nil
}

// streamSlackFile sends one export's messages. key is the file's path
// without ".xml" ("racket/2017/merged-racket-general"): conversation ids
// restart at 1 in every file, so they are scoped by it. The community is
// the file's <team_domain>, or its first folder when it has none.
func streamSlackFile(path, key string, fn func(Message) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	defer f.Close()
	team, _, _ := strings.Cut(key, "/")
	dec := xml.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	n := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("slack: %s: %w", path, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "team_domain":
			var s string
			if err := dec.DecodeElement(&s, &se); err != nil {
				return fmt.Errorf("slack: %s: %w", path, err)
			}
			if s = strings.TrimSpace(s); s != "" {
				team = s
			}
		case "message":
			var sm slackMessage
			if err := dec.DecodeElement(&sm, &se); err != nil {
				return fmt.Errorf("slack: %s: %w", path, err)
			}
			n++
			m, ok, err := slackToMessage(sm, key, team, n)
			if err != nil {
				return fmt.Errorf("slack: %s: %w", path, err)
			}
			if !ok {
				continue
			}
			if err := fn(m); err != nil {
				return err
			}
		}
	}
}

// slackToMessage converts the n-th (1-based) message of a file; ok is false
// when it has no text or no user.
func slackToMessage(sm slackMessage, key, team string, n int) (Message, bool, error) {
	var parts []string
	for _, t := range sm.Text {
		if strings.TrimSpace(t) != "" {
			parts = append(parts, t)
		}
	}
	text, ok := cleanText(strings.Join(parts, "\n"))
	user := strings.TrimSpace(sm.User)
	if !ok || user == "" {
		return Message{}, false, nil
	}
	ts, err := time.Parse(slackTimeLayout, strings.TrimSpace(sm.TS))
	if err != nil {
		return Message{}, false, fmt.Errorf("message %d: ts: %w", n, err)
	}
	return Message{
		Platform: string(Slack),
		SourceID: "slack:" + key + ":" + strconv.Itoa(n),
		Conversation: Conversation{
			ID:   key + "#" + strings.TrimSpace(sm.ConversationID),
			Kind: kindChannel,
			Name: team,
		},
		From:   Participant{ID: user, Name: user},
		SentAt: ts.UTC(),
		Type:   "text",
		Text:   text,
	}, true, nil
}
