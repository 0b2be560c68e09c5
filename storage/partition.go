package storage

import "strconv"

// Partition names one partition: a virtual actor of a kind, addressed by key.
// Kind and Key are arbitrary strings (empty, binary, containing any separator);
// implementations must keep distinct partitions apart whatever the bytes.
type Partition struct{ Kind, Key string }

// String returns the partition as "kind"/"key" with both parts quoted, for
// logs and error messages.
func (p Partition) String() string {
	return strconv.Quote(p.Kind) + "/" + strconv.Quote(p.Key)
}

// Replica is what the store holds for one partition on this node.
//
// Slices returned by Store.Load belong to the caller: the store never reads or
// writes them again.
type Replica struct {
	// Snapshot is the encoded infimum snapshot; nil when none was written. A
	// snapshot written as nil or empty loads as a non-nil empty slice.
	Snapshot []byte
	// Deltas are the pending deltas in ascending ID order (bytewise order of
	// ID); nil when there are none.
	Deltas []Delta
}

// Delta is one pending delta of a partition.
type Delta struct {
	// ID is the ordered key of the delta. The runtime encodes event ids so that
	// bytewise order of ID is event-id order. Any bytes, including empty, are
	// valid.
	ID []byte
	// Data is the encoded delta; never nil when returned by Load.
	Data []byte
}
