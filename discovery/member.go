package discovery

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Member is one node of the cluster as membership sees it.
//
// A Member is a value: providers copy it on the way in and hand out fresh
// copies in views, so callers may keep or modify the members they receive.
type Member struct {
	Peer     string            // stable peer id (node name + incarnation, e.g. "n1~3f9a2c"); survives restarts of the process
	Name     string            // configured node name
	Instance string            // per-start id of the node's actor system (Proto.Actor member id); changes when the node restarts its actor system
	Address  string            // host:port of the node's remoting endpoint
	Kinds    []string          // kinds this node hosts; empty for a client-only member
	Meta     map[string]string // free-form extra metadata (e.g. "http": "127.0.0.1:8080"); keys/values must round-trip
}

// IDSeparator separates Peer and Instance in [Member.ID]. A Peer never
// contains it; an Instance may.
const IDSeparator = "/"

// ID returns Peer + "/" + Instance: the key of this member in backends that
// need one (Consul service ID, memberlist node name). It is unique per start
// of a node.
func (m Member) ID() string { return m.Peer + IDSeparator + m.Instance }

// SplitID splits an id made by [Member.ID] into Peer and Instance. ok is
// false if id has no separator or an empty part.
func SplitID(id string) (peer, instance string, ok bool) {
	peer, instance, ok = strings.Cut(id, IDSeparator)
	if !ok || peer == "" || instance == "" {
		return "", "", false
	}
	return peer, instance, true
}

// Validate reports whether m can be announced: Peer non-empty without "/",
// Instance non-empty, Address a host:port with a non-empty host and a port in
// 1..65535, every kind non-empty and distinct, every meta key non-empty. The
// error wraps [ErrInvalidMember].
func (m Member) Validate() error {
	switch {
	case m.Peer == "":
		return fmt.Errorf("%w: empty peer", ErrInvalidMember)
	case strings.Contains(m.Peer, IDSeparator):
		return fmt.Errorf("%w: peer %q contains %q", ErrInvalidMember, m.Peer, IDSeparator)
	case m.Instance == "":
		return fmt.Errorf("%w: empty instance", ErrInvalidMember)
	}
	if err := validateAddress(m.Address); err != nil {
		return err
	}
	seen := make(map[string]bool, len(m.Kinds))
	for _, k := range m.Kinds {
		if k == "" {
			return fmt.Errorf("%w: empty kind", ErrInvalidMember)
		}
		if seen[k] {
			return fmt.Errorf("%w: duplicate kind %q", ErrInvalidMember, k)
		}
		seen[k] = true
	}
	if _, ok := m.Meta[""]; ok {
		return fmt.Errorf("%w: empty meta key", ErrInvalidMember)
	}
	return nil
}

func validateAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: address %q: %v", ErrInvalidMember, addr, err)
	}
	if host == "" {
		return fmt.Errorf("%w: address %q: empty host", ErrInvalidMember, addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: address %q: port must be 1..65535", ErrInvalidMember, addr)
	}
	return nil
}

// Clone returns a deep copy of m. Empty Kinds and Meta become nil.
func (m Member) Clone() Member {
	c := m
	c.Kinds = nil
	if len(m.Kinds) > 0 {
		c.Kinds = slices.Clone(m.Kinds)
	}
	c.Meta = nil
	if len(m.Meta) > 0 {
		c.Meta = maps.Clone(m.Meta)
	}
	return c
}

// Equal reports whether m and o are the same member with the same metadata.
// Kinds are compared in order; nil and empty Kinds or Meta are equal.
func (m Member) Equal(o Member) bool {
	return m.Peer == o.Peer && m.Name == o.Name && m.Instance == o.Instance &&
		m.Address == o.Address && slices.Equal(m.Kinds, o.Kinds) && maps.Equal(m.Meta, o.Meta)
}

// String returns the member's ID and address, for logs.
func (m Member) String() string { return m.ID() + "@" + m.Address }
