package actor

// parkedOwners is a shard's record of the outputs owners (replica.Outputs) of replicas that
// left memory idle, passivated or evicted for the budget, by partition: the partition's
// next activation takes its number over (replica.ResumeOutputs), so that a call retried
// after its replica left memory, which the node's output cache still answers, gets its
// first attempt's output rather than ErrOutputUnknown. A retry comes within seconds of the
// attempt it repeats (Config.AttemptTimeout), so the record is bounded: the last
// parkedPerShard partitions that left, first in first out, at some 100 bytes each.
type parkedOwners struct {
	owners map[partitionID]uint64
	ring   []parkedOwner // the parked, in order; next is the oldest once it is full
	next   int
}

type parkedOwner struct {
	id    partitionID
	owner uint64
}

const parkedPerShard = 2048

// park records owner for id, forgetting the oldest record when full.
func (p *parkedOwners) park(id partitionID, owner uint64) {
	if p.owners == nil {
		p.owners = make(map[partitionID]uint64)
	}
	p.owners[id] = owner
	if len(p.ring) < parkedPerShard {
		p.ring = append(p.ring, parkedOwner{id, owner})
		return
	}
	old := p.ring[p.next]
	if p.owners[old.id] == old.owner { // not taken and parked again since (owners are unique)
		delete(p.owners, old.id)
	}
	p.ring[p.next] = parkedOwner{id, owner}
	p.next = (p.next + 1) % parkedPerShard
}

// take returns and forgets id's parked owner, if any.
func (p *parkedOwners) take(id partitionID) (uint64, bool) {
	owner, ok := p.owners[id]
	if ok {
		delete(p.owners, id)
	}
	return owner, ok
}
