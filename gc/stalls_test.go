package gc

import (
	"reflect"
	"testing"
	"time"

	"github.com/legion-go/legion/lattice"
)

func owed(p lattice.Peer, count int) lattice.Owed {
	return lattice.Owed{Peer: p, From: lattice.EventID{Counter: 1, Peer: "n1"}, Count: count}
}

func TestStalls(t *testing.T) {
	replicas := []Replica{
		{Kind: "k", Key: "b", Pending: 4, LastAdvance: t0.Add(-time.Minute), Owed: []lattice.Owed{owed("n2", 4), owed("n3", 1)}},
		{Kind: "k", Key: "a", Pending: 2, LastAdvance: t0.Add(-time.Minute), Owed: []lattice.Owed{owed("n3", 2)}},
		{Kind: "j", Key: "z", Pending: 1, LastAdvance: t0.Add(-5 * time.Minute), Owed: []lattice.Owed{owed("n3", 1)}},
		{Kind: "k", Key: "idle", LastAdvance: t0.Add(-time.Hour)},                                                     // nothing pending: not stalled
		{Kind: "k", Key: "gone", Pending: 9, Retired: true, Owed: []lattice.Owed{owed("n9", 9)}},                      // retired: skipped
		{Kind: "k", Key: "future", Pending: 1, LastAdvance: t0.Add(time.Second), Owed: []lattice.Owed{owed("n4", 1)}}, // clock skew
	}
	r0 := cloneReplicas(replicas)
	rep := Stalls(t0, replicas)
	if !reflect.DeepEqual(replicas, r0) {
		t.Fatal("Stalls modified its argument")
	}
	want := `partition j/z pending=1 stalled=5m0s owed=n3:1
partition k/a pending=2 stalled=1m0s owed=n3:2
partition k/b pending=4 stalled=1m0s owed=n2:4,n3:1
partition k/future pending=1 stalled=0s owed=n4:1
peer n3 acks=4 stalled=5m0s partitions=j/z,k/a,k/b
peer n2 acks=4 stalled=1m0s partitions=k/b
peer n4 acks=1 stalled=0s partitions=k/future
`
	if got := rep.String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
	if rep.Peers[0].Since != t0.Add(-5*time.Minute) {
		t.Errorf("n3 since %v, want the oldest LastAdvance", rep.Peers[0].Since)
	}
	if got := Stalls(t0, nil).String(); got != "no stalls\n" {
		t.Errorf("empty report: %q", got)
	}
}
