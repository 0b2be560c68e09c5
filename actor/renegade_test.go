package actor

import (
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

// TestRenegadesSurviveARestart: a replica that learns that the partition's history dropped
// an event it acknowledged (it was ejected meanwhile) keeps that event in the store until
// a replica of the partition answers for it: through a restart, through discarding its
// copy (a shell that holds only the renegades), and it forgets it only when told it was
// logged. Before, renegades were held in memory only: a restart, a passivation, or the
// replica leaving as retired (no participant of the history it merged) lost events that
// had been acknowledged to callers.
func TestRenegadesSurviveARestart(t *testing.T) {
	n, store := handNode()
	r := handReplica(t, n, "a~1", "b~1")
	// b logs a fast call and writes it (it would answer it now): 1@b is stored.
	one, err := proto.Marshal(wrapperspb.Int64(1))
	require.NoError(t, err)
	_, _, err = r.fold.event(one, n.clock.Now(), "acked-by-b")
	require.NoError(t, err)
	var b storage.Batch
	require.NoError(t, r.stageFlush(&b))
	require.NoError(t, n.commit(&b))
	r.committed()

	// a's history, in which b was ejected: b's event is not in it.
	seven, err := proto.Marshal(wrapperspb.Int64(7))
	require.NoError(t, err)
	rep, err := r.fold.merge(&wire.Snapshot{Origin: r.origin, Infimum: &wire.Infimum{HasBase: true,
		Id: &wire.EventID{Counter: 9, Peer: "a~1"}, Participants: []string{"a~1", "c~1"}, Value: seven,
		Digest: 12345, Last: map[string]uint64{"a~1": 9}}})
	require.NoError(t, err)
	require.Len(t, rep.renegades, 1)
	r.addRenegades(rep.renegades)
	require.NoError(t, r.persist(false))

	reload := func() *replica {
		t.Helper()
		r := newReplica(n, nil, plusKind, "k")
		r.load()
		require.NoError(t, r.failed)
		return r
	}
	// b is no participant of that history: its copy goes (it counts as retired), and
	// the store keeps a shell that holds the renegade.
	require.True(t, r.fold.state().retired)
	r3 := reload()
	require.False(t, r3.fold.state().hasBase, "the copy is gone")
	require.Len(t, r3.renegades, 1, "the renegade is stored")
	require.Equal(t, "acked-by-b", r3.renegades[0].Delta.Req)

	r3.onReproposed(&shardContext{}, reproposed{done: nil})
	require.Len(t, reload().renegades, 1, "a failed round forgets nothing")
	r3.onReproposed(&shardContext{}, reproposed{done: []string{"acked-by-b"}})
	require.True(t, r3.leaving)
	_, found, err := store.Load(r3.part)
	require.NoError(t, err)
	require.False(t, found, "the shell is deleted with its last renegade")
}

// TestDiscardKeepsRenegades: a replica loaded from disk that finds it was ejected discards
// its copy, but keeps what it must propose again.
func TestDiscardKeepsRenegades(t *testing.T) {
	n, store := handNode()
	r := handReplica(t, n, "a~1", "b~1")
	require.NoError(t, r.persist(true))
	r.addRenegades(renegadesOf(t, "req-1"))
	r.discard(&shardContext{})
	require.False(t, r.leaving, "a replica with renegades stays until they are logged")
	again := newReplica(n, nil, plusKind, "k")
	again.load()
	require.False(t, again.fold.state().hasBase, "the copy is gone")
	require.Len(t, again.renegades, 1)

	r.discard(&shardContext{}) // with nothing to propose again, nothing stays
	r.onReproposed(&shardContext{}, reproposed{done: []string{"req-1"}})
	require.True(t, r.leaving)
	_, found, err := store.Load(r.part)
	require.NoError(t, err)
	require.False(t, found)
}

func renegadesOf(t *testing.T, reqs ...string) []lattice.Entry[[]byte] {
	t.Helper()
	one, err := proto.Marshal(wrapperspb.Int64(1))
	require.NoError(t, err)
	var out []lattice.Entry[[]byte]
	for i, req := range reqs {
		out = append(out, lattice.Entry[[]byte]{ID: lattice.EventID{Counter: uint64(i + 1), Peer: "b~1"},
			Delta: lattice.Delta[[]byte]{Kind: lattice.Event, Event: one, Req: req}})
	}
	return out
}

// TestFoldResetKeepsTheClock: a replica that drops its copy (discards it, or retires with
// renegades) and joins again must not reuse the ids of the deltas it created in it: a
// replica that holds one of those takes the new delta for the old one, and the new event
// is lost. (TestEjectionAndComeback lost increments so: a re-proposed renegade got the id
// of an event its replica had logged a moment before discarding its copy.)
func TestFoldResetKeepsTheClock(t *testing.T) {
	n, _ := handNode()
	r := handReplica(t, n, "a~1", "b~1")
	one, err := proto.Marshal(wrapperspb.Int64(1))
	require.NoError(t, err)
	var last lattice.EventID
	for range 3 {
		last, _, err = r.fold.event(one, n.clock.Now(), "")
		require.NoError(t, err)
	}
	r.resetFold()
	require.GreaterOrEqual(t, r.fold.clock(), last.Counter, "the clock survives the reset")
	r.fold.genesis([]lattice.Peer{"b~1"})
	id, _, err := r.fold.event(one, n.clock.Now(), "")
	require.NoError(t, err)
	require.Greater(t, id.Counter, last.Counter, "a new delta reuses an old id")

	// A shell restored from the store raises its clock past its renegades' ids.
	r.addRenegades([]lattice.Entry[[]byte]{{ID: lattice.EventID{Counter: 40, Peer: "b~1"},
		Delta: lattice.Delta[[]byte]{Kind: lattice.Event, Event: one, Req: "r"}}})
	r.discard(&shardContext{})
	shell := newReplica(n, nil, plusKind, "k")
	shell.load()
	require.GreaterOrEqual(t, shell.fold.clock(), uint64(40))
}

// handNode is a node "b~1" on a memory store with nothing running, whose replicas are driven
// by hand: no re-proposal round starts by itself.
func handNode() (*Node, storage.Store) {
	store := memory.New(storage.Identity{Node: "b", Incarnation: "1"})
	n := soloNode(store)
	n.view.Store(newViewIndex(discovery.View{}))
	n.stopped.Store(true)
	return n, store
}

// handReplica is n's replica of plus counter "k", started with the given participants.
func handReplica(t *testing.T, n *Node, participants ...lattice.Peer) *replica {
	t.Helper()
	r := newReplica(n, nil, plusKind, "k")
	r.fold.genesis(participants)
	return r
}
