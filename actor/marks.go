package actor

import "github.com/legion-go/legion/storage"

// The reasons of the marks the node keeps in its store (storage.Mark): the index of the
// partitions a node wakes at start and on a membership change, so that the others stay on
// disk until a call arrives.
const (
	// markPending (Due 0): the partition's stored state holds pending deltas (events not
	// yet folded, hence acks owed or awaited) or renegades: it must resume replicating
	// after a restart. Written with the flush that makes it so, removed with the one that
	// writes the partition idle.
	markPending storage.Reason = 1
	// markPlacement (Due 0): the partition was written with participants other than its
	// placement (a departed peer, a joiner's handoff not complete): it is woken on every
	// membership change, whether or not the change moves its placement.
	markPlacement storage.Reason = 2
	// markHost (Due 0, Partition{Kind: kind, Key: peer}): the hosts of each kind as of the
	// node's last completed wake pass, to compute at the next one which partitions'
	// placement moved without loading them.
	markHost storage.Reason = 3
	// markTimer (Due: the Unix nanosecond the timer is due): a durable timer of the
	// partition's; the node wakes the partition once it is due (reserved for kinds'
	// durable timers, #23).
	markTimer storage.Reason = 4
)
