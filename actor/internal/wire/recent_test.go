package wire

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legion-go/legion/lattice"
)

// TestInfimumCarriesRequestTimes: an infimum's dedup window and a snapshot's held keys
// keep each request's time through the wire (the dedup horizon reads the times at every
// fold: a replica that loaded a window without them would forget other requests than
// the replica that sent it).
func TestInfimumCarriesRequestTimes(t *testing.T) {
	cs := Codec[int64]{
		Encode: func(v int64) ([]byte, error) { return []byte(strconv.FormatInt(v, 10)), nil },
		Decode: func(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) },
	}
	reqs := []lattice.Request{
		{Key: "a", ID: lattice.EventID{Counter: 1, Peer: "n1"}, Time: 1_700_000_000_000_000_000},
		{Key: "b", ID: lattice.EventID{Counter: 2, Peer: "n2"}, Time: 5},
	}
	snap := lattice.Snapshot[int64, string]{Origin: "c/k", Held: reqs, Infimum: lattice.Infimum[int64]{
		ID: lattice.EventID{Counter: 2, Peer: "n2"}, Participants: []lattice.Peer{"n1", "n2"}, Value: 7, Recent: reqs}}
	m, err := FromSnapshot(&snap, true, cs, stringCodec)
	require.NoError(t, err)
	inf, ok, err := ToInfimum(m.GetInfimum(), cs)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, reqs, inf.Recent)
	back, err := ToSnapshot(m, cs, stringCodec)
	require.NoError(t, err)
	require.Equal(t, reqs, back.Held)
}
