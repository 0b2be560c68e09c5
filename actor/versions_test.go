package actor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/lattice"
)

// TestStampVersion is the version stamping rule: a new event gets the lowest version the
// peers hosting the kind advertise, counting a peer that advertises none (an older
// release), and a peer membership lost but still remembers (a tombstone: a node down for
// its upgrade), as version 1, and never more than this node's own.
func TestStampVersion(t *testing.T) {
	member := func(peer string, kinds []string, versions map[string]string) discovery.Member {
		meta := map[string]string{}
		for k, v := range versions {
			meta[MetaKindVersion+k] = v
		}
		return discovery.Member{Peer: peer, Kinds: kinds, Meta: meta}
	}
	own := map[string]uint32{"cart": 3, "user": 2}
	var m *members
	view := func(ms ...discovery.Member) map[string]uint32 {
		m.update(discovery.View{Members: ms}, time.Unix(0, 0))
		return m.effectiveVersions(own)
	}
	a := member("a", []string{"cart", "user"}, map[string]string{"cart": "3", "user": "2"})
	b := member("b", []string{"cart", "user"}, map[string]string{"cart": "2", "user": "5"})
	m = new(members)
	require.Equal(t, own, view(a))
	require.Equal(t, map[string]uint32{"cart": 2, "user": 2}, view(a, b))
	// b goes down (to be upgraded): its tombstone keeps its version until b is back.
	require.Equal(t, map[string]uint32{"cart": 2, "user": 2}, view(a))
	b3 := member("b", []string{"cart", "user"}, map[string]string{"cart": "3", "user": "2"})
	require.Equal(t, own, view(a, b3))

	m = new(members)
	old := member("c", []string{"cart"}, nil) // a release before versions: 1
	require.Equal(t, map[string]uint32{"cart": 1, "user": 2}, view(a, old))
	m = new(members)
	bad := member("d", []string{"user"}, map[string]string{"user": "x"}) // malformed: 1
	require.Equal(t, map[string]uint32{"cart": 3, "user": 1}, view(a, bad))
	m = new(members)
	client := member("e", nil, map[string]string{"cart": "1"}) // hosts nothing: not counted
	require.Equal(t, own, view(a, client))
}

// TestVersionedApply: an event folds with the Apply of the highest version at most its
// stamp, else the lowest; unstamped events count as version 1.
func TestVersionedApply(t *testing.T) {
	mk := func(tag int64) func(int64, int64, lattice.Meta) (int64, int64, error) {
		return func(s, e int64, _ lattice.Meta) (int64, int64, error) { return s*10 + tag, tag, nil }
	}
	k := &KindOf[int64, int64, int64, int64]{Name: "v", Codec: JSON, Version: 4, Apply: mk(4),
		Previous: map[uint32]func(int64, int64, lattice.Meta) (int64, int64, error){2: mk(2), 3: mk(3)}}
	require.NoError(t, k.validate())
	apply := k.behavior().Apply
	for stamp, want := range map[uint32]int64{0: 2, 1: 2, 2: 2, 3: 3, 4: 4, 9: 4} {
		_, got, err := apply(0, 0, lattice.Meta{Version: stamp})
		require.NoError(t, err)
		require.Equal(t, want, got, "stamp %d", stamp)
	}
	k.Previous[4] = mk(4)
	require.ErrorContains(t, k.validate(), "Previous[4]")
	delete(k.Previous, 4)
	k.Previous[0] = mk(0)
	require.ErrorContains(t, k.validate(), "Previous[0]")
}

// TestCompatibleWithOlderRelease: a peer that advertises no kind version runs a release
// whose frame decoder refuses checkpoints (header bit 6): it gets the diff without one,
// and the message the other peers share is left as it was. Version 1 is stamped as 0,
// which such a release reads as well.
func TestCompatibleWithOlderRelease(t *testing.T) {
	n := &Node{kinds: map[string]KindSpec{}}
	n.members.update(discovery.View{Members: []discovery.Member{
		{Peer: "old", Kinds: []string{"cart"}},
		{Peer: "new", Kinds: []string{"cart"}, Meta: map[string]string{MetaKindVersion + "cart": "1"}},
	}}, time.Unix(0, 0))
	m := &wire.Replicate{From: "self", Body: &wire.Replicate_Diff{Diff: &wire.Diff{Origin: "cart/k",
		Checkpoint: &wire.Checkpoint{Id: &wire.EventID{Counter: 3, Peer: "self"}, Digest: 7}}}}
	require.Same(t, m, n.compatible("new", m))
	old := n.compatible("old", m)
	require.Nil(t, old.GetDiff().GetCheckpoint())
	require.Equal(t, "cart/k", old.GetDiff().GetOrigin())
	require.NotNil(t, m.GetDiff().GetCheckpoint())
	require.Zero(t, n.stampVersion("cart"))
}
