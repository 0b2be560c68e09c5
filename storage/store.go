package storage

// Store is a node's durable state: for every partition replicated on this
// node, an infimum snapshot and pending deltas, stored as opaque bytes. The
// store knows nothing of the lattice; the runtime encodes and decodes.
//
// Safe for concurrent use by many goroutines. Every method may block on disk
// I/O. After Close, methods return ErrClosed.
type Store interface {
	// Commit applies b atomically and returns once it is durable (fsynced):
	// after a crash, either every write of b is present or none is, and once
	// Commit has returned nil, all of them are. Concurrent Commits share fsyncs
	// (group commit): N goroutines committing at once cost far fewer than N
	// fsyncs. An empty (or nil) batch returns at once. Commit does not modify
	// b. On error, b may or may not have been applied (an fsync failure is
	// fatal for the pebble implementation; see its doc).
	Commit(b *Batch) error

	// Load returns the partition's replica; found=false when nothing (neither
	// snapshot nor delta) is stored. It reads one consistent state: a
	// concurrent Commit is seen entirely or not at all.
	//
	// Load may see a batch whose Commit has not returned yet, hence is not yet
	// durable (pebble makes a batch visible before its WAL fsync completes).
	// Only the committer's nil from Commit makes a write durable: do not
	// acknowledge anything on the strength of a Load alone while another
	// goroutine may be committing to the same partition.
	Load(p Partition) (r Replica, found bool, err error)

	// Partitions calls fn for every partition of kind stored on this node, in
	// key order (bytewise); it stops when fn returns false. fn may call Load
	// and Commit (writes made during the walk may or may not be seen) but not
	// Close.
	Partitions(kind string, fn func(key string) bool) error

	// Marked calls fn for every mark of reason whose Due is at most until, in
	// order of Due, then Partition (kind, then key, bytewise); it stops when fn
	// returns false. Its cost grows with the marks it lists, not with the
	// partitions stored. fn may call Load and Commit (writes made during the
	// walk may or may not be seen) but not Close.
	Marked(reason Reason, until int64, fn func(m Mark) bool) error

	// Identity returns the node identity recorded in the data directory.
	Identity() Identity

	// Close waits for running calls to return, releases the store and returns
	// once everything it started has stopped. Further calls of Close return
	// nil.
	Close() error
}
