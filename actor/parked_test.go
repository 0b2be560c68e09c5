package actor

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParkedOwners: the record is first in first out, bounded by parkedPerShard, and a
// partition parked again (taken, then left again) keeps its latest owner when its older
// record is overwritten.
func TestParkedOwners(t *testing.T) {
	var p parkedOwners
	id := func(i int) partitionID { return partitionID{"k", fmt.Sprint(i)} }
	for i := range parkedPerShard {
		p.park(id(i), uint64(i+1))
	}
	owner, ok := p.take(id(0))
	require.True(t, ok)
	require.Equal(t, uint64(1), owner)
	_, ok = p.take(id(0))
	require.False(t, ok, "taken once")

	p.park(id(0), 1000000) // back and gone again: overwrites the ring's oldest slot, its own
	p.park(id(parkedPerShard), 1000001)
	owner, ok = p.take(id(0))
	require.True(t, ok, "its latest record stays although its first slot was reused")
	require.Equal(t, uint64(1000000), owner)
	_, ok = p.take(id(1))
	require.False(t, ok, "the oldest went")
	owner, ok = p.take(id(2))
	require.True(t, ok)
	require.Equal(t, uint64(3), owner)
	require.LessOrEqual(t, len(p.owners), parkedPerShard)
	require.Len(t, p.ring, parkedPerShard)
}
