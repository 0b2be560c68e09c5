package replica

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// Helpers of the Go tests that drive one replica by hand, through the harness's shell.

// handNode is a cluster of one peer, b, and b's node; its replica of plus/k is not active.
// On failure the test logs everything the shell did.
func handNode(t *testing.T) (*cluster, *node) {
	t.Helper()
	c := newCluster(t)
	c.add("b")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("what the shell did:\n%s", c.out.String())
		}
	})
	return c, c.node("b")
}

// handReplica activates b's replica (the store holds nothing) and starts its partition
// by hand with the given participants.
func handReplica(t *testing.T, participants ...lattice.Peer) (*cluster, *node, *Replica) {
	t.Helper()
	c, n := handNode(t)
	r := n.activate()
	r.fold.Genesis(participants)
	return c, n, r
}

// callAndFlush has b's replica log a fast call of +1 with request key req, flushes it as
// the shard would, and returns the call's answer.
func callAndFlush(t *testing.T, n *node, req string) *wire.CallReply {
	t.Helper()
	before := len(n.replies)
	n.call("caller", &wire.Call{Event: encode(t, 1), Req: req})
	n.flush(commitOK)
	require.Len(t, n.replies, before+1, "the call is answered once its flush is committed")
	reply, ok := n.replies[before].Msg.(*wire.CallReply)
	require.True(t, ok)
	require.Nil(t, reply.GetError())
	return reply
}

// valueOf reads a plus counter's replica at the projected or the stable level.
func valueOf(t *testing.T, r *Replica, stable bool) int64 {
	t.Helper()
	out, err := r.fold.Query(encode(t, 0), stable)
	require.NoError(t, err)
	v, err := decodeValue(out)
	require.NoError(t, err)
	return v
}

// persist writes what the replica holds, with its infimum, as the shell does when it
// removes a replica (Final, then Committed once the batch is durable).
func persist(t *testing.T, n *node) {
	t.Helper()
	var b storage.Batch
	require.True(t, n.r.Final(&b), "the replica has something to write")
	require.NoError(t, n.commit(&b))
	n.r.Committed()
}

// discard has the replica discard its copy (as it does when it learns it was ejected),
// performing the step's effects.
func discard(n *node) {
	r := n.r
	r.begin(n.c.now, false)
	r.discard()
	n.step(&r.eff)
}

// loaded returns a new replica of b's loaded from b's store, as a restart would load it;
// its first step's effects are not performed.
func loaded(t *testing.T, n *node) *Replica {
	t.Helper()
	r := New(&n.cfg, n.env, testKind, testKey, newFoldOf(n.peer))
	rec, found, err := n.store.Load(testPart)
	require.NoError(t, err)
	r.Start(n.c.now, rec, found, err)
	require.NoError(t, r.failed)
	return r
}

// genesisSnapshot is a state of the partition as the store or a replica holds it: the
// initial value on the given participants, with the given pending entries.
func genesisSnapshot(t *testing.T, participants []string, pending ...*wire.Entry) *wire.Snapshot {
	t.Helper()
	return &wire.Snapshot{Origin: testOrigin,
		Infimum: &wire.Infimum{HasBase: true, Participants: participants, Value: encode(t, 0)}, Pending: pending}
}

// storedEntries decodes the entries the store holds for the partition.
func storedEntries(t *testing.T, n *node) []*wire.Entry {
	t.Helper()
	rec, found, err := n.store.Load(testPart)
	require.NoError(t, err)
	require.True(t, found)
	var out []*wire.Entry
	for _, d := range rec.Deltas {
		var e wire.Entry
		require.NoError(t, proto.Unmarshal(d.Data, &e))
		out = append(out, &e)
	}
	return out
}
