package storage

// OpKind is the kind of one write in a Batch.
type OpKind uint8

// The writes a Batch can hold.
const (
	// OpPutSnapshot sets the partition's snapshot to Data.
	OpPutSnapshot OpKind = iota + 1
	// OpPutDelta sets the partition's delta ID to Data (overwriting one with
	// the same ID).
	OpPutDelta
	// OpDeleteDelta removes the partition's delta ID, if present.
	OpDeleteDelta
	// OpDeletePartition removes the partition's snapshot and every delta.
	OpDeletePartition
	// OpMark adds the mark (Reason, Due, Partition) (see Mark).
	OpMark
	// OpUnmark removes the mark (Reason, Due, Partition), if present.
	OpUnmark
)

// String returns the name of the kind, e.g. "put-delta".
func (k OpKind) String() string {
	switch k {
	case OpPutSnapshot:
		return "put-snapshot"
	case OpPutDelta:
		return "put-delta"
	case OpDeleteDelta:
		return "delete-delta"
	case OpDeletePartition:
		return "delete-partition"
	case OpMark:
		return "mark"
	case OpUnmark:
		return "unmark"
	}
	return "unknown"
}

// Op is one write recorded in a Batch. Store implementations read a batch's
// ops with Batch.Ops; applications use the Batch methods.
type Op struct {
	Kind      OpKind
	Partition Partition
	ID        []byte // OpPutDelta, OpDeleteDelta; nil otherwise
	Data      []byte // OpPutSnapshot, OpPutDelta (non-nil, possibly empty); nil otherwise
	Reason    Reason // OpMark, OpUnmark; 0 otherwise
	Due       int64  // OpMark, OpUnmark; 0 otherwise
}

// Batch is a set of writes applied atomically by Store.Commit. Writes apply in
// the order they were added: a PutDelta after a DeletePartition of the same
// partition survives, a later PutSnapshot overwrites an earlier one.
//
// The Put methods copy id and data, so the caller may reuse its buffers at
// once. The zero Batch is empty and ready to use. Not safe for concurrent use;
// a Batch must not be modified while a Commit of it is running. After Commit
// returns, the Batch still holds its writes: Reset it to reuse it.
type Batch struct {
	ops  []Op
	buf  []byte // arena holding copies of ids and data
	size int    // id and data bytes held
}

// PutSnapshot records a write of p's infimum snapshot.
func (b *Batch) PutSnapshot(p Partition, data []byte) {
	b.ops = append(b.ops, Op{Kind: OpPutSnapshot, Partition: p, Data: b.copy(data)})
}

// PutDelta records a write of p's delta id.
func (b *Batch) PutDelta(p Partition, id, data []byte) {
	b.ops = append(b.ops, Op{Kind: OpPutDelta, Partition: p, ID: b.copy(id), Data: b.copy(data)})
}

// DeleteDelta records the removal of p's delta id. Removing a delta that does
// not exist is not an error.
func (b *Batch) DeleteDelta(p Partition, id []byte) {
	b.ops = append(b.ops, Op{Kind: OpDeleteDelta, Partition: p, ID: b.copy(id)})
}

// DeletePartition records the removal of p's snapshot and every delta of p.
func (b *Batch) DeletePartition(p Partition) {
	b.ops = append(b.ops, Op{Kind: OpDeletePartition, Partition: p})
}

// Mark records the addition of the mark (reason, due, p) (see Mark). Adding a
// mark that exists is not an error.
func (b *Batch) Mark(reason Reason, due int64, p Partition) {
	b.ops = append(b.ops, Op{Kind: OpMark, Partition: p, Reason: reason, Due: due})
}

// Unmark records the removal of the mark (reason, due, p). Removing a mark that
// does not exist is not an error.
func (b *Batch) Unmark(reason Reason, due int64, p Partition) {
	b.ops = append(b.ops, Op{Kind: OpUnmark, Partition: p, Reason: reason, Due: due})
}

// Empty reports whether the batch holds no writes.
func (b *Batch) Empty() bool { return len(b.ops) == 0 }

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Size returns the number of id and data bytes the batch holds.
func (b *Batch) Size() int { return b.size }

// Truncate drops every write after the first n (Len() before the writes to drop), so
// that a writer that fails halfway through adding its part of a shared batch can take
// that part back. The arena keeps the dropped bytes until Reset. It panics if n is out
// of range.
func (b *Batch) Truncate(n int) {
	for _, op := range b.ops[n:] {
		b.size -= len(op.ID) + len(op.Data)
	}
	clear(b.ops[n:])
	b.ops = b.ops[:n]
}

// Reset empties the batch, keeping its memory for reuse. Slices previously
// returned by Ops become invalid.
func (b *Batch) Reset() {
	clear(b.ops) // drop references to partitions' strings
	b.ops = b.ops[:0]
	b.buf = b.buf[:0]
	b.size = 0
}

// Ops returns the batch's writes in the order they were added. The slice and
// the bytes it references belong to the batch: read them, do not modify or
// keep them past the next Reset. Meant for Store implementations.
func (b *Batch) Ops() []Op { return b.ops }

// copy appends p to the arena and returns the copy, capped so that appending
// to it cannot overwrite the arena. The result is non-nil even for empty p.
func (b *Batch) copy(p []byte) []byte {
	if b.buf == nil {
		b.buf = make([]byte, 0, 256)
	}
	if cap(b.buf)-len(b.buf) < len(p) {
		// Grow into a new array: copies handed out earlier keep the old one.
		n := 2 * cap(b.buf)
		if n < len(p) {
			n = len(p)
		}
		b.buf = make([]byte, 0, n)
	}
	b.size += len(p)
	start := len(b.buf)
	b.buf = append(b.buf, p...)
	return b.buf[start:len(b.buf):len(b.buf)]
}
