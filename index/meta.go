package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The side file, Dir/meta.db, holds what bleve cannot answer in O(1): the
// checkpoint and, per message id, which versions are indexed and in which
// partition. It is written once per segment, in the same transaction as the
// checkpoint, after the segment's documents are persisted.
const metaFile = "meta.db"

var (
	bucketMeta     = []byte("meta")
	bucketVersions = []byte("versions")

	keyCheckpoint = []byte("checkpoint")
	keyRebuilt    = []byte("rebuilt")
)

// verLoc is one indexed version of a message and the month partition that
// holds it.
type verLoc struct {
	v     int
	month int
}

// versions lists the indexed versions of one message id, ascending.
type versions []verLoc

// max returns the highest indexed version.
func (vs versions) max() (verLoc, bool) {
	if len(vs) == 0 {
		return verLoc{}, false
	}
	return vs[len(vs)-1], true
}

// find returns the position of version v.
func (vs versions) find(v int) (int, bool) {
	return slices.BinarySearchFunc(vs, v, func(e verLoc, v int) int { return e.v - v })
}

// put records version v in month, replacing its month if v is known.
func (vs versions) put(v, month int) versions {
	i, ok := vs.find(v)
	if ok {
		vs[i].month = month
		return vs
	}
	return slices.Insert(vs, i, verLoc{v: v, month: month})
}

// remove forgets version v.
func (vs versions) remove(v int) versions {
	if i, ok := vs.find(v); ok {
		return slices.Delete(vs, i, i+1)
	}
	return vs
}

func (vs versions) encode() []byte {
	b := make([]byte, 0, 4*len(vs))
	for _, e := range vs {
		b = binary.AppendUvarint(b, uint64(e.v))
		b = binary.AppendUvarint(b, uint64(e.month))
	}
	return b
}

func decodeVersions(b []byte) (versions, error) {
	var vs versions
	for len(b) > 0 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errCorruptMeta
		}
		b = b[n:]
		m, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errCorruptMeta
		}
		b = b[n:]
		vs = append(vs, verLoc{v: int(v), month: int(m)})
	}
	return vs, nil
}

var errCorruptMeta = errors.New("index: corrupt side record")

// openMeta opens (creating) the side file in dir. A second process opening
// the same directory fails after a second instead of waiting forever.
func openMeta(dir string) (*bolt.DB, uint64, error) {
	db, err := bolt.Open(filepath.Join(dir, metaFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", metaFile, err)
	}
	var cp uint64
	err = db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketVersions); err != nil {
			return err
		}
		if b := m.Get(keyCheckpoint); len(b) == 8 {
			cp = binary.BigEndian.Uint64(b)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, 0, fmt.Errorf("init %s: %w", metaFile, err)
	}
	return db, cp, nil
}

// loadVersions reads the side records of ids into into (ids already
// present in into are left alone).
func loadVersions(db *bolt.DB, ids []string, into map[string]versions) error {
	return db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVersions)
		for _, id := range ids {
			if _, ok := into[id]; ok {
				continue
			}
			vs, err := decodeVersions(b.Get([]byte(id)))
			if err != nil {
				return fmt.Errorf("side record of %s: %w", id, err)
			}
			into[id] = vs
		}
		return nil
	})
}

// commitVersions writes the changed side records (an empty record deletes
// the id) and, when seq is above it, the checkpoint, in one synced
// transaction. Keys are written in order: bbolt splits pages only at
// commit, so many random keys landing in one page would cost quadratic
// time.
func commitVersions(db *bolt.DB, changed map[string]versions, seq uint64) error {
	ids := make([]string, 0, len(changed))
	for id := range changed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVersions)
		for _, id := range ids {
			vs := changed[id]
			var err error
			if len(vs) == 0 {
				err = b.Delete([]byte(id))
			} else {
				err = b.Put([]byte(id), vs.encode())
			}
			if err != nil {
				return err
			}
		}
		if seq == 0 {
			return nil
		}
		m := tx.Bucket(bucketMeta)
		if old := m.Get(keyCheckpoint); len(old) == 8 && binary.BigEndian.Uint64(old) >= seq {
			return nil
		}
		return m.Put(keyCheckpoint, binary.BigEndian.AppendUint64(nil, seq))
	})
}

// RebuildInfo says that an index was built by Rebuild, when, and from how
// many segments.
type RebuildInfo struct {
	At       time.Time `json:"at"`
	Segments int       `json:"segments"`
	Records  int       `json:"records"`
	// Skipped are the segments left out because storage holds them
	// corrupt.
	Skipped []SkippedSegment `json:"skipped,omitempty"`
}

// SkippedSegment is a segment a rebuild left out, and why.
type SkippedSegment struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}
