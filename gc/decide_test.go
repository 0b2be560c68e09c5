package gc

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/legion-go/legion/lattice"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const eject = DefaultEjectAfter

// keyRanked returns a key of kind whose rendezvous ranking over order is exactly order, so
// that a test can say which peer a partition prefers. By the rendezvous property, every
// subset of order is then ranked in the same relative order.
func keyRanked(t testing.TB, kind string, order ...lattice.Peer) string {
	t.Helper()
	return keyRankedAs(t, kind, "key-", order...)
}

// keyRankedAs is keyRanked for keys that start with prefix.
func keyRankedAs(t testing.TB, kind, prefix string, order ...lattice.Peer) string {
	t.Helper()
	for i := range 100000 {
		k := fmt.Sprint(prefix, i)
		if slices.Equal(ReplicaSet(kind, k, order, len(order)), order) {
			return k
		}
	}
	t.Fatalf("no key ranks %v", order)
	return ""
}

func live(p lattice.Peer, kinds ...string) Member {
	if kinds == nil {
		kinds = []string{"k"}
	}
	return Member{Peer: p, Kinds: kinds, Live: true, Since: t0.Add(-time.Hour)}
}

// dead is a tombstone for p, gone for the given time at t0.
func dead(p lattice.Peer, gone time.Duration) Member {
	return Member{Peer: p, Kinds: []string{"k"}, Since: t0.Add(-gone)}
}

func ps(s ...lattice.Peer) []lattice.Peer { return s }

type decideCase struct {
	name     string
	self     lattice.Peer // default n1
	order    []lattice.Peer
	members  []Member
	replica  Replica // Kind "k" and Key (ranked by order) are filled in
	inFlight int
	cfg      Config // default R = 3
	want     string // Plan.String(), with $P for the partition
}

