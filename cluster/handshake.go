package cluster

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// The services a client chooses, with the third message of the handshake.
const (
	serviceRaft byte = 'R' // raft's NetworkTransport
	serviceRPC  byte = 'C' // the cluster RPC (rpc.go)
)

// The handshake authenticates both ends of a cluster connection with the
// shared secret, which never crosses the wire, and agrees on the keys that
// encrypt and authenticate everything after it (seal.go):
//
//	client → server  "HFC2" ‖ Nc                                (32-byte random nonce)
//	server → client  "HFS2" ‖ Ns ‖ HMAC(K, "…server" ‖ Nc ‖ Ns)
//	client → server  service ‖ Ec ‖ HMAC(K, "…client" ‖ Nc ‖ Ns ‖ service ‖ Ec)
//	server → client  ack, and with ackOK: Es ‖ confirm
//
// K is the secret, HMAC is HMAC-SHA256, Ec and Es are the X25519 public
// keys of the two processes (kex.go). Each side proves it knows K
// over a nonce the other side just chose, so a recorded handshake replayed
// on a new connection fails (the server's Ns differs), and the distinct
// labels keep one side's proof from being reflected as the other's. The
// service byte and Ec are inside the client's MAC, so they cannot be
// swapped in flight. On a mismatch the server closes the connection
// without an ack: raft never sees a byte from a peer that does not know
// the secret. A client that finds the server's MAC wrong sends
// alertWrongSecret instead of its proof, so that the server's log says
// "different secret" only when it is so, and "hung up" when the peer
// merely went away (it gave up waiting on a node stopped by SIGSTOP).
//
// The session keys are HKDF-SHA256 of X25519(e, E) ‖ K, salted with the
// hash of the whole transcript, one key per direction, for AES-256-GCM.
// Both ends' nonces are fresh, so every connection has keys of its own;
// the private keys live only in the processes' memory, so traffic recorded
// today stays unreadable to someone who learns K later, once either end
// has restarted. confirm is the server's first sealed record (empty,
// sequence 0): it
// proves to the client that the server derived the same keys, so an Es
// swapped in flight is caught in the handshake rather than on first use.
const (
	nonceLen = 32
	macLen   = sha256.Size
	pubLen   = 32 // an X25519 public key

	// clientHandshakeLen is how many bytes a client sends in a handshake.
	clientHandshakeLen = 4 + nonceLen + 1 + pubLen + macLen

	labelServer     = "holdfast-cluster/2 server"
	labelClient     = "holdfast-cluster/2 client"
	labelTranscript = "holdfast-cluster/2 transcript"
	labelC2S        = "holdfast-cluster/2 client to server"
	labelS2C        = "holdfast-cluster/2 server to client"

	ackOK             byte = 1
	ackUnknownService byte = 2

	// alertWrongSecret is what a client sends instead of its proof when the
	// server's MAC is wrong, before it hangs up: the server can then tell a
	// peer with another secret from one that merely went away.
	alertWrongSecret byte = 0xff
)

var (
	magicClient = [4]byte{'H', 'F', 'C', '2'}
	magicServer = [4]byte{'H', 'F', 'S', '2'}
	// magicClientV1 is the hello of holdfast versions whose cluster frames
	// crossed in plaintext after the handshake; they cannot talk to this one.
	magicClientV1 = [4]byte{'H', 'F', 'C', '1'}

	// errHandshake wraps every handshake failure.
	errHandshake = errors.New("cluster handshake failed")
	// errPeerHungUp wraps a handshake the peer closed before it ended: a
	// member that gave up waiting (this node was stopped, or too slow), or
	// a client that went away. It says nothing about the secret.
	errPeerHungUp = errors.New("the peer closed the connection during the handshake")
)

// session is what a handshake agrees on, from one end's point of view.
type session struct {
	service    byte
	send, recv cipher.AEAD
}

