package replica

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// TestRenegadesSurviveARestart: a replica that learns that the partition's history dropped
// an event it acknowledged (it was ejected meanwhile) keeps that event in the store until
// a replica of the partition answers for it: through a restart, through discarding its
// copy (a shell that holds only the renegades), and it forgets it only when told it was
// logged. Before, renegades were held in memory only: a restart, a passivation, or the
// replica leaving as retired (no participant of the history it merged) lost events that
// had been acknowledged to callers.
func TestRenegadesSurviveARestart(t *testing.T) {
	_, n, r := handReplica(t, "a~1", "b~1")
	// b logs a fast call and writes it (it answers it then): 1@b is stored.
	callAndFlush(t, n, "acked-by-b")

	// a's history, in which b was ejected: b's event is not in it.
	n.step(r.Replicate(n.c.now, &wire.Replicate{To: &wire.Target{Kind: testKind, Key: testKey, Peer: "b~1"},
		From: "a~1", Body: &wire.Replicate_Snapshot{Snapshot: &wire.Snapshot{Origin: testOrigin,
			Infimum: &wire.Infimum{HasBase: true, Id: &wire.EventID{Counter: 9, Peer: "a~1"},
				Participants: []string{"a~1", "c~1"}, Value: encode(t, 7), Digest: 12345,
				Last: map[string]uint64{"a~1": 9}}}}}))
	require.Len(t, r.Renegades(), 1)
	created := r.Renegades()[0].Delta.Time
	require.Equal(t, n.c.now.UnixNano(), created, "the renegade carries the time it was created at")
	require.True(t, r.fold.State().Retired, "b is no participant of that history")
	// Its flush writes a shell that holds the renegade in place of the copy, and the shell
	// is asked to propose it again.
	n.flush(commitOK)
	require.Len(t, n.repropose, 1)
	require.Equal(t, "acked-by-b", n.repropose[0].Delta.Req)
	require.Equal(t, created, n.repropose[0].Delta.Time, "the re-proposal keeps the event's time")

	shell := loaded(t, n)
	require.False(t, shell.fold.State().HasBase, "the copy is gone")
	require.Len(t, shell.Renegades(), 1, "the renegade is stored")
	require.Equal(t, "acked-by-b", shell.Renegades()[0].Delta.Req)
	require.Equal(t, created, shell.Renegades()[0].Delta.Time, "the renegade is stored with its time")

	// The node restarts: the shell is loaded, and proposes its renegade again.
	n.crash()
	n.down = false
	n.repropose = nil
	r = n.activate()
	require.Len(t, n.repropose, 1, "the restarted shell proposes its renegade again")
	require.Equal(t, created, n.repropose[0].Delta.Time, "with its original time")
	n.step(r.Reproposed(n.c.now, nil))
	require.Len(t, loaded(t, n).Renegades(), 1, "a failed round forgets nothing")
	n.step(r.Reproposed(n.c.now, []string{"acked-by-b"}))
	require.Equal(t, Discarded, r.Life())
	require.Nil(t, n.r, "the shell goes from memory with its last renegade")
	requireTombstoneOnly(t, n) // the store keeps what the retired copy saw cut off
}

// TestDiscardKeepsRenegades: a replica that finds it was ejected discards its copy, but
// keeps what it must propose again.
func TestDiscardKeepsRenegades(t *testing.T) {
	_, n, r := handReplica(t, "a~1", "b~1")
	persist(t, n)
	r.addRenegades(renegadesOf(t, "req-1"))
	discard(n)
	require.Equal(t, Active, r.Life(), "a replica with renegades stays until they are logged")
	require.Len(t, n.repropose, 1, "and proposes them again")
	again := loaded(t, n)
	require.False(t, again.fold.State().HasBase, "the copy is gone")
	require.Len(t, again.Renegades(), 1)

	// With nothing left to propose again, nothing stays.
	n.step(r.Reproposed(n.c.now, []string{"req-1"}))
	require.Equal(t, Discarded, r.Life())
	_, found, err := n.store.Load(testPart)
	require.NoError(t, err)
	require.False(t, found)
}

func renegadesOf(t *testing.T, reqs ...string) []lattice.Entry[[]byte] {
	t.Helper()
	var out []lattice.Entry[[]byte]
	for i, req := range reqs {
		out = append(out, lattice.Entry[[]byte]{ID: lattice.EventID{Counter: uint64(i + 1), Peer: "b~1"},
			Delta: lattice.Delta[[]byte]{Kind: lattice.Event, Event: encode(t, 1), Req: req}})
	}
	return out
}

