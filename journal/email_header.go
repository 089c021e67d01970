package journal

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/holdfast/holdfast/archive"
)

var (
	// encodedWord is an RFC 2047 encoded word: =?charset?B|Q?text?=.
	encodedWord = regexp.MustCompile(`=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=`)
	// looseAddress finds the addresses of a list net/mail cannot parse.
	looseAddress = regexp.MustCompile(`[^\s<>,;:"()\[\]]+@[^\s<>,;:"()\[\]]+`)
	// angleID is one <msg-id> of a Message-ID, In-Reply-To or References.
	angleID = regexp.MustCompile(`<([^<>\s]+)>`)
	// replyPrefix is the "Re:", "Fwd:", "回复：" a reply adds to a subject.
	replyPrefix = regexp.MustCompile(`(?i)^\s*(re|fw|fwd|aw|wg|sv|vs|antw|回复|回覆|答复|答覆|转发|轉寄|转寄)\s*(\[\d+\])?\s*[:：]\s*`)
)

// headerText returns the unstructured header name (Subject, say) as
// UTF-8: its encoded words decoded, raw 8-bit bytes read in fallback.
// Repeated fields are joined with a space.
func headerText(h textproto.MIMEHeader, name, fallback string) (string, *Error) {
	v := strings.Join(h.Values(name), " ")
	s, err := decodeWords(v, fallback)
	if err != nil {
		return "", &Error{Kind: KindEncoding, Field: name, Msg: fmt.Sprintf("%s: %v", name, err)}
	}
	return s, nil
}

// decodeWords decodes the RFC 2047 encoded words of an unstructured text.
// Adjacent words in one charset are joined before they are converted, so
// that a character a mailer split across two words survives, and the
// blanks between adjacent words are dropped (RFC 2047 section 6.2).
func decodeWords(v, fallback string) (string, error) {
	var out strings.Builder
	var run wordRun
	prev := 0
	for _, l := range encodedWord.FindAllStringSubmatchIndex(v, -1) {
		charset, enc, text := v[l[2]:l[3]], v[l[4]:l[5]], v[l[6]:l[7]]
		between := v[prev:l[0]]
		adjacent := run.open && strings.TrimSpace(between) == "" && normalizeCharset(charset) == normalizeCharset(run.charset)
		if !adjacent {
			if err := run.flush(&out, fallback); err != nil {
				return "", err
			}
			if !run.open || strings.TrimSpace(between) != "" {
				out.WriteString(raw8bit(between, fallback))
			}
		}
		data, err := decodeWord(enc, text)
		if err != nil {
			return "", fmt.Errorf("encoded word %q: %w", v[l[0]:l[1]], err)
		}
		run.open, run.charset, run.data = true, charset, append(run.data, data...)
		prev = l[1]
	}
	if err := run.flush(&out, fallback); err != nil {
		return "", err
	}
	out.WriteString(raw8bit(v[prev:], fallback))
	return out.String(), nil
}

// wordRun is the bytes of adjacent encoded words in one charset, waiting
// to be converted together.
type wordRun struct {
	open    bool
	charset string
	data    []byte
}

// flush converts the run into out; the run stays open (adjacent) so that
// the blanks before a next word in another charset are still dropped.
func (r *wordRun) flush(out *strings.Builder, fallback string) error {
	if len(r.data) == 0 {
		return nil
	}
	s, err := decodeCharset(r.data, r.charset, fallback)
	if err != nil {
		return err
	}
	out.WriteString(s)
	r.data = r.data[:0]
	return nil
}

// raw8bit reads header text sent as raw 8-bit bytes (no encoded words) in
// the message's charset when it is not UTF-8.
func raw8bit(s, fallback string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, err := decodeCharset([]byte(s), "", fallback)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

// decodeWord decodes the text of one encoded word: B is base64 (padding
// optional), Q is quoted-printable with '_' for a space.
func decodeWord(enc, text string) ([]byte, error) {
	if enc == "B" || enc == "b" {
		return base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
	}
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]):
			out = append(out, unhex(text[i+1])<<4|unhex(text[i+2]))
			i += 2
		case c == '=':
			return nil, fmt.Errorf("bad escape at byte %d", i)
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// addressDecoder decodes the encoded words of display names in every
// charset lookupCharset knows.
var addressDecoder = &mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charsetReader}}

// addressList returns the participants of address headers such as To and
// Cc. A list net/mail cannot parse (real mail has plenty) still yields the
// addresses it contains, without their names: a recipient is never lost.
func addressList(v, fallback string) []archive.Participant {
	v = raw8bit(v, fallback)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	if list, err := addressDecoder.ParseList(v); err == nil {
		ps := make([]archive.Participant, 0, len(list))
		for _, a := range list {
			ps = append(ps, participant(a.Address, a.Name))
		}
		return ps
	}
	var ps []archive.Participant
	for _, a := range looseAddress.FindAllString(v, -1) {
		ps = append(ps, participant(a, ""))
	}
	return ps
}

func participant(addr, name string) archive.Participant {
	id := strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
	name = strings.TrimSpace(name)
	if strings.EqualFold(name, id) {
		name = ""
	}
	return archive.Participant{ID: id, Name: name}
}

// messageIDs returns the msg-ids of a Message-ID, In-Reply-To or
// References field without their angle brackets, in order.
func messageIDs(v string) []string {
	var ids []string
	for _, m := range angleID.FindAllStringSubmatch(v, -1) {
		ids = append(ids, m[1])
	}
	if len(ids) == 0 {
		ids = strings.Fields(v)
	}
	for i, id := range ids {
		ids[i] = strings.ToValidUTF8(id, "\uFFFD")
	}
	return ids
}

// threadName is a subject without the "Re:" and "Fwd:" prefixes replies
// and forwards add: the name of the conversation.
func threadName(subject string) string {
	s := strings.TrimSpace(subject)
	for {
		loc := replyPrefix.FindStringIndex(s)
		if loc == nil {
			return s
		}
		s = strings.TrimSpace(s[loc[1]:])
	}
}
