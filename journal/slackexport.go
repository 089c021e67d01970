package journal

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// slackMaxFileBytes bounds one file of an export: a larger one (a
// decompression bomb, not a channel's day) is rejected whole.
const slackMaxFileBytes = 512 << 20

// slackConversationFiles are an export's conversation lists and the kind
// of conversation each describes.
var slackConversationFiles = [...]struct{ name, kind string }{
	{"channels.json", archive.KindChannel},
	{"groups.json", archive.KindChannel},
	{"mpims.json", archive.KindGroup},
	{"dms.json", archive.KindDirect},
}

// slackUserFiles are an export's user lists: org_users.json in an
// Enterprise Grid export.
var slackUserFiles = [...]string{"users.json", "org_users.json"}

// slackUser is one entry of users.json.
type slackUser struct {
	ID                string       `json:"id"`
	TeamID            string       `json:"team_id"`
	Name              string       `json:"name"`
	RealName          string       `json:"real_name"`
	IsRestricted      bool         `json:"is_restricted"`
	IsUltraRestricted bool         `json:"is_ultra_restricted"`
	IsStranger        bool         `json:"is_stranger"`
	Profile           slackProfile `json:"profile"`
}

// name is what Slack shows for the user.
func (u slackUser) name() string {
	return slackFirst(u.Profile.name(), u.RealName, u.Name)
}

// external reports whether the user is outside the workspace whose team id
// is team: a guest (is_restricted, is_ultra_restricted), a Slack Connect
// stranger, or a member of another team.
func (u slackUser) external(team string) bool {
	return u.IsRestricted || u.IsUltraRestricted || u.IsStranger ||
		(team != "" && u.TeamID != "" && u.TeamID != team)
}

// slackConversationInfo is one entry of channels.json, groups.json,
// mpims.json or dms.json.
type slackConversationInfo struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// slackConversation is a conversation folder's metadata.
type slackConversation struct {
	conv    archive.Conversation
	members []string
}

// slackExport is one import of an export under way.
type slackExport struct {
	fsys   fs.FS
	tenant string
	lim    Limits
	now    time.Time
	fn     func(Item) error
	users  map[string]slackUser
	// team is the workspace's team id: the one most users belong to.
	team string
	// convs are the conversations by folder name: a channel's, group's or
	// mpim's name, a DM's id (every conversation is listed under its id
	// too).
	convs map[string]*slackConversation
}

// ReadSlackExport reads a standard Slack workspace export, a zip file or
// the directory it unpacks to (holdfast import slack EXPORT.zip|DIR), and
// calls fn with every message as an Item, under tenant.
//
// users.json (org_users.json on Enterprise Grid) names the users and says
// who is External (guests, Slack Connect strangers, other teams than the
// one most users belong to); channels.json, groups.json, mpims.json and
// dms.json, each optional, name the conversations and their members. Each
// folder is a conversation, matched by name (or, for a DM, id), and holds
// <YYYY-MM-DD>.json arrays of messages. A folder no list names is still
// read: a channel whose id is the folder's name.
//
// Items come in a deterministic order: metadata problems first, then the
// folders sorted by name, their files sorted by name, the messages in file
// order. Where is "<folder>/<file>#<n>", n counting from 1; Bytes is the
// message's JSON size; Record.Line is the line the message starts on.
//
// Records are built as Slack's Events API builds them (see Slack): the same
// SourceID, so that a later edit or deletion delivered by the Events API
// joins the imported message; To lists the conversation's other members
// when there are at most 50. An export holds only a message's current
// text: a message with "edited" is one send with that text, the edit kept
// in Raw (a send and an edit would invent an original text and time).
//
// A malformed file, entry or message is a rejected Item naming the file
// and the field, and the import goes on. The returned error is fn's, or
// says why path could not be read as an export at all.
func ReadSlackExport(path string, tenant string, lim Limits, now time.Time, fn func(Item) error) error {
	fsys, closeExport, err := openSlackExport(path)
	if err != nil {
		return err
	}
	defer closeExport()
	return readSlackExport(fsys, tenant, lim, now, fn)
}