// handshakeMAC is HMAC-SHA256 over label ‖ nc ‖ ns ‖ extra.
func handshakeMAC(secret []byte, label string, nc, ns []byte, extra ...byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(label))
	h.Write(nc)
	h.Write(ns)
	h.Write(extra)
	return h.Sum(nil)
}

// readStage reads exactly len(b) bytes for stage.
func readStage(conn io.Reader, b []byte, stage string) error {
	if _, err := io.ReadFull(conn, b); err != nil {
		return stageErr(err, "read "+stage)
	}
	return nil
}

// writeStage writes b for stage.
func writeStage(conn io.Writer, b []byte, stage string) error {
	if _, err := conn.Write(b); err != nil {
		return stageErr(err, "send "+stage)
	}
	return nil
}

// stageErr wraps the I/O error of a handshake step, telling a peer that
// hung up apart from other failures.
func stageErr(err error, step string) error {
	if hungUp(err) {
		return fmt.Errorf("%w: %w: %s: %w", errHandshake, errPeerHungUp, step, err)
	}
	return fmt.Errorf("%w: %s: %w", errHandshake, step, err)
}

// hungUp reports whether err is the peer closing the connection.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		(errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, net.ErrClosed))
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// clientHandshake authenticates conn as a client asking for service and
// returns the session keys. The caller sets deadlines.
func clientHandshake(conn io.ReadWriter, secret []byte, kx *keyAgreement, service byte) (*session, error) {
	hello := make([]byte, 4+nonceLen)
	copy(hello, magicClient[:])
	nc := hello[4:]
	if _, err := rand.Read(nc); err != nil {
		return nil, fmt.Errorf("%w: %w", errHandshake, err)
	}
	if err := writeStage(conn, hello, "hello"); err != nil {
		return nil, err
	}
	reply := make([]byte, 4+nonceLen+macLen)
	if err := readStage(conn, reply, "challenge"); err != nil {
		return nil, err
	}
	if [4]byte(reply[:4]) != magicServer {
		return nil, fmt.Errorf("%w: the peer is not a holdfast cluster member of this version", errHandshake)
	}
	ns, mac := reply[4:4+nonceLen], reply[4+nonceLen:]
	if !hmac.Equal(mac, handshakeMAC(secret, labelServer, nc, ns)) {
		_, _ = conn.Write([]byte{alertWrongSecret})
		return nil, fmt.Errorf("%w: the peer does not know the cluster secret", errHandshake)
	}
	ec := kx.pub
	signed := append([]byte{service}, ec...)
	proof := append(signed, handshakeMAC(secret, labelClient, nc, ns, signed...)...)
	if err := writeStage(conn, proof, "proof"); err != nil {
		return nil, err
	}
	var ack [1]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		// The server proved it knows the secret, so ours is the same: it
		// closed because it was shutting down or had too many handshakes,
		// or because our proof was altered on the path.
		return nil, stageErr(err, "read ack")
	}
	switch ack[0] {
	case ackOK:
	case ackUnknownService:
		return nil, fmt.Errorf("%w: the peer does not serve %q", errHandshake, service)
	default:
		return nil, fmt.Errorf("%w: unexpected ack %d", errHandshake, ack[0])
	}
	rest := make([]byte, pubLen+gcmTagLen)
	if err := readStage(conn, rest, "server key"); err != nil {
		return nil, err
	}
	es, confirm := rest[:pubLen], rest[pubLen:]
	s, err := deriveSession(secret, kx, es, transcript(nc, ns, service, ec, es), false)
	if err != nil {
		return nil, err
	}
	s.service = service
	if _, err := s.recv.Open(nil, recordNonce(0), confirm, nil); err != nil {
		return nil, fmt.Errorf("%w: the peer's session keys differ (its key was altered on the path?)", errHandshake)
	}
	return s, nil
}