func runDecideCases(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			self := cmpOr(c.self, "n1")
			r := c.replica
			r.Kind, r.Key = "k", keyRanked(t, "k", c.order...)
			if r.LastAdvance.IsZero() {
				r.LastAdvance = t0
			}
			got := Decide(t0, self, c.members, []Replica{r}, c.inFlight, c.cfg).String()
			want := strings.ReplaceAll(c.want, "$P", r.Partition().String())
			if got != want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func cmpOr(p, def lattice.Peer) lattice.Peer {
	if p == "" {
		return def
	}
	return p
}

// TestDecideEject covers the ejection rule: timing at the EjectAfter boundary, liveness,
// tombstones versus unknown peers, the single writer, and what is never ejected.
func TestDecideEject(t *testing.T) {
	r3 := Config{ReplicationFactor: 3}
	full := Replica{Participants: ps("n1", "n2", "n3")}
	runDecideCases(t, []decideCase{{
		name:    "gone exactly EjectAfter: ejected",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", eject)},
		replica: full, cfg: r3,
		want: "eject n3 from $P\n",
	}, {
		name:    "gone 1ns less than EjectAfter: kept",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", eject-1)},
		replica: full, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "custom EjectAfter",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", 2*time.Second)},
		replica: full, cfg: Config{ReplicationFactor: 3, EjectAfter: 2 * time.Second},
		want: "eject n3 from $P\n",
	}, {
		name:    "tombstone with zero Since: gone since forever",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), {Peer: "n3", Kinds: []string{"k"}}},
		replica: full, cfg: r3,
		want: "eject n3 from $P\n",
	}, {
		name:    "came back: not ejected",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), {Peer: "n3", Kinds: []string{"k"}, Live: true, Since: t0}},
		replica: full, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "unknown participant: never ejected, and the replacement waits (it could not fold)",
		order:   ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1"), live("n2"), live("n4")},
		replica: full, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "gone, not yet ejectable: the replacement waits for the ejection",
		order:   ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1"), live("n2"), dead("n3", eject-1), live("n4")},
		replica: full, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "gone for EjectAfter: ejected and replaced at once",
		order:   ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1"), live("n2"), dead("n3", eject), live("n4")},
		replica: full, cfg: r3,
		want: "eject n3 from $P\njoin n4 to $P\n",
	}, {
		name:    "gone and already being ejected: the replacement joins",
		order:   ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Second), live("n4")},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Leaving: ps("n3")}, cfg: r3,
		want: "join n4 to $P\n",
	}, {
		name:    "already leaving: not ejected again",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour)},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Leaving: ps("n3")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "already ejected (no longer a participant): ignored",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour)},
		replica: Replica{Participants: ps("n1", "n2")}, cfg: Config{ReplicationFactor: 2},
		want: "nothing\n",
	}, {
		name:    "dead joiner: ejected, so that its Join stops blocking the log",
		order:   ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1"), live("n2"), live("n3"), dead("n4", time.Hour)},
		replica: Replica{Participants: ps("n1", "n2"), Joining: ps("n4")}, cfg: r3,
		want: "eject n4 from $P\njoin n3 to $P\n",
	}, {
		name:    "dead joiner that never acknowledged its Join: ejected all the same",
		order:   ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1"), live("n2"), live("n3"), dead("n4", time.Hour)},
		replica: Replica{Participants: ps("n1", "n2"), Joining: ps("n4"), JoinUnacked: ps("n4")}, cfg: r3,
		want: "eject n4 from $P\njoin n3 to $P\n",
	}, {
		name:    "a live joiner has not acknowledged its Join: the ejection waits (it would need that ack)",
		order:   ps("n1", "n2", "n4", "n5"),
		members: []Member{live("n1"), dead("n2", time.Hour), live("n4"), live("n5")},
		replica: Replica{Participants: ps("n1", "n2"), Joining: ps("n4", "n5"), JoinUnacked: ps("n5")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "the joiners acknowledged their Joins: ejected",
		order:   ps("n1", "n2", "n4", "n5"),
		members: []Member{live("n1"), dead("n2", time.Hour), live("n4"), live("n5")},
		replica: Replica{Participants: ps("n1", "n2"), Joining: ps("n4", "n5")}, cfg: r3,
		want: "eject n2 from $P\n",
	}, {
		name:    "not the writer: a live participant ranks higher",
		order:   ps("n2", "n1", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour)},
		replica: full, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "writer: the first-ranked participant is dead, the next one writes",
		order:   ps("n3", "n1", "n2"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour)},
		replica: full, cfg: r3,
		want: "eject n3 from $P\n",
	}, {
		name:    "writer: a leaving participant does not write (its later deltas would be renegades)",
		order:   ps("n2", "n1", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour)},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Leaving: ps("n2")}, cfg: r3,
		want: "eject n3 from $P\n",
	}, {
		name:    "writer: only full participants write; a higher-ranked joiner does not",
		order:   ps("n4", "n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour), live("n4")},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Joining: ps("n4")}, cfg: r3,
		want: "eject n3 from $P\n",
	}, {
		name:    "writer outside the desired set: highest-ranked live participant",
		order:   ps("n4", "n5", "n6", "n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour), live("n4"), live("n5"), live("n6")},
		replica: full, cfg: r3, inFlight: 4,
		want: "eject n3 from $P\ndeferred 3\n",
	}, {
		name:    "no writer: self is leaving and the other participants are dead",
		order:   ps("n1", "n2", "n3", "n4", "n5", "n6"),
		members: []Member{live("n1"), dead("n2", time.Hour), dead("n3", time.Hour), live("n4"), live("n5"), live("n6")},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Leaving: ps("n1")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "two participants gone: blocked until one returns (no ejection could be confirmed)",
		order:   ps("n2", "n3", "n1", "n4", "n5", "n6"),
		members: []Member{live("n1"), dead("n2", time.Hour), dead("n3", time.Hour), live("n4"), live("n5"), live("n6")},
		replica: full, cfg: r3,
		want: "blocked 1\n",
	}, {
		name:    "a participant and a joiner gone: blocked",
		order:   ps("n1", "n2", "n3", "n4", "n5", "n6"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour), dead("n4", time.Hour), live("n5"), live("n6")},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Joining: ps("n4")}, cfg: r3,
		want: "blocked 1\n",
	}, {
		name:    "two gone, one already leaving: still blocked",
		order:   ps("n1", "n2", "n3", "n4", "n5", "n6"),
		members: []Member{live("n1"), dead("n2", time.Hour), dead("n3", time.Hour), live("n4"), live("n5"), live("n6")},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Leaving: ps("n3")}, cfg: r3,
		want: "blocked 1\n",
	}})
}

