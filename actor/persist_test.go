package actor

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/memory"
)

// TestPersistRewritesLaterAck: an entry stored before this replica acknowledged it (the
// lattice lets a replica refuse an entry and acknowledge it later, docs/lattice.md,
// "Ejection") is written again with the ack once it acknowledges: acks are promises, and
// a restart must not forget one.
func TestPersistRewritesLaterAck(t *testing.T) {
	store := memory.New(storage.Identity{Node: "b", Incarnation: "1"})
	n := &Node{cfg: Config{}.withDefaults(), store: store, peer: "b~1"}
	r := newReplica(n, nil, plusKind, "k")
	ev, err := proto.Marshal(wrapperspb.Int64(5))
	require.NoError(t, err)
	state, err := proto.Marshal(wrapperspb.Int64(0))
	require.NoError(t, err)
	// b holds a's event 1@a, not acknowledged by b yet.
	require.NoError(t, r.fold.restore(&wire.Snapshot{Origin: r.origin,
		Infimum: &wire.Infimum{HasBase: true, Participants: []string{"a~1", "b~1"}, Value: state},
		Pending: []*wire.Entry{{Id: &wire.EventID{Counter: 1, Peer: "a~1"},
			Delta: &wire.Delta{Kind: 3, Event: ev}, Acks: []string{"a~1"}}}}))
	stored := func() []string {
		rec, found, err := store.Load(r.part)
		require.NoError(t, err)
		require.True(t, found)
		require.Len(t, rec.Deltas, 1)
		var e wire.Entry
		require.NoError(t, proto.Unmarshal(rec.Deltas[0].Data, &e))
		return e.Acks
	}
	require.NoError(t, r.persist(false))
	require.Equal(t, []string{"a~1"}, stored())
	require.Equal(t, 1, r.fold.acknowledge())
	require.NoError(t, r.persist(false))
	require.Equal(t, []string{"a~1", "b~1"}, stored(), "the later ack is on disk")
}

// TestDiscardedCopyStaysDeleted: a replica that discards its copy (it learned it had been
// ejected) deletes the partition from the store, and removing the replica afterwards
// (shard.remove, which runs stop) must not write any of the discarded copy back: a later
// activation would load it.
func TestDiscardedCopyStaysDeleted(t *testing.T) {
	store := memory.New(storage.Identity{Node: "b", Incarnation: "1"})
	n := &Node{cfg: Config{}.withDefaults(), store: store, peer: "b~1", log: slog.New(slog.DiscardHandler)}
	n.clock.now = n.cfg.Now
	n.view.Store(newViewIndex(discovery.View{}))
	state, err := proto.Marshal(wrapperspb.Int64(0))
	require.NoError(t, err)
	r := newReplica(n, nil, plusKind, "k")
	require.NoError(t, r.fold.restore(&wire.Snapshot{Origin: r.origin,
		Infimum: &wire.Infimum{HasBase: true, Participants: []string{"a~1", "b~1"}, Value: state}}))
	// In memory only: an event not yet flushed, which stop would write.
	ev, err := proto.Marshal(wrapperspb.Int64(5))
	require.NoError(t, err)
	_, _, err = r.fold.event(ev, n.clock.Now(), "req")
	require.NoError(t, err)
	require.NoError(t, store.Commit(func() *storage.Batch { // the copy on disk
		var b storage.Batch
		b.PutSnapshot(r.part, []byte{})
		return &b
	}()))

	r.discard(&shardContext{})
	require.True(t, r.leaving)
	r.stop()
	_, found, err := store.Load(r.part)
	require.NoError(t, err)
	require.False(t, found, "the discarded copy was written back")
}