// readSlackExport reads the export at the root of fsys.
func readSlackExport(fsys fs.FS, tenant string, lim Limits, now time.Time, fn func(Item) error) error {
	x := &slackExport{fsys: fsys, tenant: tenant, lim: lim, now: now, fn: fn,
		users: map[string]slackUser{}, convs: map[string]*slackConversation{}}
	if err := x.readUsers(); err != nil {
		return err
	}
	if err := x.readConversationLists(); err != nil {
		return err
	}
	folders, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("slack export: list folders: %w", err)
	}
	for _, d := range folders {
		if d.IsDir() && !strings.HasPrefix(d.Name(), ".") && d.Name() != "__MACOSX" {
			if err := x.readFolder(d.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// openSlackExport opens a directory or a zip file as the root of an export
// (or its only folder, for a zip of the unpacked directory).
func openSlackExport(path string) (fs.FS, func(), error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("slack export: %w", err)
	}
	fsys, closeFn := os.DirFS(path), func() {}
	if !fi.IsDir() {
		zr, err := zip.OpenReader(path)
		if err != nil {
			return nil, nil, fmt.Errorf("slack export %s: neither a directory nor a zip file: %w", path, err)
		}
		fsys, closeFn = zr, func() { _ = zr.Close() }
	}
	root, ok := slackExportRoot(fsys)
	if !ok {
		closeFn()
		return nil, nil, fmt.Errorf("slack export %s: no users.json, channels.json, groups.json, mpims.json or dms.json: not a Slack export", path)
	}
	return root, closeFn, nil
}

// slackExportRoot finds the folder holding the export's metadata: the
// root, or its only folder.
func slackExportRoot(fsys fs.FS) (fs.FS, bool) {
	if hasSlackMetadata(fsys) {
		return fsys, true
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, false
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "__MACOSX" {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) != 1 {
		return nil, false
	}
	sub, err := fs.Sub(fsys, dirs[0])
	if err != nil || !hasSlackMetadata(sub) {
		return nil, false
	}
	return sub, true
}

func hasSlackMetadata(fsys fs.FS) bool {
	isFile := func(name string) bool {
		fi, err := fs.Stat(fsys, name)
		return err == nil && !fi.IsDir()
	}
	for _, n := range slackUserFiles {
		if isFile(n) {
			return true
		}
	}
	for _, f := range slackConversationFiles {
		if isFile(f.name) {
			return true
		}
	}
	return false
}

// readUsers reads the user lists and elects the workspace's team.
func (x *slackExport) readUsers() error {
	teams := map[string]int{}
	for _, name := range slackUserFiles {
		err := readSlackList(x, name, func(u *slackUser) string { return u.ID }, func(u *slackUser) {
			x.users[u.ID] = *u
			if u.TeamID != "" {
				teams[u.TeamID]++
			}
		})
		if err != nil {
			return err
		}
	}
	for t, n := range teams {
		if n > teams[x.team] || (n == teams[x.team] && t < x.team) {
			x.team = t
		}
	}
	return nil
}

// readConversationLists reads channels.json, groups.json, mpims.json and
// dms.json.
func (x *slackExport) readConversationLists() error {
	for _, f := range slackConversationFiles {
		err := readSlackList(x, f.name, func(c *slackConversationInfo) string { return c.ID }, func(c *slackConversationInfo) {
			sc := &slackConversation{conv: archive.Conversation{ID: c.ID, Kind: f.kind, Name: c.Name}, members: c.Members}
			x.convs[c.ID] = sc
			if c.Name != "" {
				x.convs[c.Name] = sc
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readSlackList decodes each entry of a metadata file; an entry that does
// not decode or has no id is a rejected Item, the others go to add.
func readSlackList[T any](x *slackExport, name string, id func(*T) string, add func(*T)) error {
	items, err := x.readArray(name)
	if err != nil {
		return err
	}
	for i, it := range items {
		var v T
		var e *Error
		if err := json.Unmarshal(it.data, &v); err != nil {
			e = jsonError(it.data, it.line, err)
		} else if strings.TrimSpace(id(&v)) == "" {
			e = badField(it.line, "id", "entry %d of %s has no id", i+1, name)
		}
		if e != nil {
			if err := x.reject(fmt.Sprintf("%s#%d", name, i+1), int64(len(it.data)), e); err != nil {
				return err
			}
			continue
		}
		add(&v)
	}
	return nil
}

// readFolder sends the messages of one conversation folder.
func (x *slackExport) readFolder(folder string) error {
	c := x.convs[folder]
	if c == nil {
		c = &slackConversation{conv: archive.Conversation{ID: folder, Kind: archive.KindChannel, Name: folder}}
	}
	files, err := fs.ReadDir(x.fsys, folder)
	if err != nil {
		return x.reject(folder, 0, &Error{Kind: KindInvalid, Msg: fmt.Sprintf("cannot list folder %s: %v", folder, err)})
	}
	for _, f := range files {
		if f.IsDir() || !strings.HasSuffix(f.Name(), ".json") {
			continue
		}
		file := folder + "/" + f.Name()
		items, err := x.readArray(file)
		if err != nil {
			return err
		}
		for i, it := range items {
			if err := x.message(c, fmt.Sprintf("%s#%d", file, i+1), it); err != nil {
				return err
			}
		}
	}
	return nil
}

// message sends one message of a day file as a record or a rejection.
func (x *slackExport) message(c *slackConversation, where string, it item) error {
	var msg slackMessage
	if err := json.Unmarshal(it.data, &msg); err != nil {
		return x.reject(where, int64(len(it.data)), jsonError(it.data, it.line, err))
	}
	sc := slackScope{team: x.team, line: it.line, conv: c.conv, members: c.members, users: x.users}
	m, ok, e := sc.record(&msg)
	if e == nil && !ok {
		return nil
	}
	if e == nil {
		m.Tenant = x.tenant
		e = slackFinish(&m, it.data, it.line, x.lim, x.now)
	}
	if e != nil {
		return x.reject(where, int64(len(it.data)), e)
	}
	return x.fn(Item{Record: Record{Line: it.line, Message: m}, Where: where, Bytes: int64(len(it.data))})
}

// readArray reads one JSON array file of the export. A missing or empty
// file has no items; a file that cannot be read, or is not a JSON array
// of objects, is one rejected Item and has none either.
func (x *slackExport) readArray(name string) ([]item, error) {
	fi, err := fs.Stat(x.fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil && fi.Size() > slackMaxFileBytes {
		return nil, x.reject(name, fi.Size(), &Error{Kind: KindTooLarge,
			Msg: fmt.Sprintf("%s is %d bytes, more than the %d an export file may hold", name, fi.Size(), slackMaxFileBytes)})
	}
	var data []byte
	if err == nil {
		data, err = fs.ReadFile(x.fsys, name)
	}
	if err != nil {
		return nil, x.reject(name, 0, &Error{Kind: KindInvalid, Msg: fmt.Sprintf("cannot read %s: %v", name, err)})
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, nil
	}
	if trimmed[0] != '[' {
		return nil, x.reject(name, int64(len(data)), &Error{Kind: KindSyntax, Line: 1, Msg: name + " is not a JSON array"})
	}
	items, e := splitArray(data)
	if e != nil && e.Kind == KindEmpty {
		return nil, nil
	}
	if e != nil {
		e.Msg = name + ": " + e.Msg
		return nil, x.reject(name, int64(len(data)), e)
	}
	return items, nil
}

// reject sends a rejected Item.
func (x *slackExport) reject(where string, size int64, e *Error) error {
	return x.fn(Item{Err: e, Where: where, Bytes: size})
}

// participant is the user id as the export's users.json describes it.
func (sc *slackScope) participant(id string) archive.Participant {
	p := archive.Participant{ID: id}
	if u, ok := sc.users[id]; ok {
		p.Name, p.External = u.name(), u.external(sc.team)
	}
	return p
}

// recipients are the conversation's other members, when there are at most
// slackMaxRecipients of them.
func (sc *slackScope) recipients(from string) []archive.Participant {
	if len(sc.members) > slackMaxRecipients+1 {
		return nil
	}
	var to []archive.Participant
	for _, id := range sc.members {
		if id == "" || id == from {
			continue
		}
		if len(to) == slackMaxRecipients {
			return nil
		}
		to = append(to, sc.participant(id))
	}
	return to
}

// name is a user's name for a mention; "" when unknown.
func (sc *slackScope) name(id string) string {
	if u, ok := sc.users[id]; ok {
		return u.name()
	}
	return ""
}

// Slack's text markup, rendered into the records' Text by the Events API
// source and the export alike.

// slackUnescape decodes the three entities Slack escapes in message text.
var slackUnescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// slackPlain renders Slack's message markup as a person reads it:
// <@U123> as @name (name(id), else the mention's label, else the id),
// <#C123|general> as #general, <!here> as @here, <url|label> as
// "label (url)", <url> as url; &lt; &gt; &amp; decoded.
func slackPlain(s string, name func(id string) string) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break
		}
		b.WriteString(slackUnescape.Replace(s[:i]))
		b.WriteString(slackEntity(s[i+1:i+j], name))
		s = s[i+j+1:]
	}
	b.WriteString(slackUnescape.Replace(s))
	return b.String()
}

// slackEntity renders the inside of one <...> of Slack's markup.
func slackEntity(e string, name func(id string) string) string {
	target, label, _ := strings.Cut(e, "|")
	label = slackUnescape.Replace(label)
	switch {
	case strings.HasPrefix(target, "@"):
		id := target[1:]
		if n := name(id); n != "" {
			return "@" + n
		}
		if label != "" {
			return "@" + strings.TrimPrefix(label, "@")
		}
		return target
	case strings.HasPrefix(target, "#"):
		if label != "" {
			return "#" + label
		}
		return target
	case strings.HasPrefix(target, "!"):
		// <!here>, <!channel>, <!subteam^ID|@team>, <!date^...|fallback>.
		if label != "" {
			return label
		}
		cmd, _, _ := strings.Cut(target[1:], "^")
		return "@" + cmd
	}
	url := slackUnescape.Replace(target)
	if label == "" || label == url || "mailto:"+label == url {
		return slackFirst(label, url)
	}
	return label + " (" + url + ")"
}

// slackBlocksText collects the "text" strings of a message's Block Kit
// blocks, in document order.
func slackBlocksText(blocks json.RawMessage) string {
	var v any
	if len(blocks) == 0 || json.Unmarshal(blocks, &v) != nil {
		return ""
	}
	var parts []string
	collectSlackText(v, &parts)
	return strings.Join(parts, " ")
}

func collectSlackText(v any, parts *[]string) {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			collectSlackText(e, parts)
		}
	case map[string]any:
		if s, ok := t["text"].(string); ok && strings.TrimSpace(s) != "" {
			*parts = append(*parts, s)
		}
		for _, k := range slices.Sorted(maps.Keys(t)) {
			collectSlackText(t[k], parts)
		}
	}
}
