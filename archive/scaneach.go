package archive

import "fmt"

// ScanEach decodes every record of a whole segment object in manifest
// order, as Scan does, but goes on past a record that fails its checks:
// fn gets each record with its line and manifest entry, and err set when
// that record is corrupt (its line, when it lies inside its frame, is
// still handed over so that a verifier can say which record it was). A
// frame that does not decompress fails each of its records. ScanEach
// stops when fn returns an error, and fails only when the manifest is
// unreadable.
func (c *Codec) ScanEach(data []byte, fn func(m Message, line []byte, e ManifestEntry, err error) error) error {
	man, err := segmentManifest(data, c.dec)
	if err != nil {
		return err
	}
	var (
		plain    []byte
		frameAt  int64 = -1
		frameErr error
	)
	for _, e := range man.Records {
		if e.FrameOffset != frameAt {
			frameAt, frameErr = e.FrameOffset, nil
			if e.FrameOffset < 0 || e.FrameLength < 0 || e.FrameOffset+e.FrameLength > int64(len(data)) {
				frameErr = fmt.Errorf("frame of %s v%d outside the segment: %w", e.ID, e.Version, ErrCorrupt)
			} else if plain, err = c.dec.DecodeAll(data[e.FrameOffset:e.FrameOffset+e.FrameLength], plain[:0]); err != nil {
				frameErr = fmt.Errorf("decode frame at %d: %w: %w", e.FrameOffset, err, ErrCorrupt)
			}
		}
		if frameErr != nil {
			if err := fn(Message{}, nil, e, frameErr); err != nil {
				return err
			}
			continue
		}
		m, line, rerr := recordIn(plain, e)
		if rerr != nil && e.Pos >= 0 && e.Len >= 0 && e.Pos+e.Len <= len(plain) {
			line = plain[e.Pos : e.Pos+e.Len]
		}
		if err := fn(m, line, e, rerr); err != nil {
			return err
		}
	}
	return nil
}
