package actor

import (
	"maps"
	"strconv"
	"strings"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// Kind versions (docs/kinds.md, "Versions and upgrades"). Each node advertises, in its
// membership metadata, the version of each kind it hosts (KindOf.Version). A new event is
// stamped with the kind's effective version: the lowest version advertised by the peers
// that host the kind, live or remembered by a tombstone (a peer whose version is unknown,
// such as one of a release before versions or a tombstone made from the store, counts as
// 1), and never above this node's own. Every replica folds an event with the Apply of the
// version it is stamped with, so nodes of two versions compute the same states; once every
// node runs version n, new events are stamped n.

// MetaKindVersion prefixes the membership metadata key of each kind's version: the key of
// kind k is MetaKindVersion+k, its value the version in decimal. Config.Meta may not use
// it.
const MetaKindVersion = "legion.kind-version/"

// advertisedMeta is Config.Meta with the versions of the node's kinds.
func (n *Node) advertisedMeta() map[string]string {
	meta := maps.Clone(n.cfg.Meta)
	if meta == nil {
		meta = map[string]string{}
	}
	for name, k := range n.kinds {
		meta[MetaKindVersion+name] = strconv.FormatUint(uint64(k.kindVersion()), 10)
	}
	return meta
}

// advertisedVersions reads the kind versions a member advertises; a malformed one is left
// out (it counts as 1).
func advertisedVersions(meta map[string]string) map[string]uint32 {
	var out map[string]uint32
	for k, v := range meta {
		kind, ok := strings.CutPrefix(k, MetaKindVersion)
		if !ok {
			continue
		}
		x, err := strconv.ParseUint(v, 10, 32)
		if err != nil || x == 0 {
			continue
		}
		if out == nil {
			out = map[string]uint32{}
		}
		out[kind] = uint32(x)
	}
	return out
}

// effectiveVersions returns, for each kind of own (this node's versions), the version new
// events are stamped with, from the members' advertised versions.
func (m *members) effectiveVersions(own map[string]uint32) map[string]uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := maps.Clone(own)
	for p, x := range m.byPeer {
		for _, kind := range x.Kinds {
			cur, ok := out[kind]
			if !ok {
				continue
			}
			v := m.versions[p][kind]
			out[kind] = min(cur, max(v, 1))
		}
	}
	return out
}

// kindVersions holds the effective version of each kind (Node.stampVersion).
type kindVersions = atomic.Pointer[map[string]uint32]

// refreshVersions recomputes the effective versions after membership changed.
func (n *Node) refreshVersions() {
	own := make(map[string]uint32, len(n.kinds))
	for name, k := range n.kinds {
		own[name] = k.kindVersion()
	}
	eff := n.members.effectiveVersions(own)
	n.versions.Store(&eff)
}

// stampVersion is the version a new event of kind is stamped with: the effective
// version, or 1 while membership has shown nothing yet; 1 is stamped as 0 (the same
// version), which a node of a release before versions reads.
func (n *Node) stampVersion(kind string) uint32 {
	if v := n.effectiveVersion(kind); v > 1 {
		return v
	}
	return 0
}

func (n *Node) effectiveVersion(kind string) uint32 {
	if m := n.versions.Load(); m != nil {
		if v, ok := (*m)[kind]; ok {
			return v
		}
	}
	return 1
}

// compatible returns m, or for a peer of a release before versions (it advertises no
// kind version, and would refuse a frame with a checkpoint: frame header bit 6), a copy
// of m without its diff's checkpoint. Events stamped above 1 reach such a peer only if it
// advertises the version, so they need no such care.
func (n *Node) compatible(peer lattice.Peer, m *wire.Replicate) *wire.Replicate {
	if m.GetDiff().GetCheckpoint() == nil || n.members.advertises(peer) {
		return m
	}
	c := proto.Clone(m).(*wire.Replicate)
	c.GetDiff().Checkpoint = nil
	return c
}

// advertises reports whether p advertised kind versions (it runs a release that has them).
func (m *members) advertises(p lattice.Peer) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.versions[p] != nil
}

// KindVersions returns the version this node stamps on new events of each of its kinds
// (the lowest version the members hosting the kind advertise), and the version of each
// kind this node runs (KindOf.Version).
func (n *Node) KindVersions() (effective, own map[string]uint32) {
	own = make(map[string]uint32, len(n.kinds))
	effective = make(map[string]uint32, len(n.kinds))
	for name, k := range n.kinds {
		own[name] = k.kindVersion()
		effective[name] = n.effectiveVersion(name)
	}
	return effective, own
}
