package actortest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/lattice"
)

// SeedEnv is the environment variable that sets CheckKind's seed, to replay a failure.
const SeedEnv = "LEGION_CHECK_SEED"

// Gen is what CheckKind feeds a kind: random events and queries, drawn from the given
// *rand.Rand only (so that a seed replays them), and how much of them.
type Gen[E, Q any] struct {
	// Event returns a random event; required. Draw every variant, and events Apply
	// rejects as well as ones it accepts.
	Event func(r *rand.Rand) E
	// Query returns a random query; nil (or a kind without Query) skips Query's checks.
	Query func(r *rand.Rand) Q
	// Runs is how many random histories to check. Default (zero): 200.
	Runs int
	// Events is the most events in one history. Default (zero): 16.
	Events int
	// Seed is the first history's seed (history i uses Seed+i). Zero means the value of
	// the environment variable LEGION_CHECK_SEED, or else a random seed; a failure names
	// the seed that replays it.
	Seed uint64
}

// CheckKind checks a kind's Apply, Query, Clone and Codec against the rules a replicated
// kind must follow, on random histories of gen's events, and fails t with the first
// broken rule, the event and the seed that replays it. It checks that:
//
//   - Apply and Query do not panic (a panic rejects the event on every replica, but it
//     usually means that Apply is not total);
//   - Apply does not modify its event, during the call or later (by keeping a
//     reference to it in the state);
//   - Apply is deterministic: the same state and event give the same state, output and
//     error, whether the state is the original, a Clone or a copy decoded from its
//     encoding (a replica restored from a snapshot): no clock, no randomness, no
//     globals, nothing lost by the codec;
//   - Clone shares nothing mutable: applying to the clone leaves the original as it was;
//   - an output does not change when later events apply (it shares no memory with the
//     state);
//   - Initial is deterministic;
//   - folding the events as the replicas do (each receiving them in a random order,
//     rebuilding its projection from its infimum when an event sorts before others,
//     folding prefixes into its infimum and restoring it from its encoding) ends in the
//     same state and the same outputs as folding them in order;
//   - Query modifies neither the state nor its query, and is deterministic.
//
// Values are compared by their encodings with the kind's codec (which must therefore be
// deterministic, as Codec requires).
func CheckKind[S, E, Q, O any](t testing.TB, kind *actor.KindOf[S, E, Q, O], gen Gen[E, Q]) {
	t.Helper()
	if gen.Event == nil {
		t.Fatal("actortest: CheckKind without Gen.Event")
	}
	seed := gen.Seed
	if seed == 0 {
		if env := os.Getenv(SeedEnv); env != "" {
			s, err := strconv.ParseUint(env, 10, 64)
			if err != nil {
				t.Fatalf("actortest: %s=%q: %v", SeedEnv, env, err)
			}
			seed = s
		} else {
			seed = rand.Uint64() >> 1
		}
	}
	t.Logf("actortest: checking kind %q from seed %d", kind.Name, seed)
	if err := checkKind(kind, gen, seed); err != nil {
		t.Fatalf("%v\nreplay: %s=%d go test -run '^%s$'", err, SeedEnv, err.seed, t.Name())
	}
}

// checkError is a broken rule CheckKind found.
type checkError struct {
	seed uint64
	msg  string
}

func (e *checkError) Error() string { return e.msg }

// checkKind runs gen.Runs histories from seed and returns the first broken rule.
func checkKind[S, E, Q, O any](kind *actor.KindOf[S, E, Q, O], gen Gen[E, Q], seed uint64) *checkError {
	runs, events := gen.Runs, gen.Events
	if runs <= 0 {
		runs = 200
	}
	if events <= 0 {
		events = 16
	}
	codec := kind.Codec
	if codec == nil {
		codec = actor.Protobuf
	}
	for i := range runs {
		s := seed + uint64(i)
		h := &history[S, E, Q, O]{kind: kind, codec: codec, gen: gen, r: rand.New(rand.NewPCG(s, 0))}
		if err := h.check(1 + h.r.IntN(events)); err != nil {
			return &checkError{seed: s, msg: fmt.Sprintf("actortest: kind %q: %v\nseed %d (history %d of %d)", kind.Name, err, s, i+1, runs)}
		}
	}
	return nil
}

