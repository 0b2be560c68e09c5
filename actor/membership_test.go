package actor

import (
	"slices"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

var m0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	mSettle = 200 * time.Millisecond
	mTTL    = time.Hour
)

func at(d time.Duration) time.Time { return m0.Add(d) }

func viewOf(peers ...string) discovery.View {
	var ms []discovery.Member
	for _, p := range peers {
		ms = append(ms, discovery.Member{Peer: p, Instance: "i", Kinds: []string{"k"}})
	}
	return discovery.NewView(ms)
}

// names says which peers the replicas name (all of kind "k").
func names(peers ...lattice.Peer) map[lattice.Peer][]string {
	out := map[lattice.Peer][]string{}
	for _, p := range peers {
		out[p] = []string{"k"}
	}
	return out
}

// tombstones lists the peers members holds a tombstone for.
func tombstones(m *members) []lattice.Peer {
	var out []lattice.Peer
	for _, x := range m.list() {
		if !x.Live {
			out = append(out, x.Peer)
		}
	}
	slices.Sort(out)
	return out
}

func wantTombstones(t *testing.T, m *members, step string, want ...lattice.Peer) {
	t.Helper()
	if got := tombstones(m); !slices.Equal(got, want) {
		t.Fatalf("%s: tombstones %v, want %v", step, got, want)
	}
}

// TestMembershipTombstoneRetires: a departed peer's tombstone stays while a replica names
// it, and after it stops being named, until a wake pass that began after that has settled;
// then it is dropped, and gc counts a majority again. A peer that comes back afterwards is
// simply live.
func TestMembershipTombstoneRetires(t *testing.T) {
	var m members
	m.update(viewOf("a", "b", "c", "d"), at(0))
	m.sweep(names("b", "c", "d"), at(time.Second), mSettle, mTTL) // a is self: left out
	m.update(viewOf("a", "b"), at(2*time.Second))                 // c and d leave
	wantTombstones(t, &m, "left", "c", "d")
	if plan := decideAt(&m, at(2*time.Second)); plan.Held != gc.ErrNoMajority {
		t.Fatalf("2 live of 4: %v, want no majority", plan)
	}

	m.passed(at(2*time.Second), at(2*time.Second+time.Millisecond)) // on the view change
	m.sweep(names("b", "c", "d"), at(3*time.Second), mSettle, mTTL)
	wantTombstones(t, &m, "still named, after a settled pass", "c", "d")

	// c and d are ejected: no replica names them. The pass that settled began before they
	// were last seen named, so it proves nothing yet.
	m.sweep(names("b"), at(4*time.Second), mSettle, mTTL)
	wantTombstones(t, &m, "no longer named, no pass since", "c", "d")

	m.passed(at(5*time.Second), at(5*time.Second+time.Millisecond))
	m.sweep(names("b"), at(5*time.Second+mSettle-time.Millisecond), mSettle, mTTL)
	wantTombstones(t, &m, "pass not settled", "c", "d")
	m.sweep(names("b", "d"), at(5*time.Second+mSettle+time.Millisecond), mSettle, mTTL)
	wantTombstones(t, &m, "pass settled, d named again (a late replica)", "d")
	if plan := decideAt(&m, at(6*time.Second)); plan.Held != nil {
		t.Fatalf("2 live of 3 counted: %v, want a plan", plan)
	}

	m.passed(at(7*time.Second), at(7*time.Second+time.Millisecond))
	m.sweep(names("b"), at(8*time.Second), mSettle, mTTL)
	wantTombstones(t, &m, "d resolved too")
	if plan := decideAt(&m, at(8*time.Second)); plan.Held != nil {
		t.Fatalf("2 live of 2: %v, want a plan", plan)
	}
	if m.anyGone() {
		t.Fatal("anyGone with no tombstone left")
	}

	if !m.update(viewOf("a", "b", "c"), at(9*time.Second)) {
		t.Fatal("c came back: the live peers changed")
	}
	for _, x := range m.list() {
		if x.Peer == "c" && (!x.Live || !x.Since.Equal(at(9*time.Second))) {
			t.Fatalf("c after it came back: %+v", x)
		}
	}
}

// decideAt runs gc.Decide for self "a", a full participant of a partition with b.
func decideAt(m *members, now time.Time) gc.Plan {
	r := gc.Replica{Kind: "k", Key: "x", Participants: []lattice.Peer{"a", "b"}, LastAdvance: now}
	return gc.Decide(now, "a", m.list(), []gc.Replica{r}, 0, gc.Config{EjectAfter: time.Second, TombstoneTTL: mTTL})
}

// TestMembershipPassBeforeDeparture: a pass that began before the peer was seen gone
// proves nothing about the replicas since, however long ago it settled.
func TestMembershipPassBeforeDeparture(t *testing.T) {
	var m members
	m.update(viewOf("a", "b", "c"), at(0))
	m.sweep(names("b", "c"), at(time.Second), mSettle, mTTL)
	m.passed(at(2*time.Second), at(2*time.Second))
	m.update(viewOf("a", "b"), at(3*time.Second))
	m.sweep(names("b"), at(10*time.Second), mSettle, mTTL)
	wantTombstones(t, &m, "pass before the departure", "c")
	m.passed(at(11*time.Second), at(11*time.Second))
	m.sweep(names("b"), at(12*time.Second), mSettle, mTTL)
	wantTombstones(t, &m, "pass after the departure")
}

