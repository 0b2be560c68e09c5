package replica

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legion-go/legion/actor/internal/errs"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// TestPersistRewritesLaterAck: an entry stored before this replica acknowledged it (the
// lattice lets a replica refuse an entry and acknowledge it later, docs/lattice.md,
// "Ejection"; and a replica removed between receiving an entry and its flush writes it as
// it holds it) is written again with the ack once it acknowledges: acks are promises, and
// a restart must not forget one.
func TestPersistRewritesLaterAck(t *testing.T) {
	_, n := handNode(t)
	r := n.activate()
	// b holds a's event 1@a, not acknowledged by b yet (a, b and c participate, so that it
	// does not fold once b acknowledges it).
	require.NoError(t, r.fold.Restore(genesisSnapshot(t, []string{"a~1", "b~1", "c~1"},
		&wire.Entry{Id: &wire.EventID{Counter: 1, Peer: "a~1"},
			Delta: &wire.Delta{Kind: uint32(lattice.Event), Event: encode(t, 5)}, Acks: []string{"a~1"}})))
	acks := func() []string {
		t.Helper()
		es := storedEntries(t, n)
		require.Len(t, es, 1)
		return es[0].GetAcks()
	}

	// The shell removes the replica before its flush: it writes the entry as it holds it.
	n.remove()
	require.Equal(t, []string{"a~1"}, acks())

	// Back from the store, the replica syncs (nobody answers: it keeps its state), then
	// flushes: it acknowledges the entry, and writes it again, with its ack.
	r = n.activate()
	require.Equal(t, Syncing, r.Life())
	n.fire(SyncTimer)
	require.Equal(t, Active, r.Life())
	require.True(t, r.Dirty())
	n.flush(commitOK)
	require.Equal(t, []string{"a~1", "b~1"}, acks(), "the later ack is on disk")
}

// TestDiscardedCopyStaysDeleted: a replica that discards its copy (it learned it had been
// ejected) deletes the partition from the store, and removing the replica afterwards
// (shard.remove, which writes what a replica holds) must not write any of the discarded
// copy back: a later activation would load it.
func TestDiscardedCopyStaysDeleted(t *testing.T) {
	_, n := handNode(t)
	r := n.activate()
	require.NoError(t, r.fold.Restore(genesisSnapshot(t, []string{"a~1", "b~1"})))
	// In memory only: an event not yet flushed, which a removal would write.
	n.call("caller", &wire.Call{Event: encode(t, 5), Req: "req", ReplicaSet: []string{"a~1", "b~1"}})
	require.True(t, r.Dirty())
	require.NoError(t, n.store.Commit(func() *storage.Batch { // the copy on disk
		var b storage.Batch
		b.PutSnapshot(testPart, []byte{})
		return &b
	}()))

	discard(n)
	require.Equal(t, Discarded, r.Life())
	require.Nil(t, n.r, "the shell removed the discarded replica")
	var b storage.Batch
	require.False(t, r.Final(&b), "a discarded replica writes nothing")
	require.True(t, b.Empty())
	_, found, err := n.store.Load(testPart)
	require.NoError(t, err)
	require.False(t, found, "the discarded copy was written back")
}

