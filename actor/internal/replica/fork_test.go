package replica

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// TestForkIsLoudAndKept: a replica that receives the full state of another lineage of its
// partition (started from scratch elsewhere) with a higher infimum counts the fork, and
// keeps its own dropped state in the store, through a restart. Before, the merge dropped
// its folded events silently.
func TestForkIsLoudAndKept(t *testing.T) {
	_, n, r := handReplica(t, "b~1")
	for range 3 {
		n.call("caller", &wire.Call{Event: encode(t, 1), ReplicaSet: []string{"b~1"}})
	}
	n.flush(commitOK)
	require.Equal(t, int64(3), valueOf(t, r, true))

	// Another start of the partition, on a and c, folded further.
	other := NewFold(plusSpec, testOrigin, "a~1")
	other.Genesis([]lattice.Peer{"a~1", "c~1"})
	snap, err := other.Snapshot(true)
	require.NoError(t, err)
	snap.Infimum.Id = &wire.EventID{Counter: 50, Peer: "a~1"}
	forked, dropsOwn := r.fold.Forks(snap)
	require.True(t, forked)
	require.True(t, dropsOwn)
	n.step(r.Replicate(n.c.now, &wire.Replicate{To: &wire.Target{Kind: testKind, Key: testKey, Peer: "b~1"},
		From: "a~1", Body: &wire.Replicate_Snapshot{Snapshot: snap}}))
	require.Equal(t, 1, n.forks, "the fork is counted")
	// b is no participant of the history it merged: its flush writes the shell that keeps
	// the dropped state, and it goes.
	n.flush(commitOK)
	require.Nil(t, n.r, "the retired replica is removed")

	again := loaded(t, n)
	require.Len(t, again.Dropped(), 1, "the dropped state is kept")
	var kept wire.Snapshot
	require.NoError(t, proto.Unmarshal(again.Dropped()[0], &kept))
	v, err := decodeValue(kept.GetInfimum().GetValue())
	require.NoError(t, err)
	require.Equal(t, int64(3), v, "the dropped history's value")
}
