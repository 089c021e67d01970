package cluster

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// logStore is raft's log store and stable store in one bbolt file
// (raft.db). It keeps raft-boltdb's layout: bucket "logs" maps an 8-byte
// big-endian index to the msgpack-encoded raft.Log, bucket "conf" holds the
// stable keys.
//
// Why not raft-boltdb itself: v1 (the only version that resolves here) is
// built on github.com/boltdb/bolt 1.3.1, which aborts under the race
// detector ("checkptr: converted pointer straddles multiple allocations",
// hashicorp/raft-boltdb#35, #45), so no package that opens a Node could be
// tested with -race. raft-boltdb v2 fixed that by moving to go.etcd.io/bbolt,
// as this store does; its file layout is the same, so switching to
// raftboltdb/v2 once it resolves is a one-line change in open.
type logStore struct {
	db *bolt.DB
}

var (
	_ raft.LogStore    = (*logStore)(nil)
	_ raft.StableStore = (*logStore)(nil)

	bucketLogs = []byte("logs")
	bucketConf = []byte("conf")

	// errKeyNotFound is what a StableStore returns for a missing key: raft
	// matches the message "not found" itself.
	errKeyNotFound = errors.New("not found")
)

// openLogStore opens (creating if needed) the raft store at path. Every
// write is an fsync'd bbolt transaction.
func openLogStore(path string) (*logStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        boltOpenTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open raft store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketLogs); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketConf)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open raft store %s: %w", path, err)
	}
	return &logStore{db: db}, nil
}

// Close closes the file.
func (s *logStore) Close() error { return s.db.Close() }

// FirstIndex returns the first index in the log, 0 if it is empty.
func (s *logStore) FirstIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketLogs).Cursor().First()
		idx = getU64(k)
		return nil
	})
	return idx, err
}

// LastIndex returns the last index in the log, 0 if it is empty.
func (s *logStore) LastIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketLogs).Cursor().Last()
		idx = getU64(k)
		return nil
	})
	return idx, err
}

// GetLog reads the entry at index into log.
func (s *logStore) GetLog(index uint64, log *raft.Log) error {
	return s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketLogs).Get(u64(index))
		if v == nil {
			return raft.ErrLogNotFound
		}
		// Decoding from a reader (as raft-boltdb does) copies every byte
		// slice out of v, which is only valid inside this transaction.
		return codec.NewDecoder(bytes.NewReader(v), msgpackHandle()).Decode(log)
	})
}

// StoreLog stores one entry.
func (s *logStore) StoreLog(log *raft.Log) error {
	return s.StoreLogs([]*raft.Log{log})
}

// StoreLogs stores entries in one transaction.
func (s *logStore) StoreLogs(logs []*raft.Log) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLogs)
		b.FillPercent = 1 // indexes only grow
		var buf bytes.Buffer
		for _, l := range logs {
			buf.Reset()
			if err := codec.NewEncoder(&buf, msgpackHandle()).Encode(l); err != nil {
				return fmt.Errorf("encode raft log %d: %w", l.Index, err)
			}
			if err := b.Put(u64(l.Index), bytes.Clone(buf.Bytes())); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteRange deletes the entries from min to max inclusive.
func (s *logStore) DeleteRange(min, max uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLogs)
		// Collect first: deleting under a moving cursor can skip keys.
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(u64(min)); k != nil && getU64(k) <= max; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// Set stores a stable key.
func (s *logStore) Set(key, val []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketConf).Put(key, val)
	})
}

// Get reads a stable key.
func (s *logStore) Get(key []byte) ([]byte, error) {
	var val []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketConf).Get(key)
		if v == nil {
			return errKeyNotFound
		}
		val = bytes.Clone(v)
		return nil
	})
	return val, err
}

// SetUint64 stores a stable counter.
func (s *logStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, u64(val))
}

// GetUint64 reads a stable counter.
func (s *logStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	return getU64(v), nil
}

// msgpackHandle encodes like raft and raft-boltdb: AppendedAt as a
// msgpack extension-free binary time.
func msgpackHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.TimeNotBuiltin = true
	return h
}
