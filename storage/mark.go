package storage

// Reason says why a partition is marked (see Mark). The store gives reasons no
// meaning: the runtime defines them (package actor, marks.go), as it defines
// what snapshots and deltas hold.
type Reason uint8

// Mark says that a partition needs the runtime's attention for a reason, from
// a time on: the store's index of partitions to wake, so that a node wakes
// those and leaves the others on disk.
//
// Marks are a set of (Reason, Due, Partition) triples, written through a
// Batch (Batch.Mark, Batch.Unmark) atomically with the partition's own
// writes, and listed by Store.Marked in order of Due. A partition may hold
// any number of marks (several reasons, several due times). Marks live apart
// from the partition's data: DeletePartition leaves them, and a mark may name
// a partition that holds nothing (the runtime unmarks what it no longer needs;
// a stale mark wakes a partition for nothing, it loses nothing).
//
// Typical uses: Due 0 for work to take up at once (pending deltas, a changed
// placement); Due a time in Unix nanoseconds for work due then (a durable
// timer): Marked(reason, now, fn) lists what is due.
type Mark struct {
	Reason    Reason
	Due       int64
	Partition Partition
}
