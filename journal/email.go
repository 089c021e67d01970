package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast/archive"
)

// PlatformEmail is the platform of journaled mail.
const PlatformEmail = "email"

// DefaultMaxEmailBytes bounds one message of an mbox or .eml import.
const DefaultMaxEmailBytes = 64 << 20

// noSubject is the text of a message with neither subject nor body text
// nor attachment: it is archived all the same, as mail clients show it.
const noSubject = "(no subject)"

// EmailOptions say how ParseEmail reads one message.
type EmailOptions struct {
	// Tenant is the tenant the record is archived under (empty: the
	// default tenant).
	Tenant string
	// Limits bound the record's fields. The searchable text is cut to
	// MaxFieldBytes rather than refused: the whole message is in Raw.
	Limits Limits
	// MaxBytes bounds the whole message (0: no bound); a larger one is a
	// KindTooLarge *Error.
	MaxBytes int64
	// Now is the reception time: the sent time of a message whose Date
	// is missing, unreadable or more than a day ahead, and the
	// future-date check. Zero means time.Now().
	Now time.Time
	// EnvelopeFrom is the SMTP MAIL FROM: the sender of a message that
	// has neither From nor Sender.
	EnvelopeFrom string
	// EnvelopeTo are the SMTP RCPT TO addresses. With BCC or envelope
	// journaling they are the only trace of Bcc recipients and of
	// expanded lists, so they join the recipients of a plain message;
	// an Exchange journal report lists its own (its RCPT TO is the
	// journal mailbox), and EnvelopeTo is ignored for it.
	EnvelopeTo []string
	// Domains are the organisation's own mail domains: a participant
	// outside them (and their subdomains) is marked External. Empty:
	// nobody is.
	Domains []string
	// Line is the input line the message starts on (in an mbox), for
	// the record and its errors.
	Line int
}

// envelope is what the transport knows of a message beyond its headers:
// the SMTP envelope, or an Exchange journal report's envelope part.
type envelope struct {
	sender    string
	messageID string
	// report is set for the envelope of an Exchange journal report.
	report bool
	to     []string
	sentAt time.Time
}

// email is one parsed message.
type email struct {
	raw    []byte
	header textproto.MIMEHeader
	root   *mimeNode
	// fallback is the charset of raw 8-bit header bytes.
	fallback string
}

// ParseEmail turns one RFC 5322 message into a Record of platform "email":
//
//   - From is the From (else Sender) address, To every To, Cc and Bcc
//     address plus the envelope's (see EmailOptions.EnvelopeTo);
//   - SourceID is the Message-ID without its angle brackets, or, when the
//     message has none, "sha256:" and the hex SHA-256 of its bytes (the
//     same bytes always give the same id); for a journal report whose
//     envelope names recipients the headers do not (see below), the
//     Message-ID and "#journal-" and a hash of those recipients;
//   - Conversation is the thread: the first References id, else the
//     In-Reply-To id, else the message's own id; it is direct with exactly
//     one recipient, else group; its name is the subject without "Re:";
//   - SentAt is the Date header; a Date that is missing, unreadable or
//     more than a day ahead is replaced by the reception time (opts.Now),
//     the Date stays readable in Raw;
//   - Text is the subject, a blank line and the body text (text/plain
//     preferred, HTML turned into text), in UTF-8 whatever the charset;
//   - Attachments are the other MIME leaves (name, type, size, sha256),
//     their bytes returned as the Record's Blobs;
//   - Raw is the message exactly as received (base64 when not UTF-8).
//
// An Exchange journal report (header X-MS-Journal-Report) becomes the
// record of the message it carries: its sender, subject, body and
// attachments, recipients from both the report's envelope and the
// message's headers, Raw the carried message. Exchange sends one report
// per set of recipients it delivers to (per database, per site), each
// envelope naming that set's Bcc recipients and list members: a report
// whose envelope adds recipients to the headers' is its own record (the
// hash in its SourceID), so that no report's recipients are lost to
// deduplication against another's; the same report sent again is still
// the same record, and the conversation is the Message-ID's either way.
//
// A message whose MIME cannot be read (bad headers, a multipart without its
// boundary, bad base64, an unknown charset) is an *Error of KindSyntax or
// KindEncoding naming the header or part. The Blobs may share memory with
// raw: raw must not change afterwards.
func ParseEmail(raw []byte, opts EmailOptions) (Record, error) {
	rec, e := parseEmail(raw, opts)
	if e != nil {
		if e.Line == 0 {
			e.Line = opts.Line
		}
		return Record{}, e
	}
	return rec, nil
}

