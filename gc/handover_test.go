package gc

import (
	"slices"
	"strings"
	"testing"

	"github.com/legion-go/legion/lattice"
)

// TestHandover: a departing peer joins each partition's replacement and leaves behind it;
// it just leaves where no peer can replace it but others hold the partition, skips what
// it is not a full participant of (or already leaves), and defers what its handoff
// budget cannot take, partition by partition.
func TestHandover(t *testing.T) {
	live := func(ps ...lattice.Peer) []Member {
		var ms []Member
		for _, p := range ps {
			ms = append(ms, Member{Peer: p, Kinds: []string{"k"}, Live: true})
		}
		return ms
	}
	cfg := Config{ReplicationFactor: 3, MaxHandoffs: 2}
	members := live("a", "b", "c", "d")
	// The replica set of each key without a: the peer among b, c, d it lacks is the
	// replacement.
	var replicas []Replica
	for _, key := range []string{"k1", "k2", "k3"} {
		replicas = append(replicas, Replica{Kind: "k", Key: key, Participants: []lattice.Peer{"a", "b", "c"}})
	}
	replicas = append(replicas,
		Replica{Kind: "k", Key: "joiner", Participants: []lattice.Peer{"b", "c", "d"}, Joining: []lattice.Peer{"a"}},
		Replica{Kind: "k", Key: "leaving", Participants: []lattice.Peer{"a", "b", "c"}, Leaving: []lattice.Peer{"a"}},
		Replica{Kind: "k", Key: "placed", Participants: []lattice.Peer{"a", "b", "c", "d"}})
	plan := Handover("a", members, replicas, 0, cfg)
	want := "join d to k/k1\nleave k/k1\njoin d to k/k2\nleave k/k2\nleave k/placed\ndeferred 1"
	if got := strings.TrimSpace(plan.String()); got != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", got, want)
	}
	// With the budget spent, only what needs no join goes.
	if got := strings.TrimSpace(Handover("a", members, replicas, 2, cfg).String()); got != "leave k/placed\ndeferred 3" {
		t.Fatalf("plan with no budget:\n%s", got)
	}
	// Alone with its partition's other participants: it leaves them the partition.
	if got := strings.TrimSpace(Handover("a", live("a", "b", "c"), replicas[:1], 0, cfg).String()); got != "leave k/k1" {
		t.Fatalf("plan with no replacement:\n%s", got)
	}
	// The only holder, with no other live host: it keeps the partition.
	alone := []Replica{{Kind: "k", Key: "k1", Participants: []lattice.Peer{"a"}}}
	if plan := Handover("a", live("a"), alone, 0, cfg); len(plan.Actions) != 0 {
		t.Fatalf("the only holder plans %v", plan)
	}
}

// TestHandoverLastHolderStays: when every holder of a partition departs at once (a whole
// cluster stopped together), the one that finds the others leaving, or departing and so no
// live host, keeps the partition rather than leave it to no one (every copy retired).
func TestHandoverLastHolderStays(t *testing.T) {
	cfg := Config{ReplicationFactor: 3, MaxHandoffs: 2}
	members := []Member{
		{Peer: "a", Kinds: []string{"k"}, Live: true},
		{Peer: "b", Kinds: []string{"k"}, Live: true},
		{Peer: "c", Kinds: []string{"k"}, Live: true},
	}
	// b and c write their UnJoins: c is the last holder that is not leaving.
	leaving := []Replica{{Kind: "k", Key: "k1", Participants: []lattice.Peer{"a", "b", "c"}, Leaving: []lattice.Peer{"b", "c"}}}
	if plan := Handover("a", members, leaving, 0, cfg); len(plan.Actions) != 0 {
		t.Fatalf("the last holder not leaving plans %v", plan)
	}
	// b and c announced their departure (the runtime lists them hosting nothing): no live
	// host is left to hold the partition.
	departing := slices.Clone(members)
	departing[1].Kinds, departing[2].Kinds = nil, nil
	held := []Replica{{Kind: "k", Key: "k1", Participants: []lattice.Peer{"a", "b", "c"}}}
	if plan := Handover("a", departing, held, 0, cfg); len(plan.Actions) != 0 {
		t.Fatalf("the last live host plans %v", plan)
	}
	// One holder stays that is neither leaving nor departing: a leaves it the partition.
	leaving[0].Leaving = []lattice.Peer{"b"}
	if got := strings.TrimSpace(Handover("a", members, leaving, 0, cfg).String()); got != "leave k/k1" {
		t.Fatalf("plan with c staying:\n%s", got)
	}
}