// serverHandshake authenticates a client on conn and returns the session,
// with the service it chose. The caller sets deadlines and closes conn on
// error.
func serverHandshake(conn io.ReadWriter, secret []byte, kx *keyAgreement) (byte, *session, error) {
	hello := make([]byte, 4+nonceLen)
	if err := readStage(conn, hello, "hello"); err != nil {
		return 0, nil, err
	}
	switch [4]byte(hello[:4]) {
	case magicClient:
	case magicClientV1:
		return 0, nil, fmt.Errorf("%w: the peer speaks cluster protocol 1, whose frames cross in plaintext: upgrade it", errHandshake)
	default:
		return 0, nil, fmt.Errorf("%w: not a holdfast cluster client", errHandshake)
	}
	nc := hello[4:]
	reply := make([]byte, 4+nonceLen, 4+nonceLen+macLen)
	copy(reply, magicServer[:])
	ns := reply[4:]
	if _, err := rand.Read(ns); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", errHandshake, err)
	}
	reply = append(reply, handshakeMAC(secret, labelServer, nc, ns)...)
	if err := writeStage(conn, reply, "challenge"); err != nil {
		return 0, nil, err
	}
	proof := make([]byte, 1+pubLen+macLen)
	if n, err := io.ReadFull(conn, proof); err != nil {
		if n > 0 && proof[0] == alertWrongSecret {
			return 0, nil, fmt.Errorf("%w: the peer found our challenge wrong: it holds a different cluster secret", errHandshake)
		}
		return 0, nil, stageErr(err, "read proof")
	}
	signed := proof[:1+pubLen]
	service, ec := proof[0], proof[1:1+pubLen]
	if !hmac.Equal(proof[1+pubLen:], handshakeMAC(secret, labelClient, nc, ns, signed...)) {
		return 0, nil, fmt.Errorf("%w: wrong cluster secret", errHandshake)
	}
	if service != serviceRaft && service != serviceRPC {
		_, _ = conn.Write([]byte{ackUnknownService})
		return 0, nil, fmt.Errorf("%w: unknown service %q", errHandshake, service)
	}
	es := kx.pub
	s, err := deriveSession(secret, kx, ec, transcript(nc, ns, service, ec, es), true)
	if err != nil {
		return 0, nil, err
	}
	s.service = service
	ack := append([]byte{ackOK}, es...)
	ack = s.send.Seal(ack, recordNonce(0), nil, nil)
	if err := writeStage(conn, ack, "ack"); err != nil {
		return 0, nil, err
	}
	return service, s, nil
}

// transcript hashes everything both ends sent that the keys depend on.
func transcript(nc, ns []byte, service byte, ec, es []byte) []byte {
	h := sha256.New()
	h.Write([]byte(labelTranscript))
	for _, b := range [][]byte{nc, ns, {service}, ec, es} {
		h.Write(b)
	}
	return h.Sum(nil)
}

// deriveSession makes the two directions' AEADs from the X25519 result of
// this process's key with peerPub, the secret and the transcript hash.
func deriveSession(secret []byte, kx *keyAgreement, peerPub, th []byte, server bool) (*session, error) {
	dh, err := kx.sharedWith(peerPub) // fails on a low-order key
	if err != nil {
		return nil, fmt.Errorf("%w: key exchange: %w", errHandshake, err)
	}
	ikm := bytes.Join([][]byte{dh, secret}, nil)
	c2s, err := newAEAD(ikm, th, labelC2S)
	if err != nil {
		return nil, err
	}
	s2c, err := newAEAD(ikm, th, labelS2C)
	if err != nil {
		return nil, err
	}
	if server {
		return &session{send: s2c, recv: c2s}, nil
	}
	return &session{send: c2s, recv: s2c}, nil
}

// newAEAD is AES-256-GCM under the HKDF key for label.
func newAEAD(ikm, salt []byte, label string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, ikm, salt, label, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: derive key: %w", errHandshake, err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errHandshake, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errHandshake, err)
	}
	return aead, nil
}
