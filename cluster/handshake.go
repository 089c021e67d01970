package cluster

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// The services a client chooses, with the last message of the handshake.
const (
	serviceRaft byte = 'R' // raft's NetworkTransport
	serviceRPC  byte = 'C' // the cluster RPC (rpc.go)
)

// The handshake authenticates both ends of a cluster connection with the
// shared secret, which never crosses the wire:
//
//	client → server  "HFC1" ‖ Nc                          (32-byte random nonce)
//	server → client  "HFS1" ‖ Ns ‖ HMAC(K, "…server" ‖ Nc ‖ Ns)
//	client → server  service ‖ HMAC(K, "…client" ‖ Nc ‖ Ns ‖ service)
//	server → client  ack (ackOK, or ackUnknownService)
//
// K is the secret, HMAC is HMAC-SHA256. Each side proves it knows K over a
// nonce the other side just chose, so a recorded handshake replayed on a
// new connection fails (the server's Ns differs), and the distinct labels
// keep one side's proof from being reflected as the other's. The service
// byte is inside the client's MAC, so it cannot be swapped in flight. On a
// mismatch the server closes the connection without an ack: raft never
// sees a byte from a peer that does not know the secret.
const (
	nonceLen = 32
	macLen   = sha256.Size

	labelServer = "holdfast-cluster/1 server"
	labelClient = "holdfast-cluster/1 client"

	ackOK             byte = 1
	ackUnknownService byte = 2
)

var (
	magicClient = [4]byte{'H', 'F', 'C', '1'}
	magicServer = [4]byte{'H', 'F', 'S', '1'}

	// errHandshake wraps every handshake failure.
	errHandshake = errors.New("cluster handshake failed")
)

// handshakeMAC is HMAC-SHA256 over label ‖ nc ‖ ns ‖ extra.
func handshakeMAC(secret []byte, label string, nc, ns []byte, extra ...byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(label))
	h.Write(nc)
	h.Write(ns)
	h.Write(extra)
	return h.Sum(nil)
}

// clientHandshake authenticates conn as a client asking for service. The
// caller sets deadlines.
func clientHandshake(conn io.ReadWriter, secret []byte, service byte) error {
	hello := make([]byte, 4+nonceLen)
	copy(hello, magicClient[:])
	nc := hello[4:]
	if _, err := rand.Read(nc); err != nil {
		return fmt.Errorf("%w: %w", errHandshake, err)
	}
	if _, err := conn.Write(hello); err != nil {
		return fmt.Errorf("%w: send hello: %w", errHandshake, err)
	}
	reply := make([]byte, 4+nonceLen+macLen)
	if _, err := io.ReadFull(conn, reply); err != nil {
		return fmt.Errorf("%w: read challenge: %w", errHandshake, err)
	}
	if [4]byte(reply[:4]) != magicServer {
		return fmt.Errorf("%w: the peer is not a holdfast cluster member", errHandshake)
	}
	ns, mac := reply[4:4+nonceLen], reply[4+nonceLen:]
	if !hmac.Equal(mac, handshakeMAC(secret, labelServer, nc, ns)) {
		return fmt.Errorf("%w: the peer does not know the cluster secret", errHandshake)
	}
	proof := append([]byte{service}, handshakeMAC(secret, labelClient, nc, ns, service)...)
	if _, err := conn.Write(proof); err != nil {
		return fmt.Errorf("%w: send proof: %w", errHandshake, err)
	}
	var ack [1]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return fmt.Errorf("%w: refused by the peer (a different cluster secret?): %w", errHandshake, err)
	}
	switch ack[0] {
	case ackOK:
		return nil
	case ackUnknownService:
		return fmt.Errorf("%w: the peer does not serve %q", errHandshake, service)
	default:
		return fmt.Errorf("%w: unexpected ack %d", errHandshake, ack[0])
	}
}

// serverHandshake authenticates a client on conn and returns the service
// it chose. The caller sets deadlines and closes conn on error.
func serverHandshake(conn io.ReadWriter, secret []byte) (byte, error) {
	hello := make([]byte, 4+nonceLen)
	if _, err := io.ReadFull(conn, hello); err != nil {
		return 0, fmt.Errorf("%w: read hello: %w", errHandshake, err)
	}
	if [4]byte(hello[:4]) != magicClient {
		return 0, fmt.Errorf("%w: not a holdfast cluster client", errHandshake)
	}
	nc := hello[4:]
	reply := make([]byte, 4+nonceLen, 4+nonceLen+macLen)
	copy(reply, magicServer[:])
	ns := reply[4:]
	if _, err := rand.Read(ns); err != nil {
		return 0, fmt.Errorf("%w: %w", errHandshake, err)
	}
	reply = append(reply, handshakeMAC(secret, labelServer, nc, ns)...)
	if _, err := conn.Write(reply); err != nil {
		return 0, fmt.Errorf("%w: send challenge: %w", errHandshake, err)
	}
	proof := make([]byte, 1+macLen)
	if _, err := io.ReadFull(conn, proof); err != nil {
		return 0, fmt.Errorf("%w: read proof (a different cluster secret?): %w", errHandshake, err)
	}
	service := proof[0]
	if !hmac.Equal(proof[1:], handshakeMAC(secret, labelClient, nc, ns, service)) {
		return 0, fmt.Errorf("%w: wrong cluster secret", errHandshake)
	}
	if service != serviceRaft && service != serviceRPC {
		_, _ = conn.Write([]byte{ackUnknownService})
		return 0, fmt.Errorf("%w: unknown service %q", errHandshake, service)
	}
	if _, err := conn.Write([]byte{ackOK}); err != nil {
		return 0, fmt.Errorf("%w: send ack: %w", errHandshake, err)
	}
	return service, nil
}
