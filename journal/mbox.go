package journal

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ReadMbox reads a mailbox in the mbox format (mboxrd or mboxo) and calls
// fn with one Item per message, in file order: its Record, or in Err the
// *Error that rejects it (a rejected message does not stop the import).
// Where is "mbox:N", N counting messages from 1; Record.Line is the line
// of the message's first header.
//
// A message starts at a "From " line that begins the file or follows a
// blank line; the blank line before the next "From " line belongs to the
// separator. Body lines quoted as ">From ", ">>From "... lose one '>'
// (mboxrd; for mboxo this also unquotes a body line that was written
// ">>From " in the first place, which mboxo cannot tell apart). The
// address on the "From " line is the envelope sender of a message that has
// neither From nor Sender. A message larger than DefaultMaxEmailBytes is
// rejected (KindTooLarge) without being held in memory.
//
// ReadMbox returns fn's first error, a read error, or an *Error when the
// input does not start with a "From " line (it is not an mbox).
func ReadMbox(r io.Reader, tenant string, lim Limits, now time.Time, fn func(Item) error) error {
	sc := &mboxScanner{br: bufio.NewReaderSize(r, 64<<10), max: DefaultMaxEmailBytes}
	for n := 1; ; n++ {
		m, err := sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		it := Item{Where: fmt.Sprintf("mbox:%d", n), Bytes: m.bytes}
		if m.tooLarge {
			it.Err = &Error{Kind: KindTooLarge, Field: "message", Line: m.line,
				Msg: fmt.Sprintf("message is more than the %d bytes allowed", sc.max)}
		} else {
			it.Record, it.Err = ParseEmail(m.data, EmailOptions{
				Tenant: tenant, Limits: lim, MaxBytes: sc.max, Now: now, EnvelopeFrom: m.envelopeFrom, Line: m.line,
			})
		}
		if err := fn(it); err != nil {
			return err
		}
	}
}

// mboxMessage is one message of an mbox, unquoted.
type mboxMessage struct {
	data         []byte
	envelopeFrom string
	// line is the line of the message's first header.
	line     int
	bytes    int64
	tooLarge bool
}

// mboxScanner splits an mbox into messages, line by line, holding at most
// one message (up to max bytes) in memory.
type mboxScanner struct {
	br  *bufio.Reader
	max int64
	// line counts the lines read.
	line int
	// sep is the "From " line that starts the next message; sepSeen is
	// false before the first one is read, done after the last message.
	sep     []byte
	sepSize int64
	sepSeen bool
	done    bool
}

// next returns the next message, or io.EOF after the last one.
func (s *mboxScanner) next() (*mboxMessage, error) {
	if !s.sepSeen {
		if err := s.first(); err != nil {
			return nil, err
		}
	}
	if s.done {
		return nil, io.EOF
	}
	m := &mboxMessage{line: s.line + 1, bytes: s.sepSize, envelopeFrom: envelopeSender(s.sep)}
	var buf bytes.Buffer
	prevBlank, lastBlank := false, 0
	for {
		l, size, truncated, err := s.readLine()
		if err == io.EOF {
			s.done = true
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read mbox line %d: %w", s.line, err)
		}
		if prevBlank && bytes.HasPrefix(l, []byte("From ")) {
			s.sep, s.sepSize = l, size
			break
		}
		m.bytes += size
		prevBlank = isBlankLine(l)
		lastBlank = 0
		if prevBlank {
			lastBlank = len(l)
		}
		if truncated || int64(buf.Len()+len(l)) > s.max {
			m.tooLarge = true
		}
		if !m.tooLarge {
			buf.Write(unquoteFrom(l))
		}
	}
	// The blank line before a separator (or at the end) belongs to it.
	m.data = buf.Bytes()[:max(0, buf.Len()-lastBlank)]
	return m, nil
}

