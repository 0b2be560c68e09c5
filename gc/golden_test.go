package gc

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/legion-go/legion/lattice"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestGoldenScenario renders one node's plan and stall report in a scenario that exercises
// every rule at once: node n1 of a 7-peer cluster (R = 3, MaxHandoffs 4, two joins already
// in flight) where n6 died 30 s ago, n5 died 4 s ago, n7 joined, and n4 stopped hosting
// kind "cart". Each partition's key is chosen for its ranking (and named s1-, s2-, ... so
// that partition order is scenario order) so that the file reads as a story;
// testdata/scenario.golden holds the output.
func TestGoldenScenario(t *testing.T) {
	kinds := []string{"cart", "user"}
	members := []Member{
		{Peer: "n1", Kinds: kinds, Live: true, Since: t0.Add(-time.Hour)},
		{Peer: "n2", Kinds: kinds, Live: true, Since: t0.Add(-time.Hour)},
		{Peer: "n3", Kinds: kinds, Live: true, Since: t0.Add(-time.Hour)},
		{Peer: "n4", Kinds: []string{"user"}, Live: true, Since: t0.Add(-time.Hour)},
		{Peer: "n5", Kinds: kinds, Since: t0.Add(-4 * time.Second)},
		{Peer: "n6", Kinds: kinds, Since: t0.Add(-30 * time.Second)},
		{Peer: "n7", Kinds: kinds, Live: true, Since: t0.Add(-time.Minute)},
	}
	type scenario struct {
		story  string
		kind   string
		order  []lattice.Peer
		change func(r *Replica)
		wait   time.Duration // how long the infimum has waited for acks; 0: nothing pending
	}
	scenarios := []scenario{
		{"n6 dead 30s: n1 (writer) ejects it, joins n7 as replacement", "user",
			ps("n1", "n6", "n7", "n2", "n3", "n4", "n5"), func(r *Replica) { r.Participants = ps("n1", "n2", "n6") }, 30 * time.Second},
		{"n5 dead 4s (< EjectAfter): kept; the replacement n3 waits for the ejection", "user",
			ps("n1", "n5", "n3", "n2", "n4", "n6", "n7"), func(r *Replica) { r.Participants = ps("n1", "n2", "n5") }, 4 * time.Second},
		{"n7 ranks first: n1 (writer) hands off to n7", "user",
			ps("n7", "n1", "n2", "n3", "n4", "n5", "n6"), func(r *Replica) { r.Participants = ps("n1", "n2", "n3") }, time.Second},
		{"n7 ranks first, but the budget (4 - 2 in flight) is spent: deferred", "user",
			ps("n7", "n1", "n3", "n2", "n4", "n5", "n6"), func(r *Replica) { r.Participants = ps("n1", "n2", "n3") }, 0},
		{"n7 joined, n1 displaced: leaves", "user",
			ps("n7", "n2", "n3", "n1", "n4", "n5", "n6"), func(r *Replica) { r.Participants = ps("n1", "n2", "n3", "n7") }, 0},
		{"n7 still joining: n1 displaced, but stays", "user",
			ps("n7", "n3", "n2", "n1", "n4", "n5", "n6"), func(r *Replica) { r.Participants = ps("n1", "n2", "n3"); r.Joining = ps("n7") }, 0},
		{"n4 stopped hosting cart: n2 (writer) replaces it, n1 has nothing to do", "cart",
			ps("n4", "n2", "n1", "n3", "n5", "n6", "n7"), func(r *Replica) { r.Participants = ps("n1", "n2", "n4") }, 0},
		{"n5 and n6 both gone: blocked until one returns", "user",
			ps("n1", "n5", "n6", "n2", "n3", "n4", "n7"), func(r *Replica) { r.Participants = ps("n1", "n5", "n6") }, 30 * time.Second},
		{"retired: nothing", "cart",
			ps("n6", "n1", "n2", "n3", "n4", "n5", "n7"), func(r *Replica) { r.Participants = ps("n2", "n3", "n6"); r.Retired = true }, 0},
	}
	var replicas []Replica
	var b strings.Builder
	for i, s := range scenarios {
		r := Replica{Kind: s.kind, Key: keyRankedAs(t, s.kind, fmt.Sprintf("s%d-", i+1), s.order...), LastAdvance: t0.Add(-time.Hour)}
		s.change(&r)
		if s.wait > 0 {
			r.LastAdvance = t0.Add(-s.wait)
			r.Pending = 3 * (i + 1)
			for _, p := range r.Participants {
				if p != "n1" {
					r.Owed = append(r.Owed, lattice.Owed{Peer: p, Count: r.Pending - 1})
				}
			}
		}
		replicas = append(replicas, r)
		fmt.Fprintf(&b, "# %s/%s: %s\n", r.Kind, r.Key, s.story)
	}
	plan := Decide(t0, "n1", members, replicas, 2, Config{ReplicationFactor: 3, MaxHandoffs: 4})
	b.WriteString("\n## plan\n")
	b.WriteString(plan.String())
	b.WriteString("\n## stalls\n")
	b.WriteString(Stalls(t0, replicas).String())
	golden(t, "scenario.golden", b.String())
}