func parseEmail(raw []byte, opts EmailOptions) (Record, *Error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.MaxBytes > 0 && int64(len(raw)) > opts.MaxBytes {
		return Record{}, &Error{Kind: KindTooLarge, Field: "message",
			Msg: fmt.Sprintf("message is %d bytes, more than the %d allowed", len(raw), opts.MaxBytes)}
	}
	msg, e := readEmail(raw)
	if e != nil {
		return Record{}, e
	}
	env := envelope{sender: opts.EnvelopeFrom, to: opts.EnvelopeTo}
	if msg.isJournalReport() {
		if msg, env, e = msg.unwrapJournalReport(); e != nil {
			return Record{}, e
		}
	}
	return msg.record(env, opts)
}

// readEmail parses a message's header and MIME tree.
func readEmail(raw []byte) (*email, *Error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, &Error{Kind: KindEmpty, Field: "message", Msg: "message is empty"}
	}
	head, body := splitHeader(raw)
	h, err := parseHeader(head)
	if err != nil {
		return nil, &Error{Kind: KindSyntax, Field: "header", Msg: fmt.Sprintf("message header: %v", err)}
	}
	root, e := parseMIME(h, body, "", 0)
	if e != nil {
		return nil, e
	}
	return &email{raw: raw, header: h, root: root, fallback: firstCharset(root)}, nil
}

// record builds the message's Record and validates it with Finish.
func (msg *email) record(env envelope, opts EmailOptions) (Record, *Error) {
	subject, e := headerText(msg.header, "Subject", msg.fallback)
	if e != nil {
		return Record{}, e
	}
	body, e := collectBody(msg.root, msg.fallback)
	if e != nil {
		return Record{}, e
	}
	id := msg.sourceID(env)
	headerTo := msg.headerRecipients()
	to := withEnvelope(headerTo, env, msg.fallback)
	m := archive.Message{
		Platform: PlatformEmail, Tenant: opts.Tenant, SourceID: reportSourceID(id, env, headerTo, to),
		Conversation: archive.Conversation{ID: msg.threadID(id), Name: threadName(subject)},
		From:         msg.sender(env),
		To:           to,
		SentAt:       msg.sentAt(env, opts.Now),
		Type:         "email",
		Text:         emailText(subject, body.text(), len(body.attachments) > 0, opts.Limits.MaxFieldBytes),
		Attachments:  body.attachments,
	}
	markExternal(&m, opts.Domains)
	m.SetRaw(msg.raw)
	if e := Finish(&m, nil, opts.Line, opts.Limits, opts.Now); e != nil {
		return Record{}, e
	}
	for i := range body.blobs {
		body.blobs[i].Tenant = m.Tenant
	}
	return Record{Line: opts.Line, Message: m, Blobs: body.blobs}, nil
}

// emailText is the searchable text: the subject, a blank line, the body;
// cut (on a character boundary) to max bytes when max > 0.
func emailText(subject, body string, hasFiles bool, max int64) string {
	subject, body = strings.TrimSpace(subject), strings.TrimSpace(body)
	t := subject
	switch {
	case subject != "" && body != "":
		t = subject + "\n\n" + body
	case subject == "":
		t = body
	}
	if t == "" && !hasFiles {
		t = noSubject
	}
	if max > 0 && int64(len(t)) > max {
		t = strings.ToValidUTF8(t[:max], "")
	}
	return t
}

