package attest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"
)

// NonceSize is the size of a challenge nonce.
const NonceSize = 32

// Nonce errors, each a specific reason a challenge is refused.
var (
	ErrNonceUnknown = errors.New("nonce was not issued by this verifier")
	ErrNonceExpired = errors.New("nonce expired")
	ErrNonceReused  = errors.New("nonce was already used")
)

// Nonces issues single-use challenge nonces with a time to live and
// remembers the used ones for a while, so a replayed quote is recognised.
type Nonces struct {
	mu     sync.Mutex
	ttl    time.Duration
	keep   time.Duration
	now    func() time.Time
	issued map[string]time.Time // nonce -> expiry
	used   map[string]time.Time // nonce -> forget after
}

// NewNonces returns a store whose nonces live for ttl; used nonces are
// remembered for 24 hours.
func NewNonces(ttl time.Duration) *Nonces {
	return &Nonces{ttl: ttl, keep: 24 * time.Hour, now: time.Now,
		issued: map[string]time.Time{}, used: map[string]time.Time{}}
}

// Issue returns a fresh random nonce.
func (n *Nonces) Issue() ([]byte, error) {
	b := make([]byte, NonceSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("issue nonce: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.prune()
	n.issued[string(b)] = n.now().Add(n.ttl)
	return b, nil
}

// Consume marks nonce used; it fails when the nonce was never issued,
// expired or was used before.
func (n *Nonces) Consume(nonce []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := string(nonce)
	if _, ok := n.used[k]; ok {
		return ErrNonceReused
	}
	exp, ok := n.issued[k]
	if !ok {
		return ErrNonceUnknown
	}
	delete(n.issued, k)
	n.used[k] = n.now().Add(n.keep)
	if n.now().After(exp) {
		return ErrNonceExpired
	}
	return nil
}

// Used reports whether nonce answered an earlier challenge.
func (n *Nonces) Used(nonce []byte) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.used[string(nonce)]
	return ok
}

func (n *Nonces) prune() {
	now := n.now()
	for k, exp := range n.issued {
		if now.After(exp.Add(n.keep)) {
			delete(n.issued, k)
		}
	}
	for k, t := range n.used {
		if now.After(t) {
			delete(n.used, k)
		}
	}
}
