package actor

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/lattice"
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
	n := soloNode(store)
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

// soloNode is a node "b~1" on store with nothing running: enough for a replica driven by
// hand.
func soloNode(store storage.Store) *Node {
	n := &Node{cfg: Config{}.withDefaults(), store: store, peer: "b~1", log: slog.New(slog.DiscardHandler)}
	n.clock.now = n.cfg.Now
	return n
}

// callAndFlush logs an event of +1 with request key req on r and flushes r alone, as its
// shard would.
func callAndFlush(t *testing.T, n *Node, r *replica, req string) {
	t.Helper()
	ev, err := proto.Marshal(wrapperspb.Int64(1))
	require.NoError(t, err)
	_, _, err = r.fold.event(ev, n.clock.Now(), req)
	require.NoError(t, err)
	var b storage.Batch
	require.NoError(t, r.stageFlush(&b))
	require.NoError(t, n.commit(&b))
	r.finishFlush(&shardContext{}, nil)
}

// valueOf reads a plus counter's replica at the projected or the stable level.
func valueOf(t *testing.T, r *replica, stable bool) int64 {
	t.Helper()
	q, err := proto.Marshal(wrapperspb.Int64(0))
	require.NoError(t, err)
	out, err := r.fold.query(q, stable)
	require.NoError(t, err)
	var v wrapperspb.Int64Value
	require.NoError(t, proto.Unmarshal(out, &v))
	return v.Value
}

// snapshotCounter counts the bytes of the snapshots and of the entries committed.
type snapshotCounter struct {
	storage.Store
	snapshots, snapshotBytes, entryBytes int
}

func (s *snapshotCounter) Commit(b *storage.Batch) error {
	for _, op := range b.Ops() {
		switch op.Kind {
		case storage.OpPutSnapshot:
			s.snapshots++
			s.snapshotBytes += len(op.Data)
		case storage.OpPutDelta:
			s.entryBytes += len(op.Data)
		}
	}
	return s.Store.Commit(b)
}

// TestSnapshotsWeighedAgainstEntries: a partition's infimum grows (its dedup window holds
// up to 256 request keys), and rewriting it every 32 folds came to cost more than the
// entries themselves. The replica rewrites it once the entries written since weigh as
// much as it does: over a long run the snapshots' bytes stay within the entries' bytes,
// the stored entries stay bounded, and a restart from the store finds the same state
// and the same dedup window.
func TestSnapshotsWeighedAgainstEntries(t *testing.T) {
	store := &snapshotCounter{Store: memory.New(storage.Identity{Node: "b", Incarnation: "1"})}
	n := soloNode(store)
	r := newReplica(n, nil, plusKind, "k")
	r.fold.genesis([]lattice.Peer{"b~1"}) // alone: each event folds at once
	const events = 2000
	req := func(i int) string { return fmt.Sprintf("request-%08d-of-a-client-with-a-long-id", i) }
	maxStored := 0
	for i := range events {
		callAndFlush(t, n, r, req(i))
		rec, _, err := store.Load(r.part)
		require.NoError(t, err)
		maxStored = max(maxStored, len(rec.Deltas))
	}
	t.Logf("%d snapshots, %d bytes; entries %d bytes; at most %d entries stored", store.snapshots, store.snapshotBytes, store.entryBytes, maxStored)
	require.LessOrEqual(t, store.snapshotBytes, store.entryBytes+r.snapshotBytes,
		"%d snapshots wrote %d bytes for %d bytes of entries", store.snapshots, store.snapshotBytes, store.entryBytes)
	require.Greater(t, store.snapshots, 5, "the infimum is still rewritten")
	require.Less(t, maxStored, 400, "stored entries stay bounded")

	again := newReplica(n, nil, plusKind, "k")
	again.load()
	require.NoError(t, again.failed)
	require.Equal(t, int64(events), valueOf(t, again, false))
	ev, err := proto.Marshal(wrapperspb.Int64(1))
	require.NoError(t, err)
	_, _, err = again.fold.event(ev, n.clock.Now(), req(events-1))
	var dup *lattice.DuplicateError
	require.ErrorAs(t, err, &dup, "the last request is still in the dedup window")
}

// TestFlushWritesWhatFoldsAtOnce: an event that folds in the flush that acknowledges it
// (a partition with one replica, or an entry that arrives with every other ack) is
// answered when that flush ends, so the flush must have written it: a restart from the
// store finds every answered event.
func TestFlushWritesWhatFoldsAtOnce(t *testing.T) {
	n := soloNode(memory.New(storage.Identity{Node: "b", Incarnation: "1"}))
	r := newReplica(n, nil, plusKind, "k")
	r.fold.genesis([]lattice.Peer{"b~1"})
	const events = 5 // fewer than snapshotEvery: no infimum is due after the first flush
	for i := range events {
		callAndFlush(t, n, r, fmt.Sprint("req", i))
	}
	again := newReplica(n, nil, plusKind, "k")
	again.load()
	require.NoError(t, again.failed)
	again.fold.acknowledge()
	again.fold.reduce() // the stored entries fold again on their acks
	require.Equal(t, int64(events), valueOf(t, again, true), "answered events lost by a restart")
}
