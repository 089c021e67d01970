package journal

import (
	"net/textproto"
	"strings"
	"time"
)

// Exchange envelope journal reports ([MS-XJRNL]; Exchange 2007 and later,
// Exchange Online): a message marked with the X-MS-Journal-Report header
// whose first text part lists the journaled message's envelope, one
// "Field: value" per line,
//
//	Sender: alice@contoso.com
//	Subject: Q3 numbers
//	Message-Id: <0123@contoso.com>
//	To: bob@contoso.com
//	Cc: fwd@contoso.com, Forwarded: carol@contoso.com
//	Bcc: dl-member@contoso.com, Expanded: dl@contoso.com
//	Recipient: someone@fabrikam.com
//
// and whose message/rfc822 part is the journaled message, unaltered.
var journalReportHeader = textproto.CanonicalMIMEHeaderKey("X-MS-Journal-Report")

// sentUTCLayouts are the forms a report's SentUtc line is read in.
var sentUTCLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05Z", "2006-01-02 15:04:05", "1/2/2006 3:04:05 PM"}

func (msg *email) isJournalReport() bool {
	_, ok := msg.header[journalReportHeader]
	return ok
}

// unwrapJournalReport returns the message a journal report carries and the
// envelope the report lists for it.
func (msg *email) unwrapJournalReport() (*email, envelope, *Error) {
	var envPart, carried *mimeNode
	findReportParts(msg.root, &envPart, &carried)
	if carried == nil {
		return nil, envelope{}, &Error{Kind: KindSyntax, Field: "X-MS-Journal-Report",
			Msg: "journal report carries no message/rfc822 part (the journaled message)"}
	}
	var env envelope
	if envPart != nil {
		text, e := envPart.text(msg.fallback)
		if e != nil {
			return nil, envelope{}, e
		}
		env = parseJournalEnvelope(text)
	}
	env.report = true
	inner, e := readEmail(carried.data)
	if e != nil {
		e.Field = "part " + carried.path + " " + e.Field
		e.Msg = "journaled message (part " + carried.path + "): " + e.Msg
		return nil, envelope{}, e
	}
	return inner, env, nil
}

// findReportParts finds a report's first text/plain part (the envelope)
// and its first message/rfc822 part (the journaled message).
func findReportParts(n *mimeNode, envPart, carried **mimeNode) {
	switch {
	case n.isMultipart():
		for _, ch := range n.children {
			findReportParts(ch, envPart, carried)
		}
	case n.mediaType == "message/rfc822" && *carried == nil:
		*carried = n
	case n.mediaType == "text/plain" && *envPart == nil:
		*envPart = n
	}
}

// parseJournalEnvelope reads a report's envelope part. Every recipient line
// (To, Cc, Bcc, Recipient) counts, with the address a list was expanded
// from or a message forwarded from; lines it does not know are skipped.
func parseJournalEnvelope(text string) envelope {
	var env envelope
	for _, line := range strings.Split(text, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "sender":
			env.sender = val
		case "message-id":
			env.messageID = val
		case "to", "cc", "bcc", "recipient":
			env.to = append(env.to, recipientSpec(val)...)
		case "sentutc":
			env.sentAt = parseSentUTC(val)
		}
	}
	return env
}

// recipientSpec returns the addresses of one recipient line's value:
// "dl-member@contoso.com, Expanded: dl@contoso.com" gives both.
func recipientSpec(v string) []string {
	var out []string
	for i, f := range strings.Split(v, ",") {
		if i > 0 {
			kind, addr, ok := strings.Cut(f, ":")
			k := strings.ToLower(strings.TrimSpace(kind))
			if !ok || (k != "expanded" && k != "forwarded") {
				continue
			}
			f = addr
		}
		if a := strings.Trim(strings.TrimSpace(f), "<>"); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func parseSentUTC(v string) time.Time {
	for _, l := range sentUTCLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
