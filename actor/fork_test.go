package actor

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// TestForkIsLoudAndKept: a replica that receives the full state of another lineage of its
// partition (started from scratch elsewhere) with a higher infimum counts the fork, and
// keeps its own dropped state in the store, through a restart. Before, the merge dropped
// its folded events silently.
func TestForkIsLoudAndKept(t *testing.T) {
	n, _ := handNode()
	r := handReplica(t, n, "b~1")
	one, err := proto.Marshal(wrapperspb.Int64(1))
	require.NoError(t, err)
	for range 3 {
		_, _, err = r.fold.event(one, n.clock.Now(), "")
		require.NoError(t, err)
	}
	var b storage.Batch
	require.NoError(t, r.stageFlush(&b))
	require.NoError(t, n.commit(&b))
	r.committed()
	require.Equal(t, int64(3), valueOf(t, r, true))

	// Another start of the partition, on a and c, folded further.
	other := newReplica(n, nil, plusKind, "k")
	other.fold.genesis([]lattice.Peer{"a~1", "c~1"})
	snap, err := other.fold.snapshot(true)
	require.NoError(t, err)
	snap.Infimum.Id = &wire.EventID{Counter: 50, Peer: "a~1"}
	forked, dropsOwn := r.fold.forks(snap)
	require.True(t, forked)
	require.True(t, dropsOwn)
	r.flushQueued = true // the test flushes by hand: no shard to queue on
	r.onReplicate(&shardContext{}, &wire.Replicate{From: "a~1", Body: &wire.Replicate_Snapshot{Snapshot: snap}})
	require.Equal(t, int64(1), n.Stats().Forks)
	require.NoError(t, r.persist(true))

	again := newReplica(n, nil, plusKind, "k")
	again.load()
	require.NoError(t, again.failed)
	require.Len(t, again.dropped, 1, "the dropped state is kept")
	var kept wire.Snapshot
	require.NoError(t, proto.Unmarshal(again.dropped[0], &kept))
	var v wrapperspb.Int64Value
	require.NoError(t, proto.Unmarshal(kept.GetInfimum().GetValue(), &v))
	require.Equal(t, int64(3), v.Value, "the dropped history's value")
}
