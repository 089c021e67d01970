package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Segment object layout
//
//	[zstd frame: NDJSON lines]...[skippable frame: manifest JSON][skippable frame: trailer]
//
// Every data frame is an independent zstd frame of whole lines, so one record
// is one ranged GET and one frame decode away, and `zstdcat seg | jq` reads
// the whole segment: zstd skips skippable frames. The trailer is the last
// TrailerSize bytes and locates the manifest.

const (
	// SegmentFormat is the version of the layout written by SegmentWriter.
	// Format 1 kept the manifest JSON as is in its skippable frame; from
	// format 2 it is zstd-compressed there (as it is, a manifest entry is
	// larger than its record compressed). Readers accept both.
	SegmentFormat = 2
	// DefaultFrameBytes is the uncompressed size at which a data frame is
	// closed: small enough that reading one record fetches little, large
	// enough to compress well.
	DefaultFrameBytes = 64 << 10
	// TrailerSize is the size of the trailer frame at the end of a segment.
	TrailerSize = 8 + 16

	manifestMagic = 0x184D2A5E // zstd skippable frame, nibble E
	trailerMagic  = 0x184D2A5F // zstd skippable frame, nibble F
)

// ManifestEntry locates one record inside a segment.
type ManifestEntry struct {
	ID      string `json:"id"`
	Version int    `json:"v"`
	SHA256  string `json:"sha256"`
	// FrameOffset and FrameLength locate the compressed frame in the object.
	FrameOffset int64 `json:"frame_off"`
	FrameLength int64 `json:"frame_len"`
	// Pos and Len locate the JSON line inside the decompressed frame.
	Pos int `json:"pos"`
	Len int `json:"len"`
}

// Manifest lists every record of a segment.
type Manifest struct {
	Format      int             `json:"format"`
	Tenant      string          `json:"tenant"`
	RetainUntil time.Time       `json:"retain_until"`
	Records     []ManifestEntry `json:"records"`
}

// Codec compresses and decompresses segment frames. One Codec is safe for
// concurrent use; Close releases its workers.
type Codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// NewCodec returns a Codec.
func NewCodec() (*Codec, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("new zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("new zstd decoder: %w", err)
	}
	return &Codec{enc: enc, dec: dec}, nil
}

// Close releases the codec's resources.
func (c *Codec) Close() {
	c.enc.Close()
	c.dec.Close()
}

// SegmentWriter builds one segment in memory.
type SegmentWriter struct {
	codec      *Codec
	frameBytes int
	out        bytes.Buffer
	frame      []byte
	pending    []ManifestEntry // entries of the open frame
	manifest   Manifest
	raw        int64
}

// NewWriter starts a segment for tenant whose data frames close at about
// frameBytes of uncompressed lines (DefaultFrameBytes when 0).
func (c *Codec) NewWriter(tenant string, frameBytes int) *SegmentWriter {
	if frameBytes <= 0 {
		frameBytes = DefaultFrameBytes
	}
	return &SegmentWriter{
		codec:      c,
		frameBytes: frameBytes,
		manifest:   Manifest{Format: SegmentFormat, Tenant: tenant},
	}
}

// Add appends one record. line is the record's JSON without a newline.
func (w *SegmentWriter) Add(id string, version int, sha string, retainUntil time.Time, line []byte) {
	w.pending = append(w.pending, ManifestEntry{ID: id, Version: version, SHA256: sha, Pos: len(w.frame), Len: len(line)})
	w.frame = append(w.frame, line...)
	w.frame = append(w.frame, '\n')
	w.raw += int64(len(line) + 1)
	if retainUntil.After(w.manifest.RetainUntil) {
		w.manifest.RetainUntil = retainUntil.UTC()
	}
	if len(w.frame) >= w.frameBytes {
		w.flush()
	}
}

// Count is the number of records added.
func (w *SegmentWriter) Count() int { return len(w.manifest.Records) + len(w.pending) }

// RawBytes is the uncompressed size of the records added.
func (w *SegmentWriter) RawBytes() int64 { return w.raw }

func (w *SegmentWriter) flush() {
	if len(w.frame) == 0 {
		return
	}
	off := int64(w.out.Len())
	compressed := w.codec.enc.EncodeAll(w.frame, nil)
	w.out.Write(compressed)
	for i := range w.pending {
		w.pending[i].FrameOffset = off
		w.pending[i].FrameLength = int64(len(compressed))
	}
	w.manifest.Records = append(w.manifest.Records, w.pending...)
	w.pending = w.pending[:0]
	w.frame = w.frame[:0]
}

// Sealed is a finished segment object.
type Sealed struct {
	Data           []byte
	SHA256         string
	Manifest       Manifest
	ManifestOffset int64
	ManifestLength int64
}

// Finish closes the last frame and appends the manifest and trailer.
func (w *SegmentWriter) Finish() (Sealed, error) {
	w.flush()
	mj, err := json.Marshal(w.manifest)
	if err != nil {
		return Sealed{}, fmt.Errorf("encode manifest: %w", err)
	}
	moff := int64(w.out.Len())
	writeSkippable(&w.out, manifestMagic, w.codec.enc.EncodeAll(mj, nil))
	mlen := int64(w.out.Len()) - moff
	var tr [16]byte
	binary.LittleEndian.PutUint64(tr[0:], uint64(moff))
	binary.LittleEndian.PutUint64(tr[8:], uint64(mlen))
	writeSkippable(&w.out, trailerMagic, tr[:])
	data := w.out.Bytes()
	sum := sha256.Sum256(data)
	return Sealed{
		Data: data, SHA256: hex.EncodeToString(sum[:]), Manifest: w.manifest,
		ManifestOffset: moff, ManifestLength: mlen,
	}, nil
}

