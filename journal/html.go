package journal

import (
	"html"
	"strings"
)

// htmlBlockTags end a line where they open and where they close: the
// paragraph structure a reader sees.
var htmlBlockTags = map[string]bool{
	"p": true, "div": true, "li": true, "ul": true, "ol": true, "tr": true, "table": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"blockquote": true, "pre": true, "hr": true, "section": true, "article": true,
	"header": true, "footer": true, "codeblock": true, "dd": true, "dt": true,
}

// htmlSkipTags hold no text a reader sees: their content is dropped.
var htmlSkipTags = map[string]bool{"script": true, "style": true, "head": true, "title": true}

// htmlAltTags stand for their alt text: an emoji's character, an
// image's description.
var htmlAltTags = map[string]bool{"img": true, "emoji": true, "customemoji": true}

// textFromHTML renders an HTML fragment (a Teams message body, a mail's
// text/html part) as the plain text a person reads: tags dropped and
// entities decoded; a line break for <br> and around block elements (<p>,
// <div>, <li>...); the content of <script> and <style> dropped; an <img>'s
// or <emoji>'s alt text kept; inline elements such as Teams' <at> mentions
// keep their text. White space collapses as a browser collapses it, and
// every line is trimmed; empty lines are dropped.
func textFromHTML(s string) string {
	var b htmlTextBuilder
	for i := 0; i < len(s); {
		if s[i] != '<' || !htmlStartsTag(s[i+1:]) {
			j := strings.IndexByte(s[i+1:], '<')
			if j < 0 {
				j = len(s)
			} else {
				j += i + 1
			}
			b.text(s[i:j])
			i = j
			continue
		}
		i = b.tag(s, i)
	}
	return b.finish()
}

// htmlStartsTag reports whether the text after a '<' starts markup: a tag
// name, a closing tag, a comment or a declaration. Anything else ("a < b")
// is text.
func htmlStartsTag(rest string) bool {
	if rest == "" {
		return false
	}
	c := rest[0]
	return c == '/' || c == '!' || c == '?' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// htmlTextBuilder accumulates the text of a fragment, one line at a time,
// collapsing white space as a browser does.
type htmlTextBuilder struct {
	lines []string
	cur   strings.Builder
	space bool // white space seen since the last character written
}

// text adds a run of the fragment's text, entities still encoded.
func (b *htmlTextBuilder) text(raw string) { b.write(html.UnescapeString(raw)) }

// write adds decoded text, collapsing its white space.
func (b *htmlTextBuilder) write(t string) {
	// A no-break space is a space to a reader searching the text.
	t = strings.ReplaceAll(t, "\u00a0", " ")
	for _, r := range t {
		if r < 0x80 && isHTMLSpace(byte(r)) {
			b.space = true
			continue
		}
		if b.space && b.cur.Len() > 0 {
			b.cur.WriteByte(' ')
		}
		b.space = false
		b.cur.WriteRune(r)
	}
}

func (b *htmlTextBuilder) newline() {
	b.lines = append(b.lines, b.cur.String())
	b.cur.Reset()
	b.space = false
}

func (b *htmlTextBuilder) finish() string {
	b.newline()
	out := make([]string, 0, len(b.lines))
	for _, l := range b.lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// tag handles the markup starting at s[i] == '<' and returns the index
// after it.
func (b *htmlTextBuilder) tag(s string, i int) int {
	if strings.HasPrefix(s[i:], "<!--") {
		end := strings.Index(s[i+4:], "-->")
		if end < 0 {
			return len(s)
		}
		return i + 4 + end + 3
	}
	end := htmlTagEnd(s, i+1)
	body := s[i+1 : end]
	next := min(end+1, len(s))
	closing := strings.HasPrefix(body, "/")
	name, attrs := htmlTagName(strings.TrimPrefix(body, "/"))
	switch {
	case name == "br" || htmlBlockTags[name]:
		b.newline()
	case htmlAltTags[name] && !closing:
		b.write(htmlAttr(attrs, "alt"))
	case htmlSkipTags[name] && !closing:
		return htmlSkipElement(s, next, name)
	}
	return next
}

// htmlTagEnd returns the index of the '>' that closes the tag whose content
// starts at s[i], skipping '>' inside quoted attribute values, or len(s)
// when the tag is never closed.
func htmlTagEnd(s string, i int) int {
	var quote byte
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
	return len(s)
}

// htmlTagName splits a tag's content into its lower-case name and the rest.
func htmlTagName(body string) (string, string) {
	n := 0
	for n < len(body) && !isHTMLSpace(body[n]) && body[n] != '/' && body[n] != '>' {
		n++
	}
	return strings.ToLower(body[:n]), body[n:]
}

// htmlSkipElement returns the index after the closing tag of the element
// name whose content starts at s[i], or len(s) when it is never closed.
func htmlSkipElement(s string, i int, name string) int {
	for {
		j := strings.Index(s[i:], "</")
		if j < 0 {
			return len(s)
		}
		k := i + j + 2
		if len(s)-k >= len(name) && strings.EqualFold(s[k:k+len(name)], name) {
			return min(htmlTagEnd(s, k)+1, len(s))
		}
		i = k
	}
}

// htmlAttr returns the decoded value of attribute name in a tag's
// attribute text, or "".
func htmlAttr(attrs, name string) string {
	for rest := attrs; rest != ""; {
		rest = strings.TrimLeft(rest, " \t\n\r\f/")
		n := 0
		for n < len(rest) && !isHTMLSpace(rest[n]) && rest[n] != '=' && rest[n] != '/' {
			n++
		}
		key := strings.ToLower(rest[:n])
		rest = strings.TrimLeft(rest[n:], " \t\n\r\f")
		if !strings.HasPrefix(rest, "=") {
			if n == 0 {
				return ""
			}
			continue
		}
		val, after := htmlAttrRaw(strings.TrimLeft(rest[1:], " \t\n\r\f"))
		if key == name {
			return html.UnescapeString(val)
		}
		rest = after
	}
	return ""
}

// htmlAttrRaw splits a (possibly quoted) attribute value from what
// follows it.
func htmlAttrRaw(s string) (string, string) {
	if s == "" {
		return "", ""
	}
	if q := s[0]; q == '"' || q == '\'' {
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return s[1:], ""
		}
		return s[1 : 1+end], s[2+end:]
	}
	n := 0
	for n < len(s) && !isHTMLSpace(s[n]) {
		n++
	}
	return s[:n], s[n:]
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}
