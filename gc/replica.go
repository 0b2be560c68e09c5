package gc

import (
	"cmp"
	"slices"
	"time"

	"github.com/legion-go/legion/lattice"
)

// Partition names one partition: a kind and a key.
type Partition struct {
	Kind, Key string
}

// String renders the partition as "kind/key", for logs.
func (p Partition) String() string { return p.Kind + "/" + p.Key }

// Compare orders partitions by kind, then key: the order Decide and Stalls work in.
func (p Partition) Compare(o Partition) int {
	return cmp.Or(cmp.Compare(p.Kind, o.Kind), cmp.Compare(p.Key, o.Key))
}

// Replica is one partition replica stored on this node, as the runtime sees it: a snapshot
// of the parts of its lattice.State that gc decides on. ReplicaOf builds one.
type Replica struct {
	Kind, Key string
	// Participants are the full participants: those of the infimum, whose Join folded.
	Participants []lattice.Peer
	// Joining are the peers with a pending Join.
	Joining []lattice.Peer
	// JoinUnacked are the joiners whose acknowledgement of their own pending Join this
	// replica has not seen: they have not received the partition yet, or are gone. Decide
	// ejects nobody else while one is listed (see Decide, "Eject").
	JoinUnacked []lattice.Peer
	// Leaving are the peers with a pending UnJoin that is not void (State.Leaving): leaving
	// on their own, or being ejected.
	Leaving []lattice.Peer
	// Owed is State.Owed(): who holds garbage collection back, and by how much.
	Owed []lattice.Owed
	// Pending is the number of pending deltas (State.Len()).
	Pending int
	// OwnJoins is the number of pending Joins this node wrote: its handoffs in flight in
	// this partition. InFlight sums them for Decide.
	OwnJoins int
	// LastAdvance is when the infimum last advanced, or when the replica was loaded.
	LastAdvance time.Time
	// Retired is State.Retired(): this node's UnJoin folded and the runtime deletes the
	// copy. Decide plans nothing for a retired replica; Stalls skips it.
	Retired bool
}

// Partition returns the replica's partition.
func (r *Replica) Partition() Partition { return Partition{r.Kind, r.Key} }

// ReplicaOf describes st, the replica of the partition (kind, key), for Decide and Stalls.
// lastAdvance is when the runtime last saw its infimum advance (or loaded it). The result
// shares nothing with st.
func ReplicaOf[S, E, O any](st *lattice.State[S, E, O], kind, key string, lastAdvance time.Time) Replica {
	r := Replica{
		Kind:         kind,
		Key:          key,
		Owed:         st.Owed(),
		Pending:      st.Len(),
		LastAdvance:  lastAdvance,
		Retired:      st.Retired(),
		Participants: slices.Clone(st.Infimum().Participants),
	}
	for _, e := range st.Pending() {
		switch e.Delta.Kind {
		case lattice.Join:
			r.Joining = append(r.Joining, e.Delta.Peer)
			if e.ID.Peer == st.Self() {
				r.OwnJoins++
			}
			if !slices.Contains(e.Acks, e.Delta.Peer) {
				r.JoinUnacked = append(r.JoinUnacked, e.Delta.Peer)
			}
		}
	}
	r.Joining = sortedSet(r.Joining)
	r.JoinUnacked = sortedSet(r.JoinUnacked)
	// Not every pending UnJoin: a void one (lattice, "Ejection") will never fold, and its
	// peer must be ejected again by a new UnJoin.
	r.Leaving = slices.Clone(st.Leaving())
	return r
}

// InFlight returns the joins this node wrote that have not folded yet, over replicas: the
// inFlight argument of Decide. Counting them from the replicas' logs, rather than keeping a
// counter, survives restarts, and a join dropped as a renegade stops counting by itself.
func InFlight(replicas []Replica) int {
	n := 0
	for i := range replicas {
		n += replicas[i].OwnJoins
	}
	return n
}

// sortedSet sorts ps in place and drops duplicates.
func sortedSet(ps []lattice.Peer) []lattice.Peer {
	slices.Sort(ps)
	return slices.Compact(ps)
}