// first reads up to the first "From " line: blank lines may come before
// it, anything else means the input is not an mbox.
func (s *mboxScanner) first() error {
	s.sepSeen = true
	for {
		l, size, _, err := s.readLine()
		if err == io.EOF {
			s.done = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("read mbox line %d: %w", s.line, err)
		}
		if bytes.HasPrefix(l, []byte("From ")) {
			s.sep, s.sepSize = l, size
			return nil
		}
		if !isBlankLine(l) {
			return &Error{Kind: KindSyntax, Field: "mbox", Line: s.line,
				Msg: fmt.Sprintf("line %d does not start with \"From \": the input is not an mbox", s.line)}
		}
	}
}

// readLine returns the next line with its line ending and its size; a
// line longer than max is cut (truncated true) and the rest of it skipped.
func (s *mboxScanner) readLine() (line []byte, size int64, truncated bool, err error) {
	for {
		frag, err := s.br.ReadSlice('\n')
		size += int64(len(frag))
		if int64(len(line)+len(frag)) <= s.max && !truncated {
			line = append(line, frag...)
		} else {
			truncated = true
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && size > 0:
		case err != nil:
			return nil, 0, false, err
		}
		s.line++
		return line, size, truncated, nil
	}
}

func isBlankLine(l []byte) bool {
	return len(bytes.TrimRight(l, "\r\n")) == 0
}

// unquoteFrom removes one '>' from a body line quoted as ">From ",
// ">>From "...
func unquoteFrom(l []byte) []byte {
	i := 0
	for i < len(l) && l[i] == '>' {
		i++
	}
	if i > 0 && bytes.HasPrefix(l[i:], []byte("From ")) {
		return l[1:]
	}
	return l
}

// envelopeSender is the address of a "From sender date" separator line
// when it is one (not MAILER-DAEMON).
func envelopeSender(sep []byte) string {
	f := strings.Fields(string(bytes.TrimPrefix(sep, []byte("From "))))
	if len(f) > 0 && strings.Contains(f[0], "@") {
		return f[0]
	}
	return ""
}

// ReadEML reads one message file (.eml) and calls fn with its Item; name
// is the Item's Where. A "From " line before the header (a message saved
// from an mbox) is skipped, its address the envelope sender. A message
// larger than DefaultMaxEmailBytes is rejected (KindTooLarge) without
// being read whole.
func ReadEML(r io.Reader, name, tenant string, lim Limits, now time.Time, fn func(Item) error) error {
	data, err := io.ReadAll(io.LimitReader(r, DefaultMaxEmailBytes+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	it := Item{Where: name, Bytes: int64(len(data))}
	if int64(len(data)) > DefaultMaxEmailBytes {
		rest, err := io.Copy(io.Discard, r)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		it.Bytes += rest
		it.Err = &Error{Kind: KindTooLarge, Field: "message",
			Msg: fmt.Sprintf("%s is %d bytes, more than the %d allowed", name, it.Bytes, DefaultMaxEmailBytes)}
		return fn(it)
	}
	opts := EmailOptions{Tenant: tenant, Limits: lim, MaxBytes: DefaultMaxEmailBytes, Now: now, Line: 1}
	if bytes.HasPrefix(data, []byte("From ")) {
		// A message saved from an mbox keeps its separator line.
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data, opts.EnvelopeFrom, opts.Line = rest, envelopeSender(line), 2
	}
	it.Record, it.Err = ParseEmail(data, opts)
	return fn(it)
}

// ReadEMLPath reads path, a .eml file or a directory, and calls fn with one
// Item per message. A directory is walked in lexical order, subdirectories
// included, and every file whose name ends in .eml (any case) is read;
// Where is the file's path. The order is the same on every run, so that an
// interrupted import can resume by skipping the items it already sent.
func ReadEMLPath(path, tenant string, lim Limits, now time.Time, fn func(Item) error) error {
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (p != path && !strings.EqualFold(filepath.Ext(p), ".eml")) {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return ReadEML(f, p, tenant, lim, now, fn)
	})
}