// history is one random history under check.
type history[S, E, Q, O any] struct {
	kind  *actor.KindOf[S, E, Q, O]
	codec actor.Codec
	gen   Gen[E, Q]
	r     *rand.Rand

	events []E
	metas  []lattice.Meta
	enc    [][]byte // the events' encodings, before any Apply
	// What the in-order fold gives: the final state's encoding and each event's output
	// (nil for a rejected event).
	final   []byte
	outputs [][]byte
}

// result is what one call of Apply gave.
type result[S, O any] struct {
	state S
	out   O
	err   error
	panic any
}

func (h *history[S, E, Q, O]) check(n int) error {
	peers := []lattice.Peer{"a~1", "b~1", "c~1"}
	now := int64(1_800_000_000_000_000_000)
	for i := range n {
		e := h.gen.Event(h.r)
		b, err := h.encode(e)
		if err != nil {
			return fmt.Errorf("event #%d (%+v) does not encode: %v", i, e, err)
		}
		now += h.r.Int64N(2_000_000) - 500_000 // clocks of different peers: not always increasing
		h.events = append(h.events, e)
		h.enc = append(h.enc, b)
		h.metas = append(h.metas, lattice.Meta{ID: lattice.EventID{Counter: uint64(i + 1), Peer: peers[h.r.IntN(len(peers))]}, Time: now})
	}
	initial, err := h.checkInitial()
	if err != nil {
		return err
	}
	if err := h.inOrder(); err != nil {
		return err
	}
	if b, _ := h.encode(h.kind.InitialState()); !bytes.Equal(b, initial) {
		return fmt.Errorf("the initial state changed when events applied: Initial returns memory it shares (with every partition), not a new value\n  initial then: %s\n  initial now:  %s",
			h.show(initial), h.show(b))
	}
	for replica := range 3 {
		if err := h.replica(replica); err != nil {
			return err
		}
	}
	return nil
}

// checkInitial checks that Initial gives the same state twice, and returns its encoding.
func (h *history[S, E, Q, O]) checkInitial() ([]byte, error) {
	a, err := h.encode(h.kind.InitialState())
	if err != nil {
		return nil, fmt.Errorf("the initial state does not encode: %v", err)
	}
	b, _ := h.encode(h.kind.InitialState())
	if !bytes.Equal(a, b) {
		return nil, fmt.Errorf("Initial is not deterministic: %s, then %s", h.show(a), h.show(b))
	}
	return a, nil
}

// inOrder folds the events in id order, as every replica's infimum does, checking each
// Apply, and each Query between them; it records the final state and the outputs.
func (h *history[S, E, Q, O]) inOrder() error {
	s := h.kind.InitialState()
	var outs []O
	for i, e := range h.events {
		if err := h.checkQuery(s, i); err != nil {
			return err
		}
		next, out, ok, err := h.checkApply(s, e, i)
		if err != nil {
			return err
		}
		s = next
		if !ok {
			h.outputs = append(h.outputs, nil)
			outs = append(outs, out)
			continue
		}
		b, err := h.encode(out)
		if err != nil {
			return fmt.Errorf("the output of %s does not encode: %v", h.describe(i), err)
		}
		h.outputs = append(h.outputs, b)
		outs = append(outs, out)
	}
	if err := h.checkQuery(s, len(h.events)); err != nil {
		return err
	}
	for i, out := range outs {
		if h.outputs[i] == nil {
			continue
		}
		if b, _ := h.encode(out); !bytes.Equal(b, h.outputs[i]) {
			return fmt.Errorf("the output of %s changed when later events applied: it shares memory with the state (return a copy)\n  output then: %s\n  output now:  %s",
				h.describe(i), h.show(h.outputs[i]), h.show(b))
		}
	}
	for i, e := range h.events {
		if b, _ := h.encode(e); !bytes.Equal(b, h.enc[i]) {
			return fmt.Errorf("%s changed after it was applied: the state keeps a reference to it and a later Apply modified it (copy what you keep)\n  event now: %s",
				h.describe(i), h.show(b))
		}
	}
	var err error
	h.final, err = h.encode(s)
	if err != nil {
		return fmt.Errorf("the final state does not encode: %v", err)
	}
	return nil
}