// TestSnapshotsWeighedAgainstEntries: a partition's infimum grows (its dedup window holds
// up to 256 request keys), and rewriting it every 32 folds came to cost more than the
// entries themselves. The replica rewrites it once the entries written since weigh as
// much as it does: over a long run the snapshots' bytes stay within the entries' bytes,
// the stored entries stay bounded, and a restart from the store finds the same state
// and the same dedup window.
func TestSnapshotsWeighedAgainstEntries(t *testing.T) {
	c, n := handNode(t) // b alone: it starts the partition by itself, each event folds at once
	c.quiet = true
	const events = 2000
	req := func(i int) string { return fmt.Sprintf("request-%08d-of-a-client-with-a-long-id", i) }
	maxStored := 0
	var last *wire.EventID
	for i := range events {
		last = callAndFlush(t, n, req(i)).GetId()
		rec, _, err := n.store.Load(testPart)
		require.NoError(t, err)
		maxStored = max(maxStored, len(rec.Deltas))
		c.take()
	}
	require.Equal(t, int64(events), valueOf(t, n.r, true))
	s := n.store
	t.Logf("%d snapshots, %d bytes; entries %d bytes; at most %d entries stored", s.snapshots, s.snapshotBytes, s.entryBytes, maxStored)
	require.LessOrEqual(t, s.snapshotBytes, s.entryBytes+n.r.snapshotBytes,
		"%d snapshots wrote %d bytes for %d bytes of entries", s.snapshots, s.snapshotBytes, s.entryBytes)
	require.Greater(t, s.snapshots, 5, "the infimum is still rewritten")
	require.Less(t, maxStored, 400, "stored entries stay bounded")

	// A restart: the replica comes back from the store alone (what the last flushes wrote).
	n.crash()
	n.down = false
	again := n.activate()
	require.NoError(t, again.failed)
	require.Equal(t, Active, again.Life(), "alone in the partition, its sync ends at once")
	require.Equal(t, int64(events), valueOf(t, again, false))
	before := len(n.replies)
	n.call("caller", &wire.Call{Event: encode(t, 1), Req: req(events - 1)})
	n.flush(commitOK)
	require.Len(t, n.replies, before+1)
	reply := n.replies[before].Msg.(*wire.CallReply)
	require.Equal(t, last.GetCounter(), reply.GetId().GetCounter(), "the last request is still in the dedup window")
	require.Equal(t, last.GetPeer(), reply.GetId().GetPeer())
	require.Equal(t, int64(events), valueOf(t, again, true), "the retry applied twice")
}

// TestFlushWritesWhatFoldsAtOnce: an event that folds in the flush that acknowledges it
// (a partition with one replica, or an entry that arrives with every other ack) is
// answered when that flush ends, so the flush must have written it: a restart from the
// store finds every answered event.
func TestFlushWritesWhatFoldsAtOnce(t *testing.T) {
	_, n := handNode(t)
	const events = 5 // fewer than snapshotEvery: no infimum is due after the first flush
	for i := range events {
		callAndFlush(t, n, fmt.Sprint("req", i))
	}
	n.crash()
	n.down = false
	again := n.activate()
	require.NoError(t, again.failed)
	n.flush(commitOK) // the stored entries fold again on their acks
	require.Equal(t, int64(events), valueOf(t, again, true), "answered events lost by a restart")
}

// TestFailedCommitAnswersEveryWaiter: when a flush's commit fails, every caller waiting on
// the replica gets the error: the fast calls the flush would have answered and the
// consistent calls waiting for their events to fold, together. (The first version of the
// core panicked here, in Advance, when the waiters outnumbered the flush's answers.)
func TestFailedCommitAnswersEveryWaiter(t *testing.T) {
	_, n, r := handReplica(t, "a~1", "b~1")
	set := []string{"a~1", "b~1"}
	n.call("fast", &wire.Call{Event: encode(t, 1), ReplicaSet: set})
	n.call("consistent-1", &wire.Call{Event: encode(t, 2), ReplicaSet: set, Consistency: wire.Consistency_CONSISTENT})
	n.call("consistent-2", &wire.Call{Event: encode(t, 3), ReplicaSet: set, Consistency: wire.Consistency_CONSISTENT})
	require.Empty(t, n.replies, "nothing is answered before the commit")
	n.flush(commitFails)
	got := map[any]error{}
	for _, rep := range n.replies {
		got[rep.To] = errs.FromWire(rep.Msg.(*wire.CallReply).GetError())
	}
	require.Len(t, got, 3)
	for to, err := range got {
		// Stopped, with the cause: the caller tries the next replica (nothing of its call
		// was acknowledged anywhere).
		require.ErrorIs(t, err, errs.Stopped, "%v", to)
		require.ErrorContains(t, err, errDisk.Error(), "%v", to)
	}
	require.Equal(t, Failed, r.Life())
	_, found, err := n.store.Load(testPart)
	require.NoError(t, err)
	require.False(t, found, "nothing was written")
}