// TestDecideMajority: nothing is planned unless a strict majority of the members that
// count is live: members hosting a kind that are live, or tombstones gone for less than
// TombstoneTTL; clients (no kinds) do not count; self must be live.
func TestDecideMajority(t *testing.T) {
	full := Replica{Participants: ps("n1", "n2", "n3")}
	r3 := Config{ReplicationFactor: 3}
	ttl := eject * DefaultTombstoneTTLFactor // the default TombstoneTTL
	runDecideCases(t, []decideCase{{
		name:    "minority: 2 of 5 live, ejects nobody",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Minute), dead("n4", time.Minute), dead("n5", time.Minute)},
		replica: full, cfg: r3,
		want: "held: gc: no majority of members live\n",
	}, {
		name:    "half is not a majority: 2 of 4",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Minute), dead("n4", time.Minute)},
		replica: full, cfg: r3,
		want: "held: gc: no majority of members live\n",
	}, {
		name:    "majority: 3 of 5",
		order:   ps("n1", "n2", "n3", "n4", "n5"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Minute), dead("n4", time.Minute), live("n5")},
		replica: full, cfg: r3,
		want: "eject n3 from $P\njoin n5 to $P\n",
	}, {
		name:  "live clients do not make a majority",
		order: ps("n1", "n2", "n3"),
		members: []Member{live("n1"), dead("n2", time.Minute), dead("n3", time.Minute),
			live("c1", []string{}...), {Peer: "c2", Live: true}, {Peer: "c3", Live: true}},
		replica: full, cfg: r3,
		want: "held: gc: no majority of members live\n",
	}, {
		// The stall after churn: three peers came and went, none ejected (yet).
		name:  "churn: 3 live of 6 counted is not a majority",
		order: ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1"), live("n2"), live("n3"),
			dead("n4", time.Minute), dead("n5", 2*time.Minute), dead("n6", 3*time.Minute)},
		replica: Replica{Participants: ps("n1", "n2", "n4")}, cfg: r3,
		want: "held: gc: no majority of members live\n",
	}, {
		name:  "churn: tombstones past TombstoneTTL no longer count, and one is still ejected",
		order: ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1"), live("n2"), live("n3"),
			dead("n4", ttl), dead("n5", ttl+time.Minute), dead("n6", time.Hour)},
		replica: Replica{Participants: ps("n1", "n2", "n4")}, cfg: r3,
		want: "eject n4 from $P\njoin n3 to $P\n",
	}, {
		name:    "tombstone gone exactly TombstoneTTL: not counted (2 of 3)",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Minute), dead("n4", ttl)},
		replica: full, cfg: r3,
		want: "eject n3 from $P\n",
	}, {
		name:    "tombstone gone 1ns less than TombstoneTTL: counted (2 of 4)",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Minute), dead("n4", ttl-1)},
		replica: full, cfg: r3,
		want: "held: gc: no majority of members live\n",
	}, {
		name:    "custom TombstoneTTL",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Minute), dead("n4", 2*time.Minute)},
		replica: full, cfg: Config{ReplicationFactor: 3, TombstoneTTL: 2 * time.Minute},
		want: "eject n3 from $P\n",
	}, {
		name:  "tombstone with zero Since: not counted",
		order: ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Minute),
			{Peer: "n4", Kinds: []string{"k"}}},
		replica: full, cfg: r3,
		want: "eject n3 from $P\n",
	}, {
		name:  "a peer listed live and gone counts once, as live",
		order: ps("n1", "n2", "n3"),
		members: []Member{live("n1"), dead("n2", time.Minute), live("n2"), dead("n3", time.Minute),
			dead("n3", 2*time.Minute)},
		replica: full, cfg: r3,
		want: "eject n3 from $P\n",
	}, {
		name:    "unknown peers do not count: only members listed do",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), dead("n3", time.Minute)},
		replica: Replica{Participants: ps("n1", "n2", "n3")}, cfg: r3,
		want: "held: gc: no majority of members live\n",
	}, {
		name:    "self not live",
		order:   ps("n1", "n2", "n3"),
		members: []Member{dead("n1", time.Hour), live("n2"), live("n3")},
		replica: full, cfg: r3,
		want: "held: gc: self not live in membership\n",
	}, {
		name:    "self not listed",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n2"), live("n3")},
		replica: full, cfg: r3,
		want: "held: gc: self not live in membership\n",
	}})
}