// checkApply applies event i to s (which it gives away) and checks the rules of one
// Apply; it returns the next state (s's clone if Apply rejected the event), the output,
// and whether Apply accepted the event.
func (h *history[S, E, Q, O]) checkApply(s S, e E, i int) (next S, out O, ok bool, err error) {
	before, err := h.encode(s)
	if err != nil {
		return next, out, false, fmt.Errorf("the state before %s does not encode: %v", h.describe(i), err)
	}
	kept := h.kind.CloneState(s) // what the lattice keeps while Apply works on s
	if b, _ := h.encode(kept); !bytes.Equal(b, before) {
		return next, out, false, fmt.Errorf("Clone changed the state before %s\n  state: %s\n  clone: %s", h.describe(i), h.show(before), h.show(b))
	}
	restored, err := h.decodeState(before)
	if err != nil {
		return next, out, false, fmt.Errorf("the state before %s does not decode from its encoding: %v\n  state: %s", h.describe(i), err, h.show(before))
	}
	cloned := h.kind.CloneState(kept)

	a := h.apply(s, e, i)
	if a.panic != nil {
		return next, out, false, fmt.Errorf("Apply panicked on %s: %v\n  state: %s", h.describe(i), a.panic, h.show(before))
	}
	if b, _ := h.encode(e); !bytes.Equal(b, h.enc[i]) {
		return next, out, false, fmt.Errorf("Apply modified %s (an event is shared by every replay of the log: treat it as read-only)\n  event after: %s",
			h.describe(i), h.show(b))
	}
	if b, _ := h.encode(kept); !bytes.Equal(b, before) {
		return next, out, false, fmt.Errorf("applying %s to a state changed that state's Clone: Clone shares memory with the original (a shallow copy?)\n  clone before: %s\n  clone after:  %s",
			h.describe(i), h.show(before), h.show(b))
	}
	// The same state and event again: an in-memory clone, then a copy decoded from bytes.
	again := h.apply(cloned, h.freshEvent(i), i)
	if d := h.differ(a, again); d != "" {
		return next, out, false, fmt.Errorf("Apply is not deterministic (does it read the clock, randomness, a global, or memory shared with an earlier state?): %s twice on the same state gave %s\n  state: %s",
			h.describe(i), d, h.show(before))
	}
	if b, _ := h.encode(kept); !bytes.Equal(b, before) {
		return next, out, false, fmt.Errorf("applying %s to a clone changed the original: Clone shares memory with it (a shallow copy?)\n  before: %s\n  after:  %s",
			h.describe(i), h.show(before), h.show(b))
	}
	fromBytes := h.apply(restored, h.freshEvent(i), i)
	if d := h.differ(a, fromBytes); d != "" {
		return next, out, false, fmt.Errorf("the state does not survive its codec (does the codec drop a field, such as an unexported one with JSON?): %s applied to the state decoded from its encoding gave %s\n  state: %s",
			h.describe(i), d, h.show(before))
	}
	if a.err != nil {
		return kept, a.out, false, nil
	}
	return a.state, a.out, true, nil
}

// apply calls the kind's Apply, recovering a panic.
func (h *history[S, E, Q, O]) apply(s S, e E, i int) (res result[S, O]) {
	defer func() {
		if p := recover(); p != nil {
			res.panic = p
		}
	}()
	res.state, res.out, res.err = h.kind.Apply(s, e, h.metas[i])
	return res
}

// differ describes how two results of the same Apply differ ("" if they do not).
func (h *history[S, E, Q, O]) differ(a, b result[S, O]) string {
	switch {
	case b.panic != nil:
		return fmt.Sprintf("a panic the second time: %v", b.panic)
	case (a.err == nil) != (b.err == nil) || a.err != nil && a.err.Error() != b.err.Error():
		return fmt.Sprintf("the errors %v and %v", a.err, b.err)
	case a.err != nil:
		return ""
	}
	sa, _ := h.encode(a.state)
	sb, _ := h.encode(b.state)
	if !bytes.Equal(sa, sb) {
		return fmt.Sprintf("the states\n  %s\n  %s", h.show(sa), h.show(sb))
	}
	oa, _ := h.encode(a.out)
	ob, _ := h.encode(b.out)
	if !bytes.Equal(oa, ob) {
		return fmt.Sprintf("the outputs\n  %s\n  %s", h.show(oa), h.show(ob))
	}
	return ""
}

