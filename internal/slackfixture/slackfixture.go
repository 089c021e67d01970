// Package slackfixture builds a real Slack workspace export from the
// disentangled public Slack communities kept outside the repository
// (../shared/data/slack-disentangled, read with internal/corpus), for
// tests of holdfast's Slack importer and of `holdfast import slack`.
//
// The export is one workspace, team TeamID, laid out as Slack lays out an
// export: users.json, channels.json, and one <channel>/<YYYY-MM-DD>.json
// array of messages per channel and UTC day. Each data file is one
// channel, named after the file without its "merged-" prefix
// ("clojurians-clojure", "elmlang-general"; racket's three yearly files
// are one channel, "racket-general"). Every distinct user name is one
// user, "U" and eight digits in name order (the same name in two
// communities is the same user); channels are "C" and eight digits in
// name order; a channel's members are the users who wrote in it. Each
// message is {"type":"message","user":..,"text":..,"ts":..,"team":..}
// with the data's text as is: Slack markup (<@Fred>, <https://...>,
// &lt; &gt; &amp;).
//
// Build is deterministic: the same data gives the same files and the same
// Stats, whose Messages say what a reader of the export must find.
package slackfixture

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/holdfast/holdfast/internal/corpus"
)

// TeamID is the team id of the built workspace and of all its users.
const TeamID = "T0HOLDFAST"

// ErrNoData is corpus.ErrNoData: the data is not there (tests skip).
var ErrNoData = corpus.ErrNoData

// Message is one message of the built export, as a reader must find it.
type Message struct {
	// Channel is the channel's name, its folder ("elmlang-general").
	Channel string
	// ChannelID is the channel's id ("C00000002").
	ChannelID string
	// User is the sender's user id ("U00000042"); UserName the name in
	// the data, users.json's real and display name ("Fred").
	User     string
	UserName string
	// Text is the message text as written, Slack markup included.
	// holdfast archives it rendered (&lt; &gt; &amp; decoded, <@Fred> as
	// @Fred, <url|label> as "label (url)"): take query words from its
	// plain words.
	Text string
	// TS is the message's Slack ts ("1546231961.387200"), unique in its
	// channel.
	TS string
	// File is the day file, relative to the export ("elmlang-general/
	// 2018-12-31.json"), and Index the message's 1-based position in it:
	// File + "#" + Index is the Where of the importer's Item.
	File  string
	Index int
}

// Stats is what Build wrote.
type Stats struct {
	Channels int
	Users    int
	// Files counts the day files.
	Files int
	// Messages are every message, in the order of the export: channels
	// by name, days in order, messages in ts order.
	Messages []Message
}

// Build writes the export of the data in src into dir (created if need
// be). src is the data directory (corpus.Dir's answer, ../shared/data) or
// its slack-disentangled folder. An error wraps ErrNoData when the data is
// absent.
func Build(dir string, src string) (Stats, error) {
	if filepath.Base(filepath.Clean(src)) == "slack-disentangled" {
		src = filepath.Dir(filepath.Clean(src))
	}
	b := builder{channels: map[string][]Message{}, users: map[string]string{}}
	if err := corpus.Stream(src, corpus.Slack, b.add); err != nil {
		return Stats{}, fmt.Errorf("slackfixture: read %s: %w", src, err)
	}
	b.assignIDs()
	if err := b.write(dir); err != nil {
		return Stats{}, fmt.Errorf("slackfixture: write %s: %w", dir, err)
	}
	return b.stats, nil
}

// builder collects the data's messages by channel, then writes them.
type builder struct {
	channels map[string][]Message
	// users maps a user name to its id once assignIDs has run.
	users map[string]string
	stats Stats
}

func (b *builder) add(m corpus.Message) error {
	key, _, _ := strings.Cut(m.Conversation.ID, "#")
	ch := channelName(key, m.Conversation.Name)
	sec, usec := m.SentAt.Unix(), m.SentAt.Nanosecond()/1000
	b.channels[ch] = append(b.channels[ch], Message{
		Channel: ch, UserName: m.From.ID, Text: m.Text,
		TS:   fmt.Sprintf("%d.%06d", sec, usec),
		File: ch + "/" + m.SentAt.UTC().Format("2006-01-02") + ".json",
	})
	b.users[m.From.ID] = ""
	return nil
}

