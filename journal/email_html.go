package journal

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

var (
	// htmlSpace is white space in HTML text: one space when rendered.
	htmlSpace = regexp.MustCompile(`[ \t\n\r\f]+`)
	// blankRuns are runs of blanks within a line.
	blankRuns = regexp.MustCompile(`[ \t\f\v\x{00a0}]+`)
	// manyNewlines are two or more line breaks (with blanks between).
	manyNewlines = regexp.MustCompile(`\n(\s*\n)+`)
)

// htmlBlocks are the elements that start a new line of text.
var htmlBlocks = map[atom.Atom]bool{
	atom.Br: true, atom.P: true, atom.Div: true, atom.Li: true, atom.Tr: true, atom.Table: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Blockquote: true, atom.Pre: true, atom.Hr: true, atom.Ul: true, atom.Ol: true,
	atom.Section: true, atom.Article: true, atom.Header: true, atom.Footer: true, atom.Dd: true, atom.Dt: true,
}

// htmlHidden are the elements whose content a reader never sees.
var htmlHidden = map[atom.Atom]bool{atom.Script: true, atom.Style: true, atom.Head: true, atom.Title: true, atom.Template: true}

// htmlToText renders HTML (a mail's HTML body, a Teams message body) as the
// plain text a reader sees: the text of visible elements (Teams' <at>
// mentions included) and the alt text of images and emoji, entities
// decoded, a line per block, blanks collapsed. It never fails (the
// tokenizer accepts any input) and its time is linear in the input's size,
// whatever the markup: mail bodies can be megabytes of adversarial HTML.
func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	hidden := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return tidyText(b.String())
		case html.TextToken:
			if hidden == 0 {
				b.WriteString(htmlSpace.ReplaceAllString(string(z.Text()), " "))
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch {
			case string(name) == "codeblock":
				b.WriteByte('\n')
			case (string(name) == "emoji" || string(name) == "customemoji") && tt != html.EndTagToken && hidden == 0:
				b.WriteString(imgAlt(z))
			case a == atom.Body:
				hidden = 0 // a <head> left open ends where the body starts
			case htmlHidden[a] && tt == html.StartTagToken:
				hidden++
			case htmlHidden[a] && tt == html.EndTagToken && hidden > 0:
				hidden--
			case htmlBlocks[a]:
				b.WriteByte('\n')
			case a == atom.Img && hidden == 0:
				b.WriteString(imgAlt(z))
			}
		}
	}
}

// tidyText trims every line and drops blank lines: a block is a line.
func tidyText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(blankRuns.ReplaceAllString(l, " "))
	}
	return strings.TrimSpace(manyNewlines.ReplaceAllString(strings.Join(lines, "\n"), "\n"))
}

// imgAlt is the alt text of the <img> tag z is on, between blanks.
func imgAlt(z *html.Tokenizer) string {
	for {
		k, v, more := z.TagAttr()
		if string(k) == "alt" {
			return " " + string(v) + " "
		}
		if !more {
			return ""
		}
	}
}