// checkQuery checks a random query on the state s (reached after i events).
func (h *history[S, E, Q, O]) checkQuery(s S, i int) error {
	if h.gen.Query == nil || h.kind.Query == nil {
		return nil
	}
	q := h.gen.Query(h.r)
	qb, err := h.encode(q)
	if err != nil {
		return fmt.Errorf("query %+v does not encode: %v", q, err)
	}
	before, _ := h.encode(s)
	where := fmt.Sprintf("query %+v after %d events", q, i)
	out, p := h.query(s, q)
	if p != nil {
		return fmt.Errorf("Query panicked on %s: %v\n  state: %s", where, p, h.show(before))
	}
	if b, _ := h.encode(s); !bytes.Equal(b, before) {
		return fmt.Errorf("Query modified the state on %s (a query must only read)\n  state before: %s\n  state after:  %s",
			where, h.show(before), h.show(b))
	}
	if b, _ := h.encode(q); !bytes.Equal(b, qb) {
		return fmt.Errorf("Query modified its query on %s\n  query after: %s", where, h.show(b))
	}
	var q2 Q
	if err := h.codec.Unmarshal(qb, &q2); err != nil {
		return fmt.Errorf("%s does not decode from its encoding: %v", where, err)
	}
	restored, err := h.decodeState(before)
	if err != nil {
		return fmt.Errorf("the state before %s does not decode: %v", where, err)
	}
	again, p := h.query(restored, q2)
	if p != nil {
		return fmt.Errorf("Query panicked on %s, on the state decoded from its encoding: %v", where, p)
	}
	o1, _ := h.encode(out)
	o2, _ := h.encode(again)
	if !bytes.Equal(o1, o2) {
		return fmt.Errorf("Query is not deterministic (or the state does not survive its codec): %s twice gave\n  %s\n  %s", where, h.show(o1), h.show(o2))
	}
	return nil
}

// query calls the kind's Query, recovering a panic. An error is an answer like any other.
func (h *history[S, E, Q, O]) query(s S, q Q) (out O, p any) {
	defer func() { p = recover() }()
	out, _ = h.kind.Query(s, q)
	return out, nil
}

// replica folds the events as one replica may: they arrive in a random order; each
// arrival updates the projection (applied on top when it sorts last, else rebuilt from a
// clone of the infimum), and now and then the infimum folds a prefix of what arrived, or
// is restored from its encoding (a snapshot). It must end where the in-order fold did.
func (h *history[S, E, Q, O]) replica(n int) error {
	events := make([]E, len(h.events)) // this replica's own copies, decoded from the wire
	for i := range events {
		events[i] = h.freshEvent(i)
	}
	order := h.r.Perm(len(events))
	arrived := make([]bool, len(events))
	base, folded := h.kind.InitialState(), 0 // the infimum: the first folded events
	outputs := make([][]byte, len(events))
	proj, top := h.kind.CloneState(base), folded-1 // the projection and the last event in it
	for step, i := range order {
		arrived[i] = true
		if i > top { // sorts after everything the projection holds: applied on top
			proj, top = h.safeApply(proj, events[i], i), i
		} else { // sorts before: the projection is rebuilt from the infimum
			proj, top = h.project(base, folded, arrived, events)
		}
		if h.r.IntN(3) == 0 || step == len(order)-1 {
			var err error
			if base, folded, err = h.fold(base, folded, arrived, events, outputs, step == len(order)-1); err != nil {
				return fmt.Errorf("replica %d, arrival order %v: %v", n, order, err)
			}
			proj, top = h.project(base, folded, arrived, events)
		}
	}
	fb, _ := h.encode(base)
	pb, _ := h.encode(proj)
	switch {
	case !bytes.Equal(fb, h.final):
		return fmt.Errorf("replica %d, receiving the events in the order %v, folded them into a different state than the in-order fold\n  in order:   %s\n  replica %d: %s",
			n, order, h.show(h.final), n, h.show(fb))
	case !bytes.Equal(pb, h.final):
		return fmt.Errorf("replica %d, receiving the events in the order %v, projected them into a different state than the in-order fold\n  in order:   %s\n  replica %d: %s",
			n, order, h.show(h.final), n, h.show(pb))
	}
	for i := range outputs {
		if !bytes.Equal(outputs[i], h.outputs[i]) {
			return fmt.Errorf("replica %d, receiving the events in the order %v, gave %s a different output than the in-order fold\n  in order:   %s\n  replica %d: %s",
				n, order, h.describe(i), h.show(h.outputs[i]), n, h.show(outputs[i]))
		}
	}
	return nil
}