// TestMembershipPassesSettleInOrder: passes settle one by one; the latest settled one is
// the one that counts, and one still settling is kept for later sweeps.
func TestMembershipPassesSettleInOrder(t *testing.T) {
	var m members
	m.update(viewOf("a", "b", "c"), at(0))
	m.sweep(names("b", "c"), at(time.Second), mSettle, mTTL)
	m.update(viewOf("a", "b"), at(2*time.Second))
	m.passed(at(2*time.Second), at(2*time.Second))
	m.sweep(names("b", "c"), at(3*time.Second), mSettle, mTTL) // last named at 3s
	m.passed(at(4*time.Second), at(4*time.Second))
	m.passed(at(5*time.Second), at(6*time.Second))
	m.sweep(names("b"), at(4*time.Second+mSettle), mSettle, mTTL) // the 4s pass settles
	wantTombstones(t, &m, "a pass after the last sighting settled")
	if len(m.passes) != 1 || !m.settled.Equal(at(4*time.Second)) {
		t.Fatalf("passes %v, settled %v: want the 5s pass still settling, 4s settled", m.passes, m.settled)
	}
}

// TestMembershipNeverNamed: a peer no replica of this node ever named (it shares no
// partition with it) is not dropped by a pass (a node cut off in a minority would drop the
// majority's peers it shares nothing with), only after TombstoneTTL.
func TestMembershipNeverNamed(t *testing.T) {
	var m members
	m.update(viewOf("a", "b", "c"), at(0))
	m.update(viewOf("a", "b"), at(time.Second))
	m.passed(at(2*time.Second), at(2*time.Second))
	m.sweep(names("b"), at(3*time.Second), mSettle, mTTL)
	wantTombstones(t, &m, "never named, pass settled", "c")
	m.sweep(names("b"), at(time.Second+mTTL-1), mSettle, mTTL)
	wantTombstones(t, &m, "1ns before TombstoneTTL", "c")
	_, retired := m.sweep(names("b"), at(time.Second+mTTL), mSettle, mTTL)
	wantTombstones(t, &m, "TombstoneTTL")
	if !slices.Equal(retired, []lattice.Peer{"c"}) {
		t.Fatalf("retired %v, want [c]", retired)
	}
}

// TestMembershipNamedPastTTL: a peer some replica still names keeps its tombstone past
// TombstoneTTL (it must still be ejectable), but gc no longer counts it; once no replica
// names it, it goes at the next sweep.
func TestMembershipNamedPastTTL(t *testing.T) {
	var m members
	m.update(viewOf("a", "b", "c", "d"), at(0))
	m.update(viewOf("a", "b"), at(time.Second))
	m.sweep(names("b", "c", "d"), at(time.Second+mTTL), mSettle, mTTL)
	wantTombstones(t, &m, "named past TombstoneTTL", "c", "d")
	if plan := decideAt(&m, at(time.Second+mTTL)); plan.Held != nil {
		t.Fatalf("2 live, 2 tombstones past the TTL: %v, want a plan", plan)
	}
	m.sweep(names("b", "d"), at(2*time.Second+mTTL), mSettle, mTTL)
	wantTombstones(t, &m, "c no longer named", "d")
}

// TestMembershipNamedUnknown: a peer a replica names that membership does not list (this
// node restarted since it left, or a late Join of it arrived after its tombstone retired)
// gets a tombstone from then on, with the kinds of the replicas naming it, so that it can
// be ejected; a named live peer is left alone.
func TestMembershipNamedUnknown(t *testing.T) {
	var m members
	m.update(viewOf("a", "b"), at(0))
	added, _ := m.sweep(map[lattice.Peer][]string{"b": {"k"}, "z": {"y", "k"}}, at(time.Second), mSettle, mTTL)
	if !slices.Equal(added, []lattice.Peer{"z"}) {
		t.Fatalf("added %v, want [z]", added)
	}
	for _, x := range m.list() {
		switch x.Peer {
		case "z":
			if x.Live || !x.Since.Equal(at(time.Second)) || !slices.Equal(x.Kinds, []string{"k", "y"}) {
				t.Fatalf("z: %+v", x)
			}
		case "b":
			if !x.Live {
				t.Fatalf("b: %+v", x)
			}
		}
	}
	if added, _ := m.sweep(names("b", "z"), at(2*time.Second), mSettle, mTTL); len(added) > 0 {
		t.Fatalf("added %v again", added)
	}
}

// TestConfigTombstoneTTL: the default is 30 times EjectAfter; a TombstoneTTL that is
// negative or not above EjectAfter is rejected.
func TestConfigTombstoneTTL(t *testing.T) {
	base := Config{Name: "n", Membership: memory.NewRegistry().Provider()}
	if got := base.withDefaults().TombstoneTTL; got != 5*time.Minute {
		t.Errorf("default: %v, want 5m", got)
	}
	c := base
	c.EjectAfter = time.Second
	if got := c.withDefaults().TombstoneTTL; got != 30*time.Second {
		t.Errorf("default with EjectAfter 1s: %v, want 30s", got)
	}
	for _, ttl := range []time.Duration{-time.Second, time.Second, time.Millisecond} {
		c.TombstoneTTL = ttl
		if err := c.withDefaults().validate(); err == nil {
			t.Errorf("TombstoneTTL %v with EjectAfter 1s: valid", ttl)
		}
	}
	c.TombstoneTTL = time.Second + 1
	if err := c.withDefaults().validate(); err != nil {
		t.Errorf("TombstoneTTL just above EjectAfter: %v", err)
	}
}
