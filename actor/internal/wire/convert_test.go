package wire

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/lattice"
)

var stringCodec = Codec[string]{
	Encode: func(s string) ([]byte, error) { return []byte(s), nil },
	Decode: func(b []byte) (string, error) {
		if string(b) == "bad" {
			return "", errors.New("undecodable")
		}
		return string(b), nil
	},
}

func sampleDiff() lattice.Diff[string] {
	return lattice.Diff[string]{Origin: "k/1", From: "a~1", Base: lattice.Base{ID: lattice.EventID{Counter: 3, Peer: "b~2"}, Digest: 42},
		Entries: []lattice.Entry[string]{
			{ID: lattice.EventID{Counter: 4, Peer: "a~1"}, Delta: lattice.Delta[string]{Kind: lattice.Event, Event: "+1", Time: 7, Req: "r1"}, Acks: []lattice.Peer{"a~1"}},
			{ID: lattice.EventID{Counter: 5, Peer: "c~3"}, Delta: lattice.Delta[string]{Kind: lattice.UnJoin, Peer: "b~2", Cutoff: 2}, Acks: []lattice.Peer{"a~1", "c~3"}},
			{ID: lattice.EventID{Counter: 6, Peer: "a~1"}, Delta: lattice.Delta[string]{Kind: lattice.Error, Event: "x", Err: "boom"}, Acks: []lattice.Peer{"a~1"}},
		},
		Acks: []lattice.Ack{{ID: lattice.EventID{Counter: 2, Peer: "d~4"}, Peers: []lattice.Peer{"a~1", "b~2", "d~4"}}},
	}
}

func TestDiffRoundTrip(t *testing.T) {
	d := sampleDiff()
	m, err := FromDiff(&d, stringCodec)
	require.NoError(t, err)
	require.Len(t, m.Peers, 4, "every peer once")
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	var back Diff
	require.NoError(t, proto.Unmarshal(b, &back))
	got, err := ToDiff(&back, stringCodec)
	require.NoError(t, err)
	require.Equal(t, d, got)
	for _, e := range got.Entries {
		require.IsIncreasing(t, e.Acks, "ack sets come back sorted")
	}
}

func TestDiffTooManyPeers(t *testing.T) {
	d := lattice.Diff[string]{Origin: "k/1", From: "a"}
	for i := range 65 {
		d.Acks = append(d.Acks, lattice.Ack{ID: lattice.EventID{Counter: 1, Peer: lattice.Peer(fmt.Sprint("p", i))}})
	}
	_, err := FromDiff(&d, stringCodec)
	require.ErrorIs(t, err, ErrTooManyPeers)
	d.Acks = d.Acks[:64]
	_, err = FromDiff(&d, stringCodec)
	require.NoError(t, err)
}

func TestDiffMalformed(t *testing.T) {
	ev := &Delta{Kind: uint32(lattice.Event), Event: []byte("+1")}
	for name, m := range map[string]*Diff{
		"peer index out of range": {Peers: []string{"a"}, Entries: []*DiffEntry{{Counter: 1, Peer: 1, Delta: ev}}},
		"ack bit out of range":    {Peers: []string{"a"}, Entries: []*DiffEntry{{Counter: 1, Delta: ev, Acks: 2}}},
		"zero counter":            {Peers: []string{"a"}, Entries: []*DiffEntry{{Delta: ev}}},
		"entry without delta":     {Peers: []string{"a"}, Entries: []*DiffEntry{{Counter: 1}}},
		"undecodable event":       {Peers: []string{"a"}, Entries: []*DiffEntry{{Counter: 1, Delta: &Delta{Kind: uint32(lattice.Event), Event: []byte("bad")}}}},
		"unknown delta kind":      {Peers: []string{"a"}, Entries: []*DiffEntry{{Counter: 1, Delta: &Delta{Kind: 99}}}},
		"unjoin of nobody":        {Peers: []string{"a"}, Entries: []*DiffEntry{{Counter: 1, Delta: &Delta{Kind: uint32(lattice.UnJoin)}}}},
		"empty peer name":         {Peers: []string{""}, Acks: []*DiffAck{{Counter: 1}}},
		"ack of a peer not named": {Peers: []string{"a"}, Acks: []*DiffAck{{Counter: 1, Peer: 3}}},
		"nil ack":                 {Peers: []string{"a"}, Acks: []*DiffAck{nil}},
		"peer named twice":        {Peers: []string{"a", "a"}, Acks: []*DiffAck{{Counter: 1, Acks: 3}}},
	} {
		_, err := ToDiff(m, stringCodec)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
}

// FuzzDiff: any bytes either fail to decode or give a diff that encodes back to the same
// lattice value; nothing panics.
func FuzzDiff(f *testing.F) {
	d := sampleDiff()
	m, _ := FromDiff(&d, stringCodec)
	b, _ := proto.Marshal(m)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Diff
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		d, err := ToDiff(&m, stringCodec)
		if err != nil {
			return
		}
		m2, err := FromDiff(&d, stringCodec)
		require.NoError(t, err)
		d2, err := ToDiff(m2, stringCodec)
		require.NoError(t, err)
		require.Equal(t, d, d2)
	})
}

