package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"
)

// File format constants; doc.go describes the layout.
const (
	fileMagic   = "HFSPOOL\x00"
	fileVersion = 1
	fileSuffix  = ".wal"
	headerSize  = 24

	frameHeaderSize   = 8
	commitFlag        = 1 << 31
	commitPayloadSize = 16
	commitWord        = commitFlag | commitPayloadSize
	commitFrameSize   = frameHeaderSize + commitPayloadSize

	// indexInterval is the distance in bytes between two entries of a
	// file's sparse offset index: a 10 GiB spool needs about 40,000 entries
	// (640 KiB), and a Read scans at most this much before its first record.
	indexInterval = 256 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// fileName is the name of the WAL file whose first record has LSN first.
func fileName(first uint64) string { return fmt.Sprintf("%020d%s", first, fileSuffix) }

// parseFileName returns the first LSN encoded in a WAL file name.
func parseFileName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, fileSuffix)
	if !ok || len(base) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(base, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

func appendHeader(b []byte, first uint64) []byte {
	start := len(b)
	b = append(b, fileMagic...)
	b = binary.LittleEndian.AppendUint32(b, fileVersion)
	b = binary.LittleEndian.AppendUint64(b, first)
	return binary.LittleEndian.AppendUint32(b, crc(b[start:]))
}

// checkHeader validates a file header and returns why it is invalid, or "".
func checkHeader(h []byte, first uint64) string {
	switch {
	case len(h) < headerSize:
		return "short file header"
	case string(h[:8]) != fileMagic:
		return "bad magic"
	case binary.LittleEndian.Uint32(h[20:24]) != crc(h[:20]):
		return "file header crc mismatch"
	case binary.LittleEndian.Uint32(h[8:12]) != fileVersion:
		return fmt.Sprintf("unsupported format version %d", binary.LittleEndian.Uint32(h[8:12]))
	case binary.LittleEndian.Uint64(h[12:20]) != first:
		return fmt.Sprintf("header first lsn %d does not match file name", binary.LittleEndian.Uint64(h[12:20]))
	}
	return ""
}

func appendRecord(b, payload []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc(payload))
	return append(b, payload...)
}

func appendCommit(b []byte, first, last uint64) []byte {
	var p [commitPayloadSize]byte
	binary.LittleEndian.PutUint64(p[0:8], first)
	binary.LittleEndian.PutUint64(p[8:16], last)
	b = binary.LittleEndian.AppendUint32(b, commitWord)
	b = binary.LittleEndian.AppendUint32(b, crc(p[:]))
	return append(b, p[:]...)
}

// parseCommit decodes a commit frame payload whose checksum is sum.
func parseCommit(p []byte, sum uint32) (first, last uint64, ok bool) {
	if len(p) != commitPayloadSize || crc(p) != sum {
		return 0, 0, false
	}
	first = binary.LittleEndian.Uint64(p[0:8])
	last = binary.LittleEndian.Uint64(p[8:16])
	return first, last, last >= first
}

// frameError is a frame that cannot be read: truncated, out of range or
// failing its checksum. The caller decides whether it is a torn tail or
// corruption.
type frameError struct {
	off    int64
	reason string
}

func (e *frameError) Error() string { return fmt.Sprintf("offset %d: %s", e.off, e.reason) }

// corrupt wraps ErrCorrupt with the file and offset of a bad frame.
func corrupt(path string, off int64, reason string) error {
	return fmt.Errorf("%s offset %d: %s: %w", path, off, reason, ErrCorrupt)
}

// asCorrupt turns a frameError into ErrCorrupt naming path; other errors
// (I/O) are wrapped with the path.
func asCorrupt(path string, err error) error {
	var fe *frameError
	if errors.As(err, &fe) {
		return corrupt(path, fe.off, fe.reason)
	}
	return fmt.Errorf("read %s: %w", path, err)
}

// frame is one decoded frame header.
type frame struct {
	off    int64  // offset of the frame in its file
	commit bool   // a commit frame rather than a record
	length uint32 // payload length
	sum    uint32 // crc32c of the payload
}

// frameReader reads frames sequentially from [off, end) of a file through a
// buffer, using pread so several readers can share nothing but the inode.
type frameReader struct {
	br  *bufio.Reader
	off int64 // offset of the next unread byte
	end int64
	hdr [frameHeaderSize]byte
	buf []byte // scratch for payloads that are verified but not returned
}

func newFrameReader(f *os.File, off, end int64, bufSize int) *frameReader {
	return &frameReader{
		br:  bufio.NewReaderSize(io.NewSectionReader(f, off, end-off), bufSize),
		off: off,
		end: end,
	}
}

// next reads a frame header. It returns io.EOF exactly at end and a
// frameError for a partial header or an impossible length.
func (r *frameReader) next() (frame, error) {
	if r.off == r.end {
		return frame{}, io.EOF
	}
	fr := frame{off: r.off}
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return fr, r.ioErr(err, "partial frame header")
	}
	r.off += frameHeaderSize
	word := binary.LittleEndian.Uint32(r.hdr[0:4])
	fr.sum = binary.LittleEndian.Uint32(r.hdr[4:8])
	switch {
	case word == commitWord:
		fr.commit, fr.length = true, commitPayloadSize
	case word&commitFlag != 0:
		return fr, &frameError{fr.off, fmt.Sprintf("unknown frame type %#x", word)}
	case word > MaxRecordBytes:
		return fr, &frameError{fr.off, fmt.Sprintf("record length %d exceeds limit", word)}
	default:
		fr.length = word
	}
	if int64(fr.length) > r.end-r.off {
		return fr, &frameError{fr.off, fmt.Sprintf("frame length %d runs past the end of the file", fr.length)}
	}
	return fr, nil
}

// payload reads the payload of fr into dst (grown as needed) and verifies
// its checksum.
func (r *frameReader) payload(fr frame, dst []byte) ([]byte, error) {
	if cap(dst) < int(fr.length) {
		dst = make([]byte, fr.length)
	}
	dst = dst[:fr.length]
	if _, err := io.ReadFull(r.br, dst); err != nil {
		return nil, r.ioErr(err, "partial payload")
	}
	r.off += int64(fr.length)
	if crc(dst) != fr.sum {
		if fr.commit {
			return nil, &frameError{fr.off, "commit frame crc mismatch"}
		}
		return nil, &frameError{fr.off, "record crc mismatch"}
	}
	return dst, nil
}

// scratch reads and verifies a payload into the reader's own buffer.
func (r *frameReader) scratch(fr frame) ([]byte, error) {
	p, err := r.payload(fr, r.buf)
	if err == nil {
		r.buf = p[:0]
	}
	return p, err
}

// skip discards the payload of fr without verifying it.
func (r *frameReader) skip(fr frame) error {
	if _, err := r.br.Discard(int(fr.length)); err != nil {
		return r.ioErr(err, "partial payload")
	}
	r.off += int64(fr.length)
	return nil
}

func (r *frameReader) ioErr(err error, reason string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &frameError{r.off, reason}
	}
	return err
}

// commitFrame reads a commit frame's payload and checks that it closes the
// batch ending at LSN last.
func (r *frameReader) commitFrame(fr frame, last uint64) (first uint64, err error) {
	p, err := r.scratch(fr)
	if err != nil {
		return 0, err
	}
	first, end, ok := parseCommit(p, fr.sum)
	if !ok || end != last {
		return 0, &frameError{fr.off, fmt.Sprintf("commit frame for lsn %d..%d does not close lsn %d", first, end, last)}
	}
	return first, nil
}