// project rebuilds a projection: a clone of the infimum, then every arrived unfolded
// event in id order, skipping the ones Apply rejects (on a clone, as the lattice does).
func (h *history[S, E, Q, O]) project(base S, folded int, arrived []bool, events []E) (S, int) {
	proj, top := h.kind.CloneState(base), folded-1
	for j := folded; j < len(events); j++ {
		if !arrived[j] {
			continue
		}
		proj = h.safeApply(proj, events[j], j)
		top = j
	}
	return proj, top
}

// safeApply applies event j to a clone of s; on error or panic it returns s.
func (h *history[S, E, Q, O]) safeApply(s S, e E, j int) S {
	res := h.apply(h.kind.CloneState(s), e, j)
	if res.panic != nil || res.err != nil {
		return s
	}
	return res.state
}

// fold moves the infimum over a random part of the arrived prefix (all of it when all
// is true), recording the outputs, and sometimes restores it from its encoding.
func (h *history[S, E, Q, O]) fold(base S, folded int, arrived []bool, events []E, outputs [][]byte, all bool) (S, int, error) {
	end := folded
	for end < len(arrived) && arrived[end] {
		end++
	}
	if !all && end > folded {
		end = folded + h.r.IntN(end-folded+1)
	}
	for ; folded < end; folded++ {
		res := h.apply(h.kind.CloneState(base), events[folded], folded)
		if res.panic != nil || res.err != nil {
			continue
		}
		base = res.state
		b, err := h.encode(res.out)
		if err != nil {
			return base, folded, fmt.Errorf("the output of %s does not encode: %v", h.describe(folded), err)
		}
		outputs[folded] = b
	}
	if h.r.IntN(2) == 0 {
		b, err := h.encode(base)
		if err != nil {
			return base, folded, fmt.Errorf("the infimum does not encode: %v", err)
		}
		if base, err = h.decodeState(b); err != nil {
			return base, folded, fmt.Errorf("the infimum does not decode: %v", err)
		}
	}
	return base, folded, nil
}

func (h *history[S, E, Q, O]) encode(v any) ([]byte, error) { return h.codec.Marshal(v) }

func (h *history[S, E, Q, O]) decodeState(b []byte) (S, error) {
	var s S
	err := h.codec.Unmarshal(b, &s)
	return s, err
}

// freshEvent decodes a new copy of event i from its encoding, as another replica holds it.
func (h *history[S, E, Q, O]) freshEvent(i int) E {
	var e E
	if err := h.codec.Unmarshal(h.enc[i], &e); err != nil {
		return h.events[i] // reported by the determinism check, if it matters
	}
	return e
}

// describe names event i for a report.
func (h *history[S, E, Q, O]) describe(i int) string {
	return fmt.Sprintf("event #%d of %d (%s, id %d@%s, time %d)", i+1, len(h.events), h.show(h.enc[i]),
		h.metas[i].ID.Counter, h.metas[i].ID.Peer, h.metas[i].Time)
}

// show renders an encoding: as text if the codec writes text, else in hex.
func (h *history[S, E, Q, O]) show(b []byte) string {
	if b == nil {
		return "(none: rejected)"
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x (%d bytes)", b, len(b))
		}
	}
	return string(b)
}