// TestFromStateMatches: DiffOf, SnapshotOf and MarshalEntry, which encode straight from a
// replica, give the messages FromDiff, FromSnapshot and FromEntry give from its copies, and
// share nothing mutable with it.
func TestFromStateMatches(t *testing.T) {
	rs := benchReplicas(t, 3)
	_, err := rs[0].Propose(lattice.UnJoin, rs[2].Self())
	require.NoError(t, err)
	_, _, err = rs[1].Request("+22", 9, "")
	require.NoError(t, err)
	d, _ := rs[1].Diff(rs[0].Self())
	_, err = rs[0].ApplyDiff(d)
	require.NoError(t, err)
	rs[0].Acknowledge()
	cs := Codec[int64]{Encode: func(v int64) ([]byte, error) { return []byte(fmt.Sprint(v)), nil }}
	for _, st := range rs {
		for _, q := range []lattice.Peer{"n0~0001", "n1~0002", "n2~0003", "x~9"} {
			want, wok := st.Diff(q)
			got, ok, err := DiffOf(st, q, stringCodec)
			require.NoError(t, err)
			require.Equal(t, wok, ok)
			if !ok {
				continue
			}
			wm, err := FromDiff(&want, stringCodec)
			require.NoError(t, err)
			require.True(t, proto.Equal(wm, got), "%v\n%v", wm, got)
		}
		for _, withPending := range []bool{false, true} {
			snap := st.Snapshot()
			if !withPending {
				snap.Pending = nil
			}
			want, err := FromSnapshot(&snap, st.HasBase(), cs, stringCodec)
			require.NoError(t, err)
			got, err := SnapshotOf(st, withPending, cs, stringCodec)
			require.NoError(t, err)
			require.True(t, proto.Equal(want, got), "%v\n%v", want, got)
		}
		for i := range st.Pending() {
			m, err := FromEntry(&st.Pending()[i], stringCodec)
			require.NoError(t, err)
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			require.NoError(t, err)
			got, err := MarshalEntry(&st.Pending()[i], stringCodec)
			require.NoError(t, err)
			require.Equal(t, want, got)
		}
	}
	// The messages own their data: changing the replica afterwards changes none of them.
	m, _, err := DiffOf(rs[0], rs[1].Self(), stringCodec)
	require.NoError(t, err)
	before := proto.Clone(m)
	rs[0].Acknowledge()
	_, _, err = rs[0].Request("+1", 99, "later")
	require.NoError(t, err)
	rs[0].Reduce()
	require.True(t, proto.Equal(before, m))
}

// TestToDiffAckSetsIndependent: the ack sets ToDiff returns share one array, but growing
// one never changes another.
func TestToDiffAckSetsIndependent(t *testing.T) {
	d := sampleDiff()
	m, err := FromDiff(&d, stringCodec)
	require.NoError(t, err)
	got, err := ToDiff(m, stringCodec)
	require.NoError(t, err)
	_ = append(got.Entries[0].Acks, "zz")
	require.Equal(t, d, got)
}
