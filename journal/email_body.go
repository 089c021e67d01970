package journal

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/holdfast/holdfast/archive"
)

// emailBody is what a message's MIME tree holds: its text and its files.
type emailBody struct {
	texts       []string
	attachments []archive.Attachment
	blobs       []Blob
	stored      map[string]bool // sha256 of the blobs
	fallback    string
}

// collectBody walks a message's MIME tree: the text parts a reader sees
// become the body (text/plain preferred over HTML in an alternative), every
// other leaf is an attachment whose bytes become a Blob (once per content).
func collectBody(root *mimeNode, fallback string) (*emailBody, *Error) {
	b := &emailBody{fallback: fallback, stored: map[string]bool{}}
	if e := b.walk(root, true); e != nil {
		return nil, e
	}
	return b, nil
}

// walk collects n; wantText is false under an alternative that was not
// chosen, where only attachments (inline images, say) are kept.
func (b *emailBody) walk(n *mimeNode, wantText bool) *Error {
	if !n.isMultipart() {
		return b.leaf(n, wantText)
	}
	chosen := -1
	switch n.mediaType {
	case "multipart/alternative":
		chosen = bestAlternative(n.children)
	case "multipart/related":
		chosen = relatedRoot(n)
	}
	for i, ch := range n.children {
		want := wantText && (chosen < 0 || i == chosen)
		if n.mediaType == "multipart/alternative" && !want && !ch.isMultipart() {
			continue // another rendering of the text chosen
		}
		if e := b.walk(ch, want); e != nil {
			return e
		}
	}
	return nil
}

func (b *emailBody) leaf(n *mimeNode, wantText bool) *Error {
	if n.isBodyText() {
		if !wantText {
			return nil
		}
		t, e := n.text(b.fallback)
		if e != nil {
			return e
		}
		if t != "" {
			b.texts = append(b.texts, t)
		}
		return nil
	}
	name, e := n.name(b.fallback)
	if e != nil {
		return e
	}
	if name == "" {
		name = unnamedPart(n, b.fallback)
	}
	sum := sha256.Sum256(n.data)
	sha := hex.EncodeToString(sum[:])
	b.attachments = append(b.attachments, archive.Attachment{Name: name, ContentType: n.mediaType, Size: int64(len(n.data)), SHA256: sha})
	if !b.stored[sha] {
		b.stored[sha] = true
		b.blobs = append(b.blobs, Blob{SHA256: sha, ContentType: n.mediaType, Data: n.data})
	}
	return nil
}

// unnamedPart names a file sent without a name: an attached message by its
// subject, anything else by its part number.
func unnamedPart(n *mimeNode, fallback string) string {
	if n.mediaType == "message/rfc822" {
		head, _ := splitHeader(n.data)
		if h, err := parseHeader(head); err == nil {
			if s, e := headerText(h, "Subject", fallback); e == nil && strings.TrimSpace(s) != "" {
				return strings.TrimSpace(s) + ".eml"
			}
		}
		return "part-" + n.path + ".eml"
	}
	return "part-" + n.path
}

// bestAlternative picks the rendering of a multipart/alternative to read:
// plain text, else a multipart holding plain text, else HTML (or a
// multipart holding it), else the last (the richest, RFC 2046 5.1.4).
func bestAlternative(alts []*mimeNode) int {
	best, bestScore := len(alts)-1, -1
	for i, a := range alts {
		if s := alternativeScore(a); s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

func alternativeScore(n *mimeNode) int {
	switch {
	case n.mediaType == "text/plain" && n.isBodyText():
		return 4
	case n.mediaType == "text/html" && n.isBodyText():
		return 2
	case n.isMultipart():
		best := 0
		for _, ch := range n.children {
			best = max(best, alternativeScore(ch)-1)
		}
		return best
	}
	return 0
}

// relatedRoot is the index of a multipart/related's root part: the one its
// start parameter names, else the first (RFC 2387).
func relatedRoot(n *mimeNode) int {
	if start := strings.Trim(n.params["start"], "<> "); start != "" {
		for i, ch := range n.children {
			if strings.Trim(ch.header.Get("Content-Id"), "<> ") == start {
				return i
			}
		}
	}
	return 0
}

// text is the body's text: its text parts, in order, a blank line apart.
func (b *emailBody) text() string {
	return strings.Join(b.texts, "\n\n")
}