// TestFoldResetKeepsTheClock: a replica that drops its copy (discards it, or retires with
// renegades) and joins again must not reuse the ids of the deltas it created in it: a
// replica that holds one of those takes the new delta for the old one, and the new event
// is lost. (TestEjectionAndComeback lost increments so: a re-proposed renegade got the id
// of an event its replica had logged a moment before discarding its copy.)
func TestFoldResetKeepsTheClock(t *testing.T) {
	_, n, r := handReplica(t, "a~1", "b~1")
	one := encode(t, 1)
	var last lattice.EventID
	for range 3 {
		var err error
		last, _, err = r.fold.Event(one, n.c.now.UnixNano(), "")
		require.NoError(t, err)
	}
	r.resetFold()
	require.GreaterOrEqual(t, r.fold.Clock(), last.Counter, "the clock survives the reset")
	r.fold.Genesis([]lattice.Peer{"b~1"})
	id, _, err := r.fold.Event(one, n.c.now.UnixNano(), "")
	require.NoError(t, err)
	require.Greater(t, id.Counter, last.Counter, "a new delta reuses an old id")

	// A shell restored from the store raises its clock past its renegades' ids.
	r.addRenegades([]lattice.Entry[[]byte]{{ID: lattice.EventID{Counter: 40, Peer: "b~1"},
		Delta: lattice.Delta[[]byte]{Kind: lattice.Event, Event: one, Req: "r"}}})
	discard(n)
	shell := loaded(t, n)
	require.Len(t, shell.Renegades(), 1)
	require.GreaterOrEqual(t, shell.fold.Clock(), uint64(40))
}

// TestReproposalKeepsItsTime: a call that carries an event time (a renegade's re-proposal)
// logs its event with that time, not the node's clock, and answers with it; a call without
// one is stamped with the node's.
func TestReproposalKeepsItsTime(t *testing.T) {
	_, n, r := handReplica(t, "a~1", "b~1") // a's acks are missing: the events stay pending
	const original = 1_000_000_007
	n.call("caller", &wire.Call{Event: encode(t, 1), Req: "renegade", EventTime: original})
	n.call("caller", &wire.Call{Event: encode(t, 1), Req: "fresh"})
	n.flush(commitOK)
	require.Len(t, n.replies, 2)
	require.Equal(t, int64(original), n.replies[0].Msg.(*wire.CallReply).GetTime())
	require.Equal(t, n.c.now.UnixNano(), n.replies[1].Msg.(*wire.CallReply).GetTime())
	var times []int64
	for _, e := range latticeOf(r.fold).Pending() {
		times = append(times, e.Delta.Time)
	}
	require.Equal(t, []int64{original, n.c.now.UnixNano()}, times)
}

// TestRenegadesOfARetiringFlush: the flush in which an ejected replica confirms its own
// ejection may also fold it: b logs a fast call (1@b, answered), then learns a's history,
// in which d and then b are unjoined (1@a, 2@a, acknowledged by a and c). b's
// acknowledgement confirms d's UnJoin; its fold leaves b's own UnJoin confirmed, which cuts
// off 1@b, and then folds too: b is no participant any more, and its copy retires in that
// same flush. The reduce kept 1@b for the next merge's report, which a retiring copy never
// makes: the event, acknowledged to its caller, was dropped everywhere (the simulation's
// seed 7158, with queries of unwritten partitions answered from the initial state).
func TestRenegadesOfARetiringFlush(t *testing.T) {
	_, n, r := handReplica(t, "a~1", "b~1", "c~1", "d~1")
	callAndFlush(t, n, "acked-by-b")
	snap, err := r.fold.Snapshot(false)
	require.NoError(t, err)
	unjoin := func(counter uint64, p string) *wire.Entry {
		return &wire.Entry{Id: &wire.EventID{Counter: counter, Peer: "a~1"},
			Delta: &wire.Delta{Kind: uint32(lattice.UnJoin), Peer: p}, Acks: []string{"a~1", "c~1"}}
	}
	n.step(r.Replicate(n.c.now, &wire.Replicate{To: &wire.Target{Kind: testKind, Key: testKey, Peer: "b~1"},
		From: "a~1", Body: &wire.Replicate_Snapshot{Snapshot: &wire.Snapshot{Origin: testOrigin,
			Infimum: snap.GetInfimum(), Pending: []*wire.Entry{unjoin(1, "d~1"), unjoin(2, "b~1")}}}}))
	require.Empty(t, r.Renegades(), "neither UnJoin is confirmed before b acknowledges")
	n.flush(commitOK)
	require.Len(t, n.repropose, 1, "the event the flush cut off is proposed again")
	require.Equal(t, "acked-by-b", n.repropose[0].Delta.Req)
	require.False(t, r.fold.State().HasBase, "b's UnJoin folded: its copy retired")
	shell := loaded(t, n)
	require.False(t, shell.fold.State().HasBase, "the copy is gone")
	require.Len(t, shell.Renegades(), 1, "the renegade is stored with the write that retires the copy")
}
