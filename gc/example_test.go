package gc_test

import (
	"fmt"
	"time"

	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// Node n1 stores two replicas (R = 2). Partition counter/c lives on n1 and n3, and n3
// died a minute ago: n1, the partition's writer, ejects n3 and hands the partition off to
// n2, the replacement. Partition counter/e moved to n4 when n4 joined the cluster: n4 is now
// a full participant, so n1, displaced, leaves.
func Example() {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	kinds := []string{"counter"}
	members := []gc.Member{
		{Peer: "n1", Kinds: kinds, Live: true},
		{Peer: "n2", Kinds: kinds, Live: true},
		{Peer: "n3", Kinds: kinds, Live: false, Since: now.Add(-time.Minute)},
		{Peer: "n4", Kinds: kinds, Live: true},
	}
	live := []lattice.Peer{"n1", "n2", "n4"}
	fmt.Println("counter/c:", gc.ReplicaSet("counter", "c", live, 2))
	fmt.Println("counter/e:", gc.ReplicaSet("counter", "e", live, 2))

	replicas := []gc.Replica{{
		Kind: "counter", Key: "c",
		Participants: []lattice.Peer{"n1", "n3"},
		Pending:      7,
		Owed:         []lattice.Owed{{Peer: "n3", From: lattice.EventID{Counter: 40, Peer: "n1"}, Count: 7}},
		LastAdvance:  now.Add(-70 * time.Second),
	}, {
		Kind: "counter", Key: "e",
		Participants: []lattice.Peer{"n1", "n2", "n4"},
		LastAdvance:  now.Add(-time.Second),
	}}
	plan := gc.Decide(now, "n1", members, replicas, 0, gc.Config{ReplicationFactor: 2})
	fmt.Print(plan)
	fmt.Print(gc.Stalls(now, replicas))
	// Output:
	// counter/c: [n1 n2]
	// counter/e: [n4 n2]
	// eject n3 from counter/c
	// join n2 to counter/c
	// leave counter/e
	// partition counter/c pending=7 stalled=1m10s owed=n3:7
	// peer n3 acks=7 stalled=1m10s partitions=counter/c
}
