package cluster

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"sync"
)

// maxSharedKeys bounds the X25519 results a process keeps: one per peer
// process it has talked to since it started (a peer that restarts comes
// back with a new key). Past it the cache starts over.
const maxSharedKeys = 256

// keyAgreement is this process's X25519 key pair, made at start and kept
// only in memory, and the shared secrets it has computed with peers' keys.
//
// An X25519 operation per connection would cost more than the rest of a
// connection's setup together (and much more under the race detector),
// while raft and the cluster RPC open connections all the time. So each
// process has one key pair, a pair of processes computes their X25519
// result once, and every connection still gets keys of its own from the
// fresh nonces of its handshake (handshake.go). Recorded traffic stays
// unreadable to someone who learns the secret later, once either end has
// restarted: the private keys it would also need are gone.
type keyAgreement struct {
	priv *ecdh.PrivateKey
	pub  []byte

	mu     sync.Mutex
	shared map[[pubLen]byte][]byte
}

// newKeyAgreement makes this process's key pair.
func newKeyAgreement() (*keyAgreement, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cluster key pair: %w", err)
	}
	return &keyAgreement{priv: priv, pub: priv.PublicKey().Bytes(), shared: make(map[[pubLen]byte][]byte)}, nil
}

// sharedWith returns the X25519 result of this process's key with peer's.
// It fails on a malformed or low-order key. Callers reach it only once
// the peer has proved it knows the cluster secret, so strangers cannot
// fill the cache.
func (k *keyAgreement) sharedWith(peer []byte) ([]byte, error) {
	if len(peer) != pubLen {
		return nil, fmt.Errorf("peer key of %d bytes", len(peer))
	}
	id := [pubLen]byte(peer)
	k.mu.Lock()
	dh, ok := k.shared[id]
	k.mu.Unlock()
	if ok {
		return dh, nil
	}
	pub, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return nil, err
	}
	dh, err = k.priv.ECDH(pub)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.shared) >= maxSharedKeys {
		clear(k.shared)
	}
	k.shared[id] = dh
	k.mu.Unlock()
	return dh, nil
}
