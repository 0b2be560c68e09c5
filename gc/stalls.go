package gc

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/legion-go/legion/lattice"
)

// Report shows where garbage collection is held back, per partition and per peer: data for
// logs, metrics and tests, computed by Stalls.
type Report struct {
	// Partitions lists every replica with pending deltas, the longest stalled first (then
	// in partition order).
	Partitions []PartitionStall
	// Peers lists every peer that owes acks to some replica, the one holding back the
	// oldest infimum first (then in peer order).
	Peers []PeerStall
}

// PartitionStall is one replica whose infimum waits for acks.
type PartitionStall struct {
	Partition Partition
	// Pending is the number of pending deltas.
	Pending int
	// Stalled is how long the infimum has not advanced (never negative).
	Stalled time.Duration
	// Owed lists who owes acks, in peer order (State.Owed()).
	Owed []lattice.Owed
}

// PeerStall is one peer whose acks some replicas wait for.
type PeerStall struct {
	Peer lattice.Peer
	// Partitions waiting on the peer's acks, in partition order.
	Partitions []Partition
	// Acks is how many pending deltas, over all those partitions, the peer has not acked.
	Acks int
	// Since is the oldest LastAdvance among those partitions; Stalled is now - Since (never
	// negative).
	Since   time.Time
	Stalled time.Duration
}

// Stalls reports, as of now, the replicas whose garbage collection waits and the peers it
// waits on. Retired replicas are skipped. It is pure and modifies nothing.
func Stalls(now time.Time, replicas []Replica) Report {
	var rep Report
	byPeer := map[lattice.Peer]*PeerStall{}
	for i := range replicas {
		r := &replicas[i]
		if r.Retired || r.Pending == 0 && len(r.Owed) == 0 {
			continue
		}
		part := r.Partition()
		rep.Partitions = append(rep.Partitions, PartitionStall{
			Partition: part,
			Pending:   r.Pending,
			Stalled:   since(now, r.LastAdvance),
			Owed:      slices.Clone(r.Owed),
		})
		for _, o := range r.Owed {
			ps := byPeer[o.Peer]
			if ps == nil {
				ps = &PeerStall{Peer: o.Peer, Since: r.LastAdvance}
				byPeer[o.Peer] = ps
			}
			ps.Partitions = append(ps.Partitions, part)
			ps.Acks += o.Count
			if r.LastAdvance.Before(ps.Since) {
				ps.Since = r.LastAdvance
			}
		}
	}
	slices.SortFunc(rep.Partitions, func(a, b PartitionStall) int {
		return cmp.Or(cmp.Compare(b.Stalled, a.Stalled), a.Partition.Compare(b.Partition))
	})
	for _, ps := range byPeer {
		slices.SortFunc(ps.Partitions, Partition.Compare)
		ps.Stalled = since(now, ps.Since)
		rep.Peers = append(rep.Peers, *ps)
	}
	slices.SortFunc(rep.Peers, func(a, b PeerStall) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.Peer, b.Peer))
	})
	return rep
}

func since(now, t time.Time) time.Duration { return max(now.Sub(t), 0) }

// String renders the report for logs and tests, one line per partition, then one per peer:
//
//	partition k/a pending=3 stalled=1m0s owed=n2:3,n3:1
//	peer n2 acks=5 stalled=1m0s partitions=k/a,k/b
//
// An empty report renders as "no stalls".
func (r Report) String() string {
	var b strings.Builder
	for _, p := range r.Partitions {
		fmt.Fprintf(&b, "partition %s pending=%d stalled=%v owed=", p.Partition, p.Pending, p.Stalled)
		for i, o := range p.Owed {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s:%d", o.Peer, o.Count)
		}
		b.WriteByte('\n')
	}
	for _, p := range r.Peers {
		fmt.Fprintf(&b, "peer %s acks=%d stalled=%v partitions=", p.Peer, p.Acks, p.Stalled)
		for i, part := range p.Partitions {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(part.String())
		}
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return "no stalls\n"
	}
	return b.String()
}