func writeSkippable(b *bytes.Buffer, magic uint32, payload []byte) {
	var h [8]byte
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(payload)))
	b.Write(h[:])
	b.Write(payload)
}

// ParseTrailer returns the manifest's offset and length from the last
// TrailerSize bytes of a segment.
func ParseTrailer(tail []byte) (off, length int64, err error) {
	if len(tail) != TrailerSize || binary.LittleEndian.Uint32(tail) != trailerMagic ||
		binary.LittleEndian.Uint32(tail[4:]) != 16 {
		return 0, 0, fmt.Errorf("segment trailer: %w", ErrCorrupt)
	}
	return int64(binary.LittleEndian.Uint64(tail[8:])), int64(binary.LittleEndian.Uint64(tail[16:])), nil
}

// ParseManifest decodes the manifest frame.
func ParseManifest(frame []byte) (Manifest, error) { return parseManifest(frame, nil) }

// parseManifest decodes the manifest frame, decompressing a compressed
// manifest with dec, or with a decoder made for the call when dec is nil.
func parseManifest(frame []byte, dec *zstd.Decoder) (Manifest, error) {
	var m Manifest
	if len(frame) < 8 || binary.LittleEndian.Uint32(frame) != manifestMagic ||
		int(binary.LittleEndian.Uint32(frame[4:])) != len(frame)-8 {
		return m, fmt.Errorf("segment manifest frame: %w", ErrCorrupt)
	}
	payload := frame[8:]
	compressed := len(payload) >= 4 && binary.LittleEndian.Uint32(payload) == zstdMagic
	if compressed {
		if dec == nil {
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxManifestBytes))
			if err != nil {
				return m, fmt.Errorf("segment manifest: %w", err)
			}
			defer d.Close()
			dec = d
		}
		var err error
		if payload, err = dec.DecodeAll(payload, nil); err != nil {
			return m, fmt.Errorf("segment manifest: %w: %w", err, ErrCorrupt)
		}
	}
	if err := json.Unmarshal(payload, &m); err != nil {
		return m, fmt.Errorf("segment manifest: %w: %w", err, ErrCorrupt)
	}
	if want := manifestFormat(compressed); m.Format != want {
		return m, fmt.Errorf("segment manifest format %d (compressed %v): %w", m.Format, compressed, ErrCorrupt)
	}
	return m, nil
}

const (
	// zstdMagic opens every zstd frame.
	zstdMagic = 0xFD2FB528
	// maxManifestBytes bounds a manifest's decompressed size: far above
	// what a segment of segment.max_bytes lists.
	maxManifestBytes = 1 << 30
)

// manifestFormat is the segment format whose manifest is (or is not)
// compressed.
func manifestFormat(compressed bool) int {
	if compressed {
		return SegmentFormat
	}
	return 1
}

// SegmentManifest reads the manifest of a whole segment object in memory.
func SegmentManifest(data []byte) (Manifest, error) { return segmentManifest(data, nil) }

// segmentManifest is SegmentManifest decompressing with dec (see
// parseManifest).
func segmentManifest(data []byte, dec *zstd.Decoder) (Manifest, error) {
	if len(data) < TrailerSize {
		return Manifest{}, fmt.Errorf("segment of %d bytes: %w", len(data), ErrCorrupt)
	}
	off, n, err := ParseTrailer(data[len(data)-TrailerSize:])
	if err != nil {
		return Manifest{}, err
	}
	if off < 0 || n < 8 || off+n > int64(len(data)) {
		return Manifest{}, fmt.Errorf("manifest at %d+%d: %w", off, n, ErrCorrupt)
	}
	return parseManifest(data[off:off+n], dec)
}

// Record decodes the line of e from its compressed frame and checks its
// hash against the manifest.
func (c *Codec) Record(frame []byte, e ManifestEntry) (Message, []byte, error) {
	plain, err := c.dec.DecodeAll(frame, nil)
	if err != nil {
		return Message{}, nil, fmt.Errorf("decode frame of %s v%d: %w: %w", e.ID, e.Version, err, ErrCorrupt)
	}
	return recordIn(plain, e)
}

// recordIn decodes the line of e from its decompressed frame, checking that
// it is the version e names, with e's hash, and that the hash holds.
func recordIn(plain []byte, e ManifestEntry) (Message, []byte, error) {
	if e.Pos < 0 || e.Len < 0 || e.Pos+e.Len > len(plain) {
		return Message{}, nil, fmt.Errorf("record %s v%d outside its frame: %w", e.ID, e.Version, ErrCorrupt)
	}
	line := plain[e.Pos : e.Pos+e.Len]
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		return Message{}, nil, fmt.Errorf("decode record %s v%d: %w: %w", e.ID, e.Version, err, ErrCorrupt)
	}
	if m.ID != e.ID || m.Version != e.Version || m.SHA256 != e.SHA256 {
		return Message{}, nil, fmt.Errorf("record at %s v%d is %s v%d: %w", e.ID, e.Version, m.ID, m.Version, ErrCorrupt)
	}
	if err := m.Verify(); err != nil {
		return Message{}, nil, err
	}
	return m, line, nil
}

// Scan decodes every record of a whole segment object in manifest order,
// checking each as Record does, and calls fn with the record, its line
// (valid only during the call) and its manifest entry until fn returns an
// error.
func (c *Codec) Scan(data []byte, fn func(Message, []byte, ManifestEntry) error) error {
	return c.ScanEach(data, func(m Message, line []byte, e ManifestEntry, err error) error {
		if err != nil {
			return err
		}
		return fn(m, line, e)
	})
}

// VerifyObject checks that data hashes to sha (hex).
func VerifyObject(data []byte, sha string) error {
	return CheckSHA256(bytes.NewReader(data), sha)
}
