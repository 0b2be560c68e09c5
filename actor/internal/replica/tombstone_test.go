package replica

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// requireTombstoneOnly checks that b's store holds, for the partition, a shell with a
// tombstone and nothing else: no state, no renegade.
func requireTombstoneOnly(t *testing.T, n *node) {
	t.Helper()
	rec, found, err := n.store.Load(testPart)
	require.NoError(t, err)
	require.True(t, found, "the tombstone is stored")
	require.Empty(t, rec.Deltas)
	var s wire.Snapshot
	require.NoError(t, proto.Unmarshal(rec.Snapshot, &s))
	require.False(t, s.GetInfimum().GetHasBase(), "no state")
	require.Empty(t, s.GetRenegades())
	require.NotNil(t, s.GetRemovedAt(), "the tombstone")
}

// TestRemovedCopyRefusesWhatItSawCutOff: b's copy retires (it takes a state in which it
// is no participant: a), and the store keeps a tombstone of it. u, ejected meanwhile and
// back with its stale copy, sends b its state, which lists b as a participant: b's new
// copy takes it (a lagging live replica sends the same kind, and may need b's
// acknowledgements), but does not acknowledge u's event, which the history b's old copy
// folded had cut off; also after a restart (the tombstone is kept with the new copy's
// state). Before, it did, and with u folded it in a history the live one then dropped (the
// simulation's seed 7101 lost a write so).
func TestRemovedCopyRefusesWhatItSawCutOff(t *testing.T) {
	_, n, r := handReplica(t, "a~1", "b~1", "u~1")
	persist(t, n)
	const lineage = 7
	retired := &wire.Snapshot{Origin: testOrigin, Infimum: &wire.Infimum{HasBase: true, Lineage: lineage,
		Id: &wire.EventID{Counter: 10, Peer: "a~1"}, Participants: []string{"a~1"}, Value: encode(t, 0)}}
	n.step(r.Replicate(n.c.now, &wire.Replicate{From: "a~1", Body: &wire.Replicate_Snapshot{Snapshot: retired}}))
	n.flush(commitOK)
	require.Nil(t, n.r, "b's copy retired and was removed")
	requireTombstoneOnly(t, n)

	stale := &wire.Snapshot{Origin: testOrigin, Infimum: &wire.Infimum{HasBase: true, Lineage: lineage,
		Participants: []string{"a~1", "b~1", "u~1"}, Value: encode(t, 0)},
		Pending: []*wire.Entry{
			{Id: &wire.EventID{Counter: 3, Peer: "a~1"}, Delta: &wire.Delta{Kind: uint32(lattice.Event), Event: encode(t, 1)}, Acks: []string{"a~1"}},
			{Id: &wire.EventID{Counter: 4, Peer: "u~1"}, Delta: &wire.Delta{Kind: uint32(lattice.Event), Event: encode(t, 5)}, Acks: []string{"u~1"}},
		}}
	for _, restart := range []bool{false, true} {
		if restart {
			n.crash()
			n.down = false
		}
		again := n.activate()
		n.step(again.Replicate(n.c.now, &wire.Replicate{From: "u~1", Body: &wire.Replicate_Snapshot{Snapshot: stale}}))
		n.flush(commitOK)
		require.True(t, again.fold.State().HasBase, "b took the state (restart: %v)", restart)
		snap, err := again.fold.Snapshot(true)
		require.NoError(t, err)
		for _, e := range snap.GetPending() {
			acked := slices.Contains(e.GetAcks(), "b~1")
			switch e.GetId().GetPeer() {
			case "u~1":
				require.False(t, acked, "b acknowledged u's event, which its removal's history cut off (restart: %v)", restart)
			default:
				require.True(t, acked, "b acknowledges everything else (restart: %v)", restart)
			}
		}
	}
}