// TestDecideJoin covers the handoff rule for one partition.
func TestDecideJoin(t *testing.T) {
	r3 := Config{ReplicationFactor: 3}
	full := Replica{Participants: ps("n1", "n2", "n3")}
	runDecideCases(t, []decideCase{{
		name:    "a new peer that ranks into the set is joined",
		order:   ps("n1", "n4", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), live("n3"), live("n4")},
		replica: full, cfg: r3,
		want: "join n4 to $P\n",
	}, {
		name:    "a new peer that ranks below the set is not",
		order:   ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1"), live("n2"), live("n3"), live("n4")},
		replica: full, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "the writer is the first participant in desired order, not self",
		order:   ps("n4", "n2", "n1", "n3"),
		members: []Member{live("n1"), live("n2"), live("n3"), live("n4")},
		replica: full, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "already joining: not joined twice",
		order:   ps("n1", "n4", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), live("n3"), live("n4")},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Joining: ps("n4")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "a desired peer still leaving is joined again only once its UnJoin folded",
		order:   ps("n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), live("n3")},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Leaving: ps("n2")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "a peer that does not host the kind is not desired",
		order:   ps("n1", "n4", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), live("n3"), live("n4", "other")},
		replica: full, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "fewer live hosts than R: all of them",
		order:   ps("n1", "n2"),
		members: []Member{live("n1"), live("n2")},
		replica: Replica{Participants: ps("n1")}, cfg: r3,
		want: "join n2 to $P\n",
	}, {
		name:    "replacement of an ejected peer, in desired order",
		order:   ps("n5", "n1", "n4", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour), live("n4"), live("n5")},
		replica: full, cfg: Config{ReplicationFactor: 4},
		want: "eject n3 from $P\njoin n5 to $P\njoin n4 to $P\n",
	}, {
		name:    "budget: MaxHandoffs - inFlight",
		order:   ps("n5", "n1", "n4", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour), live("n4"), live("n5")},
		replica: full, cfg: Config{ReplicationFactor: 4, MaxHandoffs: 3}, inFlight: 2,
		want: "eject n3 from $P\njoin n5 to $P\ndeferred 1\n",
	}, {
		name:    "inFlight above MaxHandoffs: nothing, all deferred",
		order:   ps("n5", "n1", "n4", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour), live("n4"), live("n5")},
		replica: full, cfg: Config{ReplicationFactor: 4, MaxHandoffs: 1}, inFlight: 3,
		want: "eject n3 from $P\ndeferred 2\n",
	}, {
		name:    "self joining (not a full participant): nothing",
		self:    "n4",
		order:   ps("n4", "n1", "n2", "n3"),
		members: []Member{live("n1"), live("n2"), live("n3"), live("n4")},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Joining: ps("n4")}, cfg: r3,
		want: "nothing\n",
	}})
}