// channelName is a data file's channel: "racket/2017/merged-racket-general"
// is "racket-general".
func channelName(key, team string) string {
	base := filepath.Base(key)
	if name, ok := strings.CutPrefix(base, "merged-"); ok {
		return name
	}
	return team + "-" + base
}

// assignIDs numbers users and channels in name order and fills the
// messages' ids and indexes.
func (b *builder) assignIDs() {
	for i, name := range slices.Sorted(maps.Keys(b.users)) {
		b.users[name] = fmt.Sprintf("U%08d", i+1)
	}
	for i, ch := range slices.Sorted(maps.Keys(b.channels)) {
		msgs := b.channels[ch]
		for j := range msgs {
			msgs[j].ChannelID = fmt.Sprintf("C%08d", i+1)
			msgs[j].User = b.users[msgs[j].UserName]
			msgs[j].Index = 1
			if j > 0 && msgs[j-1].File == msgs[j].File {
				msgs[j].Index = msgs[j-1].Index + 1
			}
		}
		b.stats.Messages = append(b.stats.Messages, msgs...)
	}
	b.stats.Channels, b.stats.Users = len(b.channels), len(b.users)
}

// Slack's export objects, with the fields holdfast reads and a few more
// so that they look like Slack's.
type (
	exportUser struct {
		ID       string  `json:"id"`
		TeamID   string  `json:"team_id"`
		Name     string  `json:"name"`
		Deleted  bool    `json:"deleted"`
		RealName string  `json:"real_name"`
		Profile  profile `json:"profile"`
		IsBot    bool    `json:"is_bot"`
	}
	profile struct {
		RealName    string `json:"real_name"`
		DisplayName string `json:"display_name"`
		Team        string `json:"team"`
	}
	exportChannel struct {
		ID         string   `json:"id"`
		Name       string   `json:"name"`
		Created    int64    `json:"created"`
		Creator    string   `json:"creator"`
		IsArchived bool     `json:"is_archived"`
		IsGeneral  bool     `json:"is_general"`
		Members    []string `json:"members"`
		Topic      topic    `json:"topic"`
		Purpose    topic    `json:"purpose"`
	}
	topic struct {
		Value   string `json:"value"`
		Creator string `json:"creator"`
		LastSet int64  `json:"last_set"`
	}
	exportMessage struct {
		Type string `json:"type"`
		User string `json:"user"`
		Text string `json:"text"`
		TS   string `json:"ts"`
		Team string `json:"team"`
	}
)

func (b *builder) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "users.json"), b.exportUsers()); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "channels.json"), b.exportChannels()); err != nil {
		return err
	}
	return b.writeDays(dir)
}

func (b *builder) exportUsers() []exportUser {
	users := make([]exportUser, 0, len(b.users))
	for _, name := range slices.Sorted(maps.Keys(b.users)) {
		users = append(users, exportUser{
			ID: b.users[name], TeamID: TeamID, Name: strings.ToLower(name), RealName: name,
			Profile: profile{RealName: name, DisplayName: name, Team: TeamID},
		})
	}
	return users
}

func (b *builder) exportChannels() []exportChannel {
	var chans []exportChannel
	for _, ch := range slices.Sorted(maps.Keys(b.channels)) {
		msgs := b.channels[ch]
		var members []string
		for _, m := range msgs {
			members = append(members, m.User)
		}
		slices.Sort(members)
		sec, _, _ := strings.Cut(msgs[0].TS, ".")
		created, _ := strconv.ParseInt(sec, 10, 64)
		chans = append(chans, exportChannel{
			ID: msgs[0].ChannelID, Name: ch, Created: created, Creator: msgs[0].User,
			Members: slices.Compact(members),
		})
	}
	return chans
}

// writeDays writes every channel's day files.
func (b *builder) writeDays(dir string) error {
	var day []exportMessage
	for i, m := range b.stats.Messages {
		day = append(day, exportMessage{Type: "message", User: m.User, Text: m.Text, TS: m.TS, Team: TeamID})
		if i+1 < len(b.stats.Messages) && b.stats.Messages[i+1].File == m.File {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(m.File))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := writeJSON(path, day); err != nil {
			return err
		}
		b.stats.Files++
		day = day[:0]
	}
	return nil
}

// writeJSON writes v as Slack does: indented by four spaces, <, > and &
// not escaped.
func writeJSON(path string, v any) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return w.Flush()
}
