package cluster

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// After the handshake every byte between members crosses in sealed
// records, whatever runs on top (raft's NetworkTransport or the cluster
// RPC), with or without operator TLS underneath:
//
//	record = length ‖ AES-256-GCM(key, nonce = 0⁴ ‖ seq⁸, plaintext, ad = length)
//
// length is the 4-byte big-endian size of the ciphertext (tag included).
// Each direction has its own key (handshake.go) and counts its records
// from 1 (the server's 0 is the handshake's confirm), and the sequence
// number is never sent: a record altered, dropped, replayed, reordered or
// moved to another connection fails to open, and the connection is closed
// before a byte of it reaches the service. A stream cut at a record
// boundary reads as the peer closing; the services frame their messages,
// so a cut message is a truncated message to them.
const (
	// maxRecordPlain is the most plaintext one record carries.
	maxRecordPlain = 32 << 10
	// gcmTagLen is AES-GCM's authentication tag.
	gcmTagLen = 16
	// recordHeaderLen is the length prefix of a record.
	recordHeaderLen = 4
)

// errTampered is a record that failed authentication: altered, replayed or
// reordered on the path, or sent by someone without the session keys.
var errTampered = errors.New("cluster frame failed authentication (altered on the path?)")

// recordNonce is the GCM nonce of record seq.
func recordNonce(seq uint64) []byte {
	var n [12]byte
	binary.BigEndian.PutUint64(n[4:], seq)
	return n[:]
}

// sealedConn seals what is written to it and opens what is read from it.
// Reads and writes may run concurrently with each other and with Close.
// A read interrupted by a deadline may be retried (a partly read record is
// kept); any other read error, and every write error, is final.
type sealedConn struct {
	net.Conn
	onTamper func(error) // called once, when a record fails to open

	rmu   sync.Mutex
	open  cipher.AEAD
	rseq  uint64
	raw   []byte // a record being read: header, then ciphertext
	plain []byte // opened, not yet returned
	rerr  error  // final read error

	wmu  sync.Mutex
	seal cipher.AEAD
	wseq uint64
	wbuf []byte
	werr error // final write error
}

// newSealedConn wraps conn with the session s agreed on it.
func newSealedConn(conn net.Conn, s *session, onTamper func(error)) *sealedConn {
	return &sealedConn{
		Conn: conn, onTamper: onTamper,
		open: s.recv, rseq: 1,
		seal: s.send, wseq: 1,
		raw: make([]byte, 0, recordHeaderLen+maxRecordPlain+gcmTagLen),
	}
}

// Read returns opened plaintext.
func (c *sealedConn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.plain) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if err := c.readRecord(); err != nil {
			return 0, err
		}
	}
	n := copy(b, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

// readRecord reads and opens the next record into c.plain.
func (c *sealedConn) readRecord() error {
	if err := c.fill(recordHeaderLen); err != nil {
		return err
	}
	size := int(binary.BigEndian.Uint32(c.raw[:recordHeaderLen]))
	if size < gcmTagLen || size > maxRecordPlain+gcmTagLen {
		return c.tampered(fmt.Errorf("%w: record of %d bytes", errTampered, size))
	}
	if err := c.fill(recordHeaderLen + size); err != nil {
		return err
	}
	hdr, body := c.raw[:recordHeaderLen], c.raw[recordHeaderLen:]
	plain, err := c.open.Open(body[:0], recordNonce(c.rseq), body, hdr)
	if err != nil {
		return c.tampered(fmt.Errorf("%w: record %d", errTampered, c.rseq))
	}
	c.rseq++
	c.raw = c.raw[:0]
	c.plain = plain
	return nil
}

// fill reads until c.raw holds n bytes. A timeout keeps what was read; any
// other error is final.
func (c *sealedConn) fill(n int) error {
	for len(c.raw) < n {
		m, err := c.Conn.Read(c.raw[len(c.raw):n])
		c.raw = c.raw[:len(c.raw)+m]
		if err != nil {
			if errors.Is(err, io.EOF) && len(c.raw) > 0 {
				err = fmt.Errorf("cluster connection cut mid-record: %w", io.ErrUnexpectedEOF)
			}
			if !isTimeout(err) {
				c.rerr = err
			}
			return err
		}
	}
	return nil
}

// tampered makes err final, reports it and closes the connection.
func (c *sealedConn) tampered(err error) error {
	c.rerr = err
	if c.onTamper != nil {
		c.onTamper(err)
	}
	_ = c.Conn.Close()
	return err
}

// Write seals b into as many records as it takes and sends them.
func (c *sealedConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	written := 0
	for len(b) > 0 {
		chunk := b[:min(len(b), maxRecordPlain)]
		var hdr [recordHeaderLen]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(chunk)+gcmTagLen))
		c.wbuf = c.seal.Seal(append(c.wbuf[:0], hdr[:]...), recordNonce(c.wseq), chunk, hdr[:])
		if _, err := c.Conn.Write(c.wbuf); err != nil {
			// A record may be partly out, and its sequence number must
			// never seal other bytes: the stream cannot go on.
			c.werr = err
			return written, err
		}
		c.wseq++
		written += len(chunk)
		b = b[len(chunk):]
	}
	return written, nil
}