// TestDecideLeave: a displaced replica leaves only once every desired peer is a full
// participant, so the partition never has fewer than R copies on the way.
func TestDecideLeave(t *testing.T) {
	r3 := Config{ReplicationFactor: 3}
	four := []Member{live("n1"), live("n2"), live("n3"), live("n4")}
	runDecideCases(t, []decideCase{{
		name:    "joiner not yet a full participant: stay",
		order:   ps("n4", "n2", "n3", "n1"),
		members: four,
		replica: Replica{Participants: ps("n1", "n2", "n3"), Joining: ps("n4")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "joiner is a full participant: leave",
		order:   ps("n4", "n2", "n3", "n1"),
		members: four,
		replica: Replica{Participants: ps("n1", "n2", "n3", "n4")}, cfg: r3,
		want: "leave $P\n",
	}, {
		name:    "any pending Join holds the leave back",
		order:   ps("n4", "n2", "n3", "n1"),
		members: append(slices.Clone(four), live("n5")),
		replica: Replica{Participants: ps("n1", "n2", "n3", "n4"), Joining: ps("n5")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "a desired peer is leaving: stay",
		order:   ps("n4", "n2", "n3", "n1"),
		members: four,
		replica: Replica{Participants: ps("n1", "n2", "n3", "n4"), Leaving: ps("n3")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "desired: stay",
		order:   ps("n4", "n1", "n2", "n3"),
		members: four,
		replica: Replica{Participants: ps("n1", "n2", "n3", "n4")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "already leaving: nothing more",
		order:   ps("n4", "n2", "n3", "n1"),
		members: four,
		replica: Replica{Participants: ps("n1", "n2", "n3", "n4"), Leaving: ps("n1")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "draining: self stops hosting the kind, hands off, then leaves",
		order:   ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1", "other"), live("n2"), live("n3"), live("n4")},
		replica: Replica{Participants: ps("n1", "n2", "n3", "n4")}, cfg: r3,
		want: "leave $P\n",
	}, {
		name:    "draining, replacement missing: the drained writer hands off first",
		order:   ps("n1", "n2", "n3", "n4"),
		members: []Member{live("n1", "other"), live("n2"), live("n3"), live("n4")},
		replica: Replica{Participants: ps("n1", "n2")}, cfg: r3,
		want: "nothing\n", // n2, a desired participant, is the writer
	}, {
		name:    "nobody hosts the kind any more: the last copies stay",
		order:   ps("n1", "n2"),
		members: []Member{live("n1", "other"), live("n2", "other")},
		replica: Replica{Participants: ps("n1", "n2")}, cfg: r3,
		want: "nothing\n",
	}, {
		name:    "retired: nothing at all",
		order:   ps("n4", "n2", "n3", "n1"),
		members: []Member{live("n1"), live("n2"), dead("n3", time.Hour), live("n4"), live("n5")},
		replica: Replica{Participants: ps("n1", "n2", "n3"), Retired: true}, cfg: r3,
		want: "nothing\n",
	}})
}

// TestDecideThrottleOrder: joins are planned in partition order (kind, key) whatever the
// order of the replicas given, up to MaxHandoffs - inFlight; the rest are counted in
// Deferred. Ejections are not throttled. Each partition lives on n1 and n3 (dead), and the
// live hosts are n1 and n4 with R = 2: n1 writes everywhere, and every partition needs n4.
func TestDecideThrottleOrder(t *testing.T) {
	members := []Member{live("n1", "a", "b"), dead("n3", time.Hour), live("n4", "a", "b")}
	var replicas []Replica
	for _, kind := range []string{"b", "a"} {
		for i := 4; i >= 0; i-- {
			replicas = append(replicas, Replica{Kind: kind, Key: fmt.Sprint("p", i), Participants: ps("n1", "n3")})
		}
	}
	plan := Decide(t0, "n1", members, replicas, 1, Config{ReplicationFactor: 2, MaxHandoffs: 4})
	want := `eject n3 from a/p0
join n4 to a/p0
eject n3 from a/p1
join n4 to a/p1
eject n3 from a/p2
join n4 to a/p2
eject n3 from a/p3
eject n3 from a/p4
eject n3 from b/p0
eject n3 from b/p1
eject n3 from b/p2
eject n3 from b/p3
eject n3 from b/p4
deferred 7
`
	if got := plan.String(); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	// The next call, once the three joins are in flight, plans none and defers the rest.
	plan = Decide(t0, "n1", members, replicas, 4, Config{ReplicationFactor: 2, MaxHandoffs: 4})
	if plan.Count(Join) != 0 || plan.Deferred != 10 {
		t.Errorf("at the limit: %d joins, %d deferred; want 0 and 10", plan.Count(Join), plan.Deferred)
	}
}

// TestDecideSingleWriter: with the same membership, exactly one live participant of each
// partition plans its ejections and joins, whichever peers participate.
func TestDecideSingleWriter(t *testing.T) {
	peers := ps("n1", "n2", "n3", "n4", "n5", "n6")
	members := []Member{live("n1"), live("n2"), live("n3"), live("n4"), dead("n5", time.Hour), live("n6")}
	for i := range 500 {
		key := fmt.Sprint("key-", i)
		// Participants: a rotating window of 3 peers (n5 dead among them at times).
		var part []lattice.Peer
		for j := range 3 {
			part = append(part, peers[(i+j)%len(peers)])
		}
		slices.Sort(part)
		writers := 0
		for _, self := range part {
			if self == "n5" {
				continue
			}
			r := Replica{Kind: "k", Key: key, Participants: part}
			plan := Decide(t0, self, members, []Replica{r}, 0, Config{})
			if plan.Count(Eject)+plan.Count(Join) > 0 {
				writers++
			}
		}
		desired := ReplicaSet("k", key, ps("n1", "n2", "n3", "n4", "n6"), 3)
		needsWrite := slices.Contains(part, "n5") || len(diff(desired, part)) > 0
		if needsWrite && writers != 1 || !needsWrite && writers != 0 {
			t.Fatalf("%s with participants %v (desired %v): %d writers", key, part, desired, writers)
		}
	}
}

// TestDecidePure: Decide modifies none of its arguments and gives the same plan for the
// same arguments, whatever the order of members and replicas.
func TestDecidePure(t *testing.T) {
	members := []Member{live("n1"), live("n2"), dead("n3", time.Hour), live("n4"), live("n5")}
	var replicas []Replica
	for i := range 50 {
		replicas = append(replicas, Replica{
			Kind: "k", Key: fmt.Sprint("key-", i), Participants: ps("n1", "n2", "n3"),
			Joining: ps("n9"), Leaving: ps("n8"), LastAdvance: t0,
		})
	}
	m0, r0 := cloneMembers(members), cloneReplicas(replicas)
	plan := Decide(t0, "n1", members, replicas, 1, Config{})
	if !reflect.DeepEqual(members, m0) || !reflect.DeepEqual(replicas, r0) {
		t.Fatal("Decide modified its arguments")
	}
	slices.Reverse(members)
	slices.Reverse(replicas)
	if again := Decide(t0, "n1", members, replicas, 1, Config{}); !reflect.DeepEqual(again, plan) {
		t.Fatalf("order changed the plan:\n%v\nthen\n%v", plan, again)
	}
}

func cloneMembers(ms []Member) []Member {
	out := slices.Clone(ms)
	for i := range out {
		out[i].Kinds = slices.Clone(out[i].Kinds)
	}
	return out
}

func cloneReplicas(rs []Replica) []Replica {
	out := slices.Clone(rs)
	for i := range out {
		out[i].Participants = slices.Clone(out[i].Participants)
		out[i].Joining = slices.Clone(out[i].Joining)
		out[i].Leaving = slices.Clone(out[i].Leaving)
		out[i].Owed = slices.Clone(out[i].Owed)
	}
	return out
}

// TestMembershipDuplicates: a peer listed twice is merged the same way whatever the order.
func TestMembershipDuplicates(t *testing.T) {
	a := Member{Peer: "n3", Kinds: []string{"k"}, Since: t0.Add(-time.Hour)}
	b := Member{Peer: "n3", Kinds: []string{"k"}, Since: t0.Add(-time.Second)}
	c := Member{Peer: "n3", Kinds: []string{"x"}, Live: true, Since: t0}
	for _, order := range [][]Member{{a, b}, {b, a}} {
		m := newMembership(order)
		if d, ok := m.goneFor("n3", t0); !ok || d != time.Second {
			t.Errorf("%v: gone for %v %v, want the latest Since (1s)", order, d, ok)
		}
	}
	for _, order := range [][]Member{{a, c, b}, {c, b, a}, {b, a, c}} {
		m := newMembership(order)
		if !m.isLive("n3") || !slices.Equal(m.liveHosts("x"), ps("n3")) || len(m.liveHosts("k")) != 0 {
			t.Errorf("%v: want live, hosting x only", order)
		}
	}
}

func TestConfig(t *testing.T) {
	d := Config{}.WithDefaults()
	if d != (Config{ReplicationFactor: 3, EjectAfter: 10 * time.Second, MaxHandoffs: 4, TombstoneTTL: 5 * time.Minute}) {
		t.Errorf("defaults: %+v", d)
	}
	for _, ok := range []Config{d, {}, {EjectAfter: time.Second, TombstoneTTL: time.Second + 1}, {TombstoneTTL: time.Minute}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v invalid: %v", ok, err)
		}
	}
	c := Config{ReplicationFactor: 5, EjectAfter: time.Minute, MaxHandoffs: 1, TombstoneTTL: time.Hour}
	if c.WithDefaults() != c {
		t.Errorf("WithDefaults changed set fields: %+v", c.WithDefaults())
	}
	if got := (Config{EjectAfter: time.Minute}).WithDefaults().TombstoneTTL; got != 30*time.Minute {
		t.Errorf("default TombstoneTTL for EjectAfter 1m: %v, want 30m", got)
	}
	if got := (Config{EjectAfter: maxDuration / 2}).WithDefaults().TombstoneTTL; got != maxDuration {
		t.Errorf("default TombstoneTTL for a huge EjectAfter: %v, want the largest Duration", got)
	}
	for _, bad := range []Config{{ReplicationFactor: -1}, {EjectAfter: -time.Second}, {MaxHandoffs: -1},
		{TombstoneTTL: -time.Second}, {TombstoneTTL: eject}, {EjectAfter: time.Minute, TombstoneTTL: time.Second}} {
		if err := bad.WithDefaults().Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: Validate() = %v, want ErrInvalidConfig", bad, err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: Decide did not panic", bad)
				}
			}()
			Decide(t0, "n1", nil, nil, 0, bad)
		}()
	}
}

