package lattice

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs the golden scripts in testdata/*.txt: protocol scenarios over named
// replicas of one counter partition, written as documentation. Regenerate the expected
// output after a deliberate change with
//
//	go test ./lattice -run Scenarios -rewrite
//
// and read the diff: every changed line is a changed behaviour.
//
// The partition is a counter: the state is an int64, an event adds its value and outputs
// the new total. Apply rejects the event 13 with an error and panics on 666, so that the
// error paths can be scripted.
//
// Commands (peer lists are written peer=(a,b,c) or peer=a):
//
//	new peers=(a,b,c) [value=N]      genesis replicas of the partition, value N (default 0)
//	joiner name=d                    a replica of d that holds nothing yet (NewJoiner)
//	event peer=a v=5 [time=T]        a logs an event; prints its id and projected output
//	propose peer=a kind=join|unjoin target=d
//	                                 a logs a membership change
//	diff from=a to=(b,c)             a's Diff for each receiver, printed and applied; a
//	                                 refused diff or ErrNeedFull falls back to a full state
//	merge from=a to=(b,c)            a's full state (Snapshot), printed and merged
//	ack peer=(a,b)                   Acknowledge
//	reduce peer=(a,b)                Reduce; prints every folded delta with its output, and
//	                                 every entry dropped without folding (a void UnJoin or
//	                                 a renegade)
//	state peer=(a,b)                 a deterministic rendering of the replica
//	projection peer=(a,b)            the projection, and how the cache produced it
//	sync peer=(a,b,c)                rounds of diffs, acks and reduces among the peers
//	                                 until nothing changes (for the boring parts)
//	sync peer=(a,b,c) folds          the same, printing every fold
//	converged peer=(a,b,c)           checks laws 2 and 5 among the peers, and that no
//	                                 fold was undone (against a naive reference fold)
//
// Digests are shown as #1, #2, ...: labels given in order of first appearance, so that
// equal labels mean equal digests without printing 64-bit hashes.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			sc := newScenario()
			datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
				return sc.run(t, td)
			})
		})
	}
}

type scnState = State[int64, int64, int64]

// scnReplica is one named replica of the scenario's partition.
type scnReplica struct {
	st *scnState
	// applies counts the calls of Apply made by this replica.
	applies int
	// outputs holds the rendered infimum output of every delta this replica reported
	// folded itself (law 5).
	outputs map[EventID]string
}

type scenario struct {
	origin  string
	reps    map[Peer]*scnReplica
	clock   int64
	deltas  map[EventID]Delta[int64] // every delta created, by id
	digests map[uint64]string
}

func newScenario() *scenario {
	return &scenario{
		origin:  "counter/k",
		reps:    map[Peer]*scnReplica{},
		deltas:  map[EventID]Delta[int64]{},
		digests: map[uint64]string{},
	}
}

// counterApply is the scenarios' Apply: it adds e to the total and outputs the new total,
// but rejects 13 with an error and panics on 666.
func counterApply(total, e int64) (int64, int64, error) {
	switch e {
	case 13:
		return total, 0, errors.New("unlucky 13")
	case 666:
		panic("the number of the beast")
	}
	return total + e, total + e, nil
}

// scnBehavior is the counter of the scenarios, counting its Apply calls in r.
func scnBehavior(r *scnReplica) Behavior[int64, int64, int64] {
	return Behavior[int64, int64, int64]{
		Apply: func(s, e int64, _ Meta) (int64, int64, error) {
			r.applies++
			return counterApply(s, e)
		},
	}
}

func (sc *scenario) add(p Peer, mk func(Behavior[int64, int64, int64]) *scnState) {
	r := &scnReplica{outputs: map[EventID]string{}}
	r.st = mk(scnBehavior(r))
	sc.reps[p] = r
}

func (sc *scenario) run(t *testing.T, td *datadriven.TestData) string {
	var b strings.Builder
	switch td.Cmd {
	case "new":
		ps := sc.peerArg(t, td, "peers", false)
		var v int64
		td.MaybeScanArgs(t, "value", &v)
		for _, p := range ps {
			sc.add(p, func(bh Behavior[int64, int64, int64]) *scnState {
				return New(bh, sc.origin, p, ps, v)
			})
		}
		for _, p := range ps {
			sc.render(&b, p)
		}
	case "remove":
		// The runtime deletes the peer's copy, keeping what RemovalCutOff returns, and
		// makes a new, empty one that refuses what the old one saw cut off.
		for _, p := range sc.peerArg(t, td, "peer", false) {
			at, lineage, ps, last := sc.reps[p].st.RemovalCutOff()
			sc.add(p, func(bh Behavior[int64, int64, int64]) *scnState {
				st := NewJoiner(bh, sc.origin, p)
				st.SetCutOff(at, lineage, ps, last)
				return st
			})
			fmt.Fprintf(&b, "%s: removed at %s, participants %v\n", p, at, ps)
		}
	case "joiner":
		var name string
		td.ScanArgs(t, "name", &name)
		p := Peer(name)
		sc.add(p, func(bh Behavior[int64, int64, int64]) *scnState { return NewJoiner(bh, sc.origin, p) })
		sc.render(&b, p)
	case "event":
		sc.event(t, td, &b)
	case "propose":
		sc.propose(t, td, &b)
	case "diff", "merge":
		from := sc.peerArg(t, td, "from", true)[0]
		for _, to := range sc.peerArg(t, td, "to", false) {
			if td.Cmd == "diff" {
				sc.diff(&b, from, to)
			} else {
				sc.merge(&b, from, to)
			}
		}
	case "ack":
		for _, p := range sc.peerArg(t, td, "peer", false) {
			fmt.Fprintf(&b, "%s: acknowledged %d\n", p, sc.reps[p].st.Acknowledge())
		}
	case "reduce":
		for _, p := range sc.peerArg(t, td, "peer", false) {
			sc.reduce(&b, p, true, true)
		}
	case "state":
		for _, p := range sc.peerArg(t, td, "peer", false) {
			sc.render(&b, p)
		}
	case "leaving":
		for _, p := range sc.peerArg(t, td, "peer", false) {
			fmt.Fprintf(&b, "%s: leaving %v\n", p, sc.reps[p].st.Leaving())
		}
	case "projection":
		for _, p := range sc.peerArg(t, td, "peer", false) {
			sc.projection(&b, p)
		}
	case "sync":
		sc.sync(t, &b, sc.peerArg(t, td, "peer", false), td.HasArg("folds"))
	case "converged":
		sc.converged(&b, sc.peerArg(t, td, "peer", false))
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	return b.String()
}

// event logs an event: event peer=a v=5 [time=T].
func (sc *scenario) event(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	p := sc.peerArg(t, td, "peer", true)[0]
	var v int64
	td.ScanArgs(t, "v", &v)
	sc.clock++
	td.MaybeScanArgs(t, "time", &sc.clock)
	st := sc.reps[p].st
	id, out, err := st.Event(v, sc.clock)
	switch {
	case errors.Is(err, ErrNotParticipant):
		fmt.Fprintf(b, "%s: %v\n", p, err)
	case err != nil:
		sc.deltas[id] = st.Pending()[len(st.Pending())-1].Delta
		fmt.Fprintf(b, "%s: %v logged as an error delta: %v\n", p, id, err)
	default:
		sc.deltas[id] = st.Pending()[len(st.Pending())-1].Delta
		fmt.Fprintf(b, "%s: %v projected output %d\n", p, id, out)
	}
}

// propose logs a membership change: propose peer=a kind=join|unjoin target=d.
func (sc *scenario) propose(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	p := sc.peerArg(t, td, "peer", true)[0]
	var kind, target string
	td.ScanArgs(t, "kind", &kind)
	td.ScanArgs(t, "target", &target)
	k := map[string]DeltaKind{"join": Join, "unjoin": UnJoin}[kind]
	if k == 0 {
		td.Fatalf(t, "unknown kind %q", kind)
	}
	st := sc.reps[p].st
	id, err := st.Propose(k, Peer(target))
	if err != nil {
		fmt.Fprintf(b, "%s: %v\n", p, err)
		return
	}
	e := st.Pending()[len(st.Pending())-1]
	sc.deltas[id] = e.Delta
	fmt.Fprintf(b, "%s: %s\n", p, sc.entry(e))
}

// peerArg returns the peers named by the argument key; they must exist unless creating.
func (sc *scenario) peerArg(t *testing.T, td *datadriven.TestData, key string, single bool) []Peer {
	t.Helper()
	arg, ok := td.Arg(key)
	if !ok {
		td.Fatalf(t, "missing argument %q", key)
	}
	if single {
		arg.ExpectNumVals(t, 1)
	}
	var ps []Peer
	for _, v := range arg.Vals {
		p := Peer(v)
		if _, ok := sc.reps[p]; !ok && td.Cmd != "new" {
			td.Fatalf(t, "no replica %q", v)
		}
		ps = append(ps, p)
	}
	return ps
}

// diff sends from's Diff to to. A diff the sender refuses (to is not a participant of its
// infimum) or the receiver rejects with ErrNeedFull falls back to a full state.
func (sc *scenario) diff(b *strings.Builder, from, to Peer) {
	src, dst := sc.reps[from].st, sc.reps[to].st
	d, ok := src.Diff(to)
	if !ok {
		fmt.Fprintf(b, "%s -> %s: no diff (%s is not a participant of %s's infimum): full state instead\n", from, to, to, from)
		sc.merge(b, from, to)
		return
	}
	fmt.Fprintf(b, "%s -> %s: diff on base %s\n", from, to, sc.base(d.Base))
	for _, e := range d.Entries {
		fmt.Fprintf(b, "  %s\n", sc.entry(e))
	}
	for _, a := range d.Acks {
		fmt.Fprintf(b, "  ack %v %s\n", a.ID, peerList(a.Peers))
	}
	before := dst.Base()
	rep, err := dst.ApplyDiff(d)
	if errors.Is(err, ErrNeedFull) {
		fmt.Fprintf(b, "%s: %v\n", to, err)
		sc.merge(b, from, to)
		return
	}
	if err != nil {
		fmt.Fprintf(b, "%s: %v\n", to, err)
		return
	}
	sc.report(b, to, before, rep)
}

// merge sends from's full state to to.
func (sc *scenario) merge(b *strings.Builder, from, to Peer) {
	src, dst := sc.reps[from].st, sc.reps[to].st
	snap := src.Snapshot()
	var ids []string
	for _, e := range snap.Pending {
		ids = append(ids, e.ID.String())
	}
	fmt.Fprintf(b, "%s -> %s: full state on base %s, pending (%s)\n", from, to,
		sc.base(Base{ID: snap.Infimum.ID, Digest: snap.Infimum.Digest}), strings.Join(ids, ","))
	before := dst.Base()
	hadBase := dst.HasBase()
	rep, err := dst.Merge(snap)
	if err != nil {
		fmt.Fprintf(b, "%s: %v\n", to, err)
		return
	}
	if !hadBase {
		fmt.Fprintf(b, "%s: now holds the partition\n", to)
		before = dst.Base()
	}
	sc.report(b, to, before, rep)
}

func (sc *scenario) report(b *strings.Builder, p Peer, before Base, rep Report[int64]) {
	var ids []string
	for _, id := range rep.Added {
		ids = append(ids, id.String())
	}
	if len(ids) == 0 {
		fmt.Fprintf(b, "%s: nothing new\n", p)
	} else {
		fmt.Fprintf(b, "%s: added %s\n", p, strings.Join(ids, ", "))
	}
	if after := sc.reps[p].st.Base(); after != before {
		fmt.Fprintf(b, "%s: infimum moved to %s\n", p, sc.base(after))
	}
	for _, e := range rep.Renegades {
		fmt.Fprintf(b, "%s: renegade (own entry dropped by the history): %s\n", p, sc.entry(e))
	}
	// Report.Added is what the runtime persists: it must list only entries now held.
	for _, id := range rep.Added {
		if _, held := sc.reps[p].st.find(id); !held {
			fmt.Fprintf(b, "%s: !! Report.Added lists %v, which it does not hold (see TestReportAddedIsHeld)\n", p, id)
		}
	}
}

// reduce runs Reduce on p and records (and, when print is set, prints) what folded;
// empty says so when nothing did.
func (sc *scenario) reduce(b *strings.Builder, p Peer, print, empty bool) int {
	r := sc.reps[p]
	before := slices.Clone(r.st.Pending())
	folded := r.st.Reduce()
	if print {
		// Entries that left the log without folding: void UnJoins and renegades.
		for _, e := range before {
			_, held := r.st.find(e.ID)
			if !held && !slices.ContainsFunc(folded, func(f Folded[int64]) bool { return f.ID == e.ID }) {
				fmt.Fprintf(b, "%s: dropped (not folded) %s\n", p, sc.entry(e))
			}
		}
	}
	if print && empty && len(folded) == 0 {
		fmt.Fprintf(b, "%s: nothing folds\n", p)
	}
	for _, f := range folded {
		out := sc.folded(f)
		if f.Err != ErrOutputUnknown {
			r.outputs[f.ID] = out
		}
		if print {
			fmt.Fprintf(b, "%s: folded %s\n", p, out)
		}
	}
	return len(folded)
}

func (sc *scenario) folded(f Folded[int64]) string {
	head := f.ID.String() + " " + sc.deltaText(f.ID, f.Kind, f.Peer)
	switch {
	case f.Err == ErrOutputUnknown:
		return head + " (output unknown here: folded by another replica's proof)"
	case f.Err != nil:
		return head + " -> error: " + f.Err.Error()
	case f.Kind == Event:
		return head + " -> " + strconv.FormatInt(f.Output, 10)
	}
	return head
}

func (sc *scenario) deltaText(id EventID, k DeltaKind, p Peer) string {
	switch k {
	case Join, UnJoin:
		return k.String() + " " + string(p)
	}
	if d, ok := sc.deltas[id]; ok {
		return fmt.Sprintf("%v %+d", k, d.Event)
	}
	return k.String()
}

func (sc *scenario) entry(e Entry[int64]) string {
	d := e.Delta
	var s string
	switch d.Kind {
	case Join:
		s = fmt.Sprintf("%v join %s", e.ID, d.Peer)
	case UnJoin:
		s = fmt.Sprintf("%v unjoin %s cutoff=%d", e.ID, d.Peer, d.Cutoff)
	case Event:
		s = fmt.Sprintf("%v event %+d t=%d", e.ID, d.Event, d.Time)
	case Error:
		s = fmt.Sprintf("%v error %+d t=%d (%s)", e.ID, d.Event, d.Time, d.Err)
	}
	return s + " acks=" + peerList(e.Acks)
}

func (sc *scenario) base(bs Base) string {
	return bs.ID.String() + " " + sc.digest(bs.Digest)
}

func (sc *scenario) digest(h uint64) string {
	if l, ok := sc.digests[h]; ok {
		return l
	}
	l := "#" + strconv.Itoa(len(sc.digests)+1)
	sc.digests[h] = l
	return l
}

func peerList(ps []Peer) string {
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = string(p)
	}
	return "(" + strings.Join(ss, ",") + ")"
}

func (sc *scenario) status(st *scnState) string {
	self := st.Self()
	inInf := slices.Contains(st.Infimum().Participants, self)
	atTop := slices.Contains(st.Participants(), self)
	switch {
	case !st.HasBase():
		return "no state yet"
	case st.Retired():
		return "retired"
	case inInf && atTop:
		return "participant"
	case inInf:
		return "participant, leaving (unjoin pending)"
	case atTop:
		return "joining (join pending)"
	}
	return "not a participant"
}

// render writes a deterministic rendering of p's replica.
func (sc *scenario) render(b *strings.Builder, p Peer) {
	st := sc.reps[p].st
	fmt.Fprintf(b, "%s: %s\n", p, sc.status(st))
	if !st.HasBase() {
		return
	}
	inf := st.Infimum()
	fmt.Fprintf(b, "  infimum %s participants=%s value=%d", sc.base(st.Base()), peerList(inf.Participants), inf.Value)
	if len(inf.Last) > 0 {
		var ls []string
		for _, q := range slices.Sorted(maps.Keys(inf.Last)) {
			ls = append(ls, fmt.Sprintf("%s:%d", q, inf.Last[q]))
		}
		fmt.Fprintf(b, " last=(%s)", strings.Join(ls, ","))
	}
	b.WriteString("\n")
	for i, e := range st.Pending() {
		mark := ""
		if e.Delta.Kind == UnJoin && st.maybeVoid(i) {
			mark = " (void: a peer it needs acknowledged a delta it cuts off)"
		}
		fmt.Fprintf(b, "  pending %s%s\n", sc.entry(e), mark)
	}
	if l := st.Leaving(); len(l) > 0 {
		fmt.Fprintf(b, "  leaving %s\n", peerList(l))
	}
	fmt.Fprintf(b, "  projection %d\n", st.Projection())
	var owed []string
	for _, o := range st.Owed() {
		owed = append(owed, fmt.Sprintf("%s from %v (%d)", o.Peer, o.From, o.Count))
	}
	if len(owed) > 0 {
		fmt.Fprintf(b, "  owed: %s\n", strings.Join(owed, ", "))
	}
}

// projection prints p's projection and how the cache produced it: as it was, extended by
// the entries appended since, or replayed from the infimum after an out-of-order insert.
func (sc *scenario) projection(b *strings.Builder, p Peer) {
	r := sc.reps[p]
	how := "cached"
	switch {
	case !r.st.proj.valid:
		how = "replayed from the infimum"
	case r.st.proj.n < len(r.st.pending):
		how = "extended"
	}
	n := r.applies
	v := r.st.Projection()
	calls := "Apply calls"
	if r.applies-n == 1 {
		calls = "Apply call"
	}
	fmt.Fprintf(b, "%s: projection %d (%s, %d %s)\n", p, v, how, r.applies-n, calls)
}

// sync exchanges diffs between every pair of ps, then acks and reduces everywhere, until
// a round changes nothing. It prints one summary line per peer.
func (sc *scenario) sync(t *testing.T, b *strings.Builder, ps []Peer, folds bool) {
	var discard strings.Builder
	for round := 0; ; round++ {
		if round == 20 {
			t.Fatalf("sync: no fixpoint after %d rounds", round)
		}
		before := sc.fingerprint(ps)
		for _, from := range ps {
			if !sc.reps[from].st.HasBase() {
				continue
			}
			for _, to := range ps {
				if to != from {
					sc.diff(&discard, from, to)
				}
			}
		}
		for _, p := range ps {
			sc.reps[p].st.Acknowledge()
			if folds {
				sc.reduce(b, p, true, false)
			} else {
				sc.reduce(&discard, p, false, false)
			}
		}
		if sc.fingerprint(ps) == before {
			break
		}
	}
	for _, p := range ps {
		st := sc.reps[p].st
		if !st.HasBase() {
			fmt.Fprintf(b, "%s: no state yet\n", p)
			continue
		}
		fmt.Fprintf(b, "%s: infimum %s participants=%s value=%d pending=%d\n", p, sc.base(st.Base()),
			peerList(st.Infimum().Participants), st.Infimum().Value, st.Len())
	}
}

func (sc *scenario) fingerprint(ps []Peer) string {
	var b strings.Builder
	for _, p := range ps {
		st := sc.reps[p].st
		fmt.Fprintf(&b, "%s %v %t|", p, st.Base(), st.HasBase())
		for _, e := range st.Pending() {
			fmt.Fprintf(&b, "%v%v,", e.ID, e.Acks)
		}
	}
	return b.String()
}

// converged checks law 2 (same deltas, same infimum and projection) and law 5 (the same
// infimum output for a delta wherever it folded) among ps, and that no fold was undone:
// the infimum value is the naive fold of every event that any replica of the scenario
// reported folded with its output (as the simulation's reference check does).
func (sc *scenario) converged(b *strings.Builder, ps []Peer) {
	ref := sc.reps[ps[0]].st
	ok := true
	for _, p := range ps[1:] {
		st := sc.reps[p].st
		if st.Base() != ref.Base() || st.Infimum().Value != ref.Infimum().Value ||
			!slices.Equal(st.Infimum().Participants, ref.Infimum().Participants) {
			fmt.Fprintf(b, "law 2: %s's infimum %s differs from %s's %s\n", p, sc.base(st.Base()), ps[0], sc.base(ref.Base()))
			ok = false
		}
		if sc.pendingIDs(st) == sc.pendingIDs(ref) && st.Projection() != ref.Projection() {
			fmt.Fprintf(b, "law 2: %s's projection %d differs from %s's %d\n", p, st.Projection(), ps[0], ref.Projection())
			ok = false
		}
	}
	outs := map[EventID]string{}
	for _, p := range ps {
		for id, o := range sc.reps[p].outputs {
			if prev, seen := outs[id]; seen && prev != o {
				fmt.Fprintf(b, "law 5: %v folded as %q and as %q\n", id, prev, o)
				ok = false
			}
			outs[id] = o
		}
	}
	if want, folded := sc.reference(); want != ref.Infimum().Value {
		fmt.Fprintf(b, "!! folds undone: the events folded with an output somewhere (%s) add up to %d, the infimum holds %d\n",
			folded, want, ref.Infimum().Value)
		ok = false
	}
	if ok {
		fmt.Fprintf(b, "ok: infimum %s value=%d projection=%d; %d infimum outputs agree\n",
			sc.base(ref.Base()), ref.Infimum().Value, ref.Projection(), len(outs))
	}
}

// reference folds naively, in id order, every event that some replica of the scenario
// folded itself. It returns the value and the events' ids.
func (sc *scenario) reference() (int64, string) {
	ids := map[EventID]bool{}
	for _, r := range sc.reps {
		for id := range r.outputs {
			if sc.deltas[id].Kind == Event {
				ids[id] = true
			}
		}
	}
	var v int64
	var names []string
	for _, id := range slices.SortedFunc(maps.Keys(ids), EventID.Compare) {
		if next, err := safeCounterApply(v, sc.deltas[id].Event); err == nil {
			v = next
		}
		names = append(names, id.String())
	}
	return v, strings.Join(names, ",")
}

func safeCounterApply(total, e int64) (next int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	next, _, err = counterApply(total, e)
	return next, err
}

func (sc *scenario) pendingIDs(st *scnState) string {
	var ids []string
	for _, e := range st.Pending() {
		ids = append(ids, e.ID.String())
	}
	return strings.Join(ids, ",")
}

// TestReportAddedIsHeld: Report.Added lists "the ids of entries this replica did not hold
// before", and the runtime persists them. An entry that the merge inserted and then
// dropped as a renegade is not held afterwards, so it must not be listed: the runtime
// would persist a delta that is in no replica's log, and no fold would ever delete it.
// (The lattice prunes Added only when the dropped renegades include the receiver's own
// entries; see mergeEntries.) testdata/renegade.txt shows the same case in context.
func TestReportAddedIsHeld(t *testing.T) {
	sc := newScenario()
	ps := []Peer{"a", "b", "c"}
	for _, p := range ps {
		sc.add(p, func(bh Behavior[int64, int64, int64]) *scnState { return New(bh, sc.origin, p, ps, 0) })
	}
	a, b, c := sc.reps["a"].st, sc.reps["b"].st, sc.reps["c"].st
	// a ejects c; b acknowledges; the UnJoin folds on a and b.
	if _, err := a.Propose(UnJoin, "c"); err != nil {
		t.Fatal(err)
	}
	send := func(from, to *scnState) Report[int64] {
		t.Helper()
		d, ok := from.Diff(to.Self())
		if !ok {
			t.Fatalf("%s has no diff for %s", from.Self(), to.Self())
		}
		rep, err := to.ApplyDiff(d)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	send(a, b)
	b.Acknowledge()
	send(b, a)
	a.Reduce()
	b.Reduce()
	if slices.Contains(b.Infimum().Participants, "c") {
		t.Fatalf("c still a participant of b's infimum: %v", b.Infimum().Participants)
	}
	// c, cut off, did not learn of its ejection and writes 1@c (above b's infimum 1@a).
	if _, _, err := c.Event(50, 1); err != nil {
		t.Fatal(err)
	}
	rep := send(c, b)
	if b.Len() != 0 {
		t.Fatalf("b kept the renegade: %v", b.Pending())
	}
	for _, id := range rep.Added {
		if _, held := b.find(id); !held {
			t.Errorf("Report.Added lists %v, dropped as a renegade by the same ApplyDiff", id)
		}
	}
}

// exec runs scenario commands given one a line (blank lines and # comments skipped) and
// returns their output: a script without expected output, for tests that check a
// property of the run rather than its rendering.
func (sc *scenario) exec(t *testing.T, script string) string {
	t.Helper()
	var out strings.Builder
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd, args, err := datadriven.ParseLine(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out.WriteString(sc.run(t, &datadriven.TestData{Pos: line, Cmd: cmd, CmdArgs: args}))
	}
	return out.String()
}