// sourceID is the Message-ID, else the report's Message-Id, else a hash of
// the message's bytes.
func (msg *email) sourceID(env envelope) string {
	if ids := messageIDs(msg.header.Get("Message-Id")); len(ids) > 0 {
		return ids[0]
	}
	if ids := messageIDs(env.messageID); len(ids) > 0 {
		return ids[0]
	}
	sum := sha256.Sum256(msg.raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// threadID is the thread's root: the first References id, else the
// In-Reply-To id, else the message's own id.
func (msg *email) threadID(own string) string {
	for _, f := range []string{"References", "In-Reply-To"} {
		if ids := messageIDs(strings.Join(msg.header.Values(f), " ")); len(ids) > 0 {
			return ids[0]
		}
	}
	return own
}

// sender is the From address, else Sender's, else the envelope's, else
// whatever the From field says.
func (msg *email) sender(env envelope) archive.Participant {
	for _, f := range []string{"From", "Sender"} {
		if ps := addressList(strings.Join(msg.header.Values(f), ", "), msg.fallback); len(ps) > 0 {
			return ps[0]
		}
	}
	if ps := addressList(env.sender, msg.fallback); len(ps) > 0 {
		return ps[0]
	}
	// A From with no address in it still says who sent the message.
	from, _ := headerText(msg.header, "From", msg.fallback)
	return participant(from, "")
}

// headerRecipients are the To, Cc and Bcc addresses.
func (msg *email) headerRecipients() []archive.Participant {
	var all []archive.Participant
	for _, f := range []string{"To", "Cc", "Bcc"} {
		all = append(all, addressList(strings.Join(msg.header.Values(f), ", "), msg.fallback)...)
	}
	return all
}

// withEnvelope is header, then the envelope's recipients, each once (the
// first name seen wins).
func withEnvelope(header []archive.Participant, env envelope, fallback string) []archive.Participant {
	all := slices.Clone(header)
	for _, a := range env.to {
		all = append(all, addressList(a, fallback)...)
	}
	seen := make(map[string]bool, len(all))
	out := all[:0]
	for _, p := range all {
		if p.ID != "" && !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, p)
		}
	}
	return out
}

// reportSourceID is id, or for a journal report whose envelope adds
// recipients to the header's, id and "#journal-" and a hash of the added
// recipients (sorted, so that their order in the report does not matter).
func reportSourceID(id string, env envelope, header, all []archive.Participant) string {
	if !env.report {
		return id
	}
	named := make(map[string]bool, len(header))
	for _, p := range header {
		named[p.ID] = true
	}
	var added []string
	for _, p := range all {
		if !named[p.ID] {
			added = append(added, strings.ToLower(p.ID))
		}
	}
	if len(added) == 0 {
		return id
	}
	slices.Sort(added)
	sum := sha256.Sum256([]byte(strings.Join(added, "\n")))
	return id + "#journal-" + hex.EncodeToString(sum[:8])
}
func (msg *email) sentAt(env envelope, now time.Time) time.Time {
	if t, err := mail.ParseDate(msg.header.Get("Date")); err == nil && !t.After(now.Add(maxFutureSkew)) {
		return t
	}
	if !env.sentAt.IsZero() && !env.sentAt.After(now.Add(maxFutureSkew)) {
		return env.sentAt
	}
	return now
}

// markExternal marks the participants outside domains as External.
func markExternal(m *archive.Message, domains []string) {
	if len(domains) == 0 {
		return
	}
	m.From.External = isExternal(m.From.ID, domains)
	for i := range m.To {
		m.To[i].External = isExternal(m.To[i].ID, domains)
	}
}

func isExternal(addr string, domains []string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return true
	}
	host := strings.ToLower(addr[at+1:])
	for _, d := range domains {
		d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		if host == d || strings.HasSuffix(host, "."+d) {
			return false
		}
	}
	return true
}
