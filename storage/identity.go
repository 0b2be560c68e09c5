package storage

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// PeerSeparator separates Node and Incarnation in Identity.Peer.
const PeerSeparator = "~"

// Identity is a node's identity as recorded in its data directory.
type Identity struct {
	// Node is the configured node name.
	Node string
	// Incarnation is random, generated once when the data directory is
	// created (see NewIncarnation). A node that loses its data directory comes
	// back with a new incarnation, hence as a new peer.
	Incarnation string
}

// Peer returns Node + "~" + Incarnation: the node's stable peer id in the
// replication protocol.
func (id Identity) Peer() string { return id.Node + PeerSeparator + id.Incarnation }

// String returns Peer().
func (id Identity) String() string { return id.Peer() }

// ParsePeer splits a peer id made by Identity.Peer at its last "~".
func ParsePeer(peer string) (Identity, error) {
	i := strings.LastIndex(peer, PeerSeparator)
	if i <= 0 || i == len(peer)-1 {
		return Identity{}, fmt.Errorf("storage: malformed peer id %q", peer)
	}
	return Identity{Node: peer[:i], Incarnation: peer[i+1:]}, nil
}

// IncarnationLen is the length of an incarnation made by NewIncarnation.
const IncarnationLen = 16

// NewIncarnation returns 8 bytes from crypto/rand as 16 lowercase hex digits.
func NewIncarnation() string {
	var b [IncarnationLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return hex.EncodeToString(b[:])
}

// ValidIncarnation reports whether s has the form NewIncarnation returns.
func ValidIncarnation(s string) bool {
	if len(s) != IncarnationLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
