package journal

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// asciiLabels are the charset labels that say "UTF-8 or plain ASCII", or
// say nothing at all (RFC 1428's unknown-8bit): their bytes are read as
// UTF-8 when they are valid UTF-8.
var asciiLabels = map[string]bool{
	"": true, "us-ascii": true, "ascii": true, "ansi_x3.4-1968": true, "utf-8": true, "utf8": true,
	"unknown-8bit": true, "x-unknown": true, "unknown": true,
}

// gbLabels are the names of GB2312 and GBK: mail labelled with them
// routinely holds GBK and GB18030 characters, so they are all read as
// GB18030, the superset (as WHATWG's decoders do).
var gbLabels = map[string]bool{
	"gb2312": true, "gbk": true, "cp936": true, "x-gbk": true, "gb_2312-80": true, "gb_2312": true,
	"csgb2312": true, "euc-cn": true, "x-euc-cn": true, "chinese": true, "ms936": true, "windows-936": true,
	"gb18030": true,
}

// errUnknownCharset is why a charset label could not be used.
type errUnknownCharset string

func (e errUnknownCharset) Error() string { return fmt.Sprintf("unknown charset %q", string(e)) }

// lookupCharset returns the encoding a MIME charset label names: nil for
// UTF-8 and ASCII (and labels that name no charset), GB18030 for every
// name of GB2312 and GBK, else the WHATWG or IANA encoding of that name.
func lookupCharset(label string) (encoding.Encoding, error) {
	l := normalizeCharset(label)
	switch {
	case asciiLabels[l]:
		return nil, nil
	case gbLabels[l]:
		return simplifiedchinese.GB18030, nil
	}
	if e, err := htmlindex.Get(l); err == nil {
		return e, nil
	}
	for _, idx := range []*ianaindex.Index{ianaindex.MIME, ianaindex.IANA} {
		if e, err := idx.Encoding(l); err == nil && e != nil {
			return e, nil
		}
	}
	return nil, errUnknownCharset(label)
}

func normalizeCharset(label string) string {
	l := strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	// RFC 2231 allows a language after the charset: "utf-8*en".
	if i := strings.IndexByte(l, '*'); i >= 0 {
		l = l[:i]
	}
	return l
}

// decodeCharset turns b, in the charset label names, into UTF-8. Bytes
// that a charset cannot map become U+FFFD (the exact bytes stay in the
// record's raw message). Text labelled ASCII or UTF-8 (or not labelled)
// that is not valid UTF-8 is read in fallback, the message's own charset,
// else as windows-1252.
func decodeCharset(b []byte, label, fallback string) (string, error) {
	enc, err := lookupCharset(label)
	if err != nil {
		return "", err
	}
	if enc == nil {
		if utf8.Valid(b) {
			return string(b), nil
		}
		if normalizeCharset(label) == "utf-8" {
			return strings.ToValidUTF8(string(b), "\uFFFD"), nil
		}
		enc = charmap.Windows1252
		if f, err := lookupCharset(fallback); err == nil && f != nil {
			enc = f
		}
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return "", fmt.Errorf("bytes are not valid %s: %w", label, err)
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), nil
}

// charsetReader is the CharsetReader of mime.WordDecoder and
// mail.AddressParser: every charset lookupCharset knows.
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	enc, err := lookupCharset(label)
	if err != nil {
		return nil, err
	}
	if enc == nil {
		return r, nil
	}
	return enc.NewDecoder().Reader(r), nil
}