// BenchmarkDecide: one node of 5 holding 10,000 replicas (R = 3) after a sixth node joined
// and one died: every partition is examined, about half need an action.
func BenchmarkDecide(b *testing.B) {
	members := []Member{live("n1"), live("n2"), live("n3"), live("n4"), dead("n5", time.Hour), live("n6")}
	all := ps("n1", "n2", "n3", "n4", "n5")
	var replicas []Replica
	for i := range 10000 {
		key := fmt.Sprint("key-", i)
		part := ReplicaSet("k", key, all, 3)
		if !slices.Contains(part, "n1") {
			continue
		}
		replicas = append(replicas, Replica{Kind: "k", Key: key, Participants: sortedSet(part), LastAdvance: t0})
	}
	b.ReportAllocs()
	b.ResetTimer()
	var plan Plan
	for b.Loop() {
		plan = Decide(t0, "n1", members, replicas, 0, Config{MaxHandoffs: 1 << 20})
	}
	b.ReportMetric(float64(len(replicas)), "replicas")
	b.ReportMetric(float64(len(plan.Actions)), "actions")
}

func TestActionString(t *testing.T) {
	p := Partition{"k", "a"}
	for _, c := range []struct {
		a    Action
		want string
	}{
		{Action{Eject, p, "n3"}, "eject n3 from k/a"},
		{Action{Join, p, "n4"}, "join n4 to k/a"},
		{Action{Leave, p, "n1"}, "leave k/a"},
		{Action{ActionKind(9), p, "n1"}, "ActionKind(9) n1 k/a"},
	} {
		if got := c.a.String(); got != c.want {
			t.Errorf("%#v: %q, want %q", c.a, got, c.want)
		}
	}
	plan := Plan{Actions: []Action{{Join, p, "n4"}}, Deferred: 2, Blocked: 1}
	if got := plan.String(); got != "join n4 to k/a\ndeferred 2\nblocked 1\n" {
		t.Errorf("plan: %q", got)
	}
	if plan.Count(Join) != 1 || plan.Count(Eject) != 0 {
		t.Error("Count")
	}
}
