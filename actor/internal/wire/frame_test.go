package wire

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/lattice"
)

// sampleItems returns replication messages of every kind: diffs with entries and ack
// sets (built as the runtime builds them), full states with and without a base, need
// fulls, and oddities a frame must carry faithfully (no target, no body, no base id).
func sampleItems(t testing.TB) []*Replicate {
	to := func(key, peer string) *Target { return &Target{Kind: "counter", Key: key, Peer: peer} }
	d := sampleDiff()
	sample, err := FromDiff(&d, stringCodec)
	require.NoError(t, err)
	rs := benchReplicas(t, 3)
	live, ok, err := DiffOf(rs[0], rs[1].Self(), stringCodec)
	require.True(t, ok)
	require.NoError(t, err)
	cs := Codec[int64]{Encode: func(v int64) ([]byte, error) { return []byte(fmt.Sprint(v)), nil }}
	full, err := SnapshotOf(rs[0], true, cs, stringCodec)
	require.NoError(t, err)
	empty, err := SnapshotOf(lattice.New(benchBehavior, "counter/new", "n1~0002", nil, 0), false, cs, stringCodec)
	require.NoError(t, err)
	// Versions and a checkpoint (frame bit 6), and a checkpoint alone.
	versioned, err := FromDiff(&d, stringCodec)
	require.NoError(t, err)
	for i, en := range versioned.Entries {
		en.Delta.Version = uint32(i * 3)
	}
	versioned.Checkpoint = &Checkpoint{Id: &EventID{Counter: 41, Peer: "a~1"}, Digest: 1 << 63}
	return []*Replicate{
		{To: to("key-17", "n1~0002"), From: "n0~0001", Body: &Replicate_Diff{Diff: live}},
		{To: to("1", "b~2"), From: "a~1", Body: &Replicate_Diff{Diff: sample}},
		{To: to("other", "n1~0002"), From: "n0~0001", Body: &Replicate_Diff{Diff: &Diff{Origin: "counter/other", From: "n0~0001"}}},
		{To: to("key-17", "n1~0002"), From: "n0~0001", Body: &Replicate_Snapshot{Snapshot: full}},
		{To: to("new", "n0~0001"), From: "n1~0002", Body: &Replicate_Snapshot{Snapshot: empty}},
		{To: to("key-17", "n0~0001"), From: "n2~0003", Body: &Replicate_NeedFull{NeedFull: &NeedFull{}}},
		{To: to("", ""), Body: &Replicate_Diff{Diff: &Diff{BaseId: &EventID{}}}},
		{From: "héllo"},
		{To: to("key-17", "n1~0002"), From: "n0~0001", Body: &Replicate_Diff{Diff: live}, Trace: &Trace{
			TraceId: []byte("0123456789abcdef"), SpanId: []byte("01234567"), Flags: 1, State: "vendor=x"}},
		{To: to("key-17", "n0~0001"), From: "n2~0003", Body: &Replicate_NeedFull{NeedFull: &NeedFull{}}, Trace: &Trace{}},
		{To: to("key-18", "n0~0001"), From: "n2~0003", Body: &Replicate_NeedFull{NeedFull: &NeedFull{}}, Resync: true},
		{To: to("key-18", "n2~0003"), From: "n0~0001", Body: &Replicate_Diff{Diff: &Diff{Origin: "plus/key-18", From: "n0~0001"}}, Resync: true},
		{To: to("1", "b~2"), From: "a~1", Body: &Replicate_Diff{Diff: versioned}},
		{To: to("2", "b~2"), From: "a~1", Body: &Replicate_Diff{Diff: &Diff{Origin: "counter/2", From: "a~1",
			Checkpoint: &Checkpoint{Id: &EventID{Counter: 7, Peer: "b~2"}, Digest: 12345}}}},
	}
}

func requireFrameRoundTrip(t testing.TB, items []*Replicate) []*Replicate {
	b, err := EncodeFrame(items)
	require.NoError(t, err)
	back, err := DecodeFrame(b)
	require.NoError(t, err)
	require.Len(t, back, len(items))
	for i := range items {
		require.True(t, proto.Equal(items[i], back[i]), "item %d:\n%v\n%v", i, items[i], back[i])
	}
	return back
}

func TestFrameRoundTrip(t *testing.T) {
	items := sampleItems(t)
	requireFrameRoundTrip(t, items)
	requireFrameRoundTrip(t, nil)
	for _, m := range items {
		requireFrameRoundTrip(t, []*Replicate{m})
	}
	// Many items: varints of several bytes, a table of hundreds of strings.
	var many []*Replicate
	for i := range 300 {
		many = append(many, realisticItem(i), items[i%len(items)])
	}
	requireFrameRoundTrip(t, many)
}

// TestFrameOwnsItsMemory: what DecodeFrame returns shares nothing with its input, and
// the events of a frame cannot overwrite one another.
func TestFrameOwnsItsMemory(t *testing.T) {
	items := sampleItems(t)
	b, err := EncodeFrame(items)
	require.NoError(t, err)
	back, err := DecodeFrame(b)
	require.NoError(t, err)
	clear(b)
	for i := range items {
		require.True(t, proto.Equal(items[i], back[i]), "item %d", i)
	}
	ents := back[1].GetDiff().GetEntries()
	_ = append(ents[0].Delta.Event, "overwrite"...)
	require.True(t, proto.Equal(items[1], back[1]))
	// The target's key is the tail of the diff's origin, and still reads as itself.
	require.Equal(t, "key-17", back[0].To.Key)
	require.Equal(t, "counter/key-17", back[0].GetDiff().Origin)
}

func TestEncodeFrameRefuses(t *testing.T) {
	ev := &Delta{Kind: uint32(lattice.Event), Event: []byte("+1")}
	var many []string
	for i := range 65 {
		many = append(many, fmt.Sprint("p", i))
	}
	for name, m := range map[string]*Replicate{
		"nil item":            nil,
		"nil diff":            {Body: &Replicate_Diff{}},
		"nil snapshot":        {Body: &Replicate_Snapshot{}},
		"nil need full":       {Body: &Replicate_NeedFull{}},
		"entry without delta": {Body: &Replicate_Diff{Diff: &Diff{Peers: []string{"a"}, Entries: []*DiffEntry{{Counter: 1}}}}},
		"nil entry":           {Body: &Replicate_Diff{Diff: &Diff{Peers: []string{"a"}, Entries: []*DiffEntry{nil}}}},
		"nil ack":             {Body: &Replicate_Diff{Diff: &Diff{Peers: []string{"a"}, Acks: []*DiffAck{nil}}}},
		"peer out of range":   {Body: &Replicate_Diff{Diff: &Diff{Peers: []string{"a"}, Entries: []*DiffEntry{{Counter: 1, Peer: 1, Delta: ev}}}}},
		"ack bit out of range": {Body: &Replicate_Diff{Diff: &Diff{Peers: []string{"a"},
			Acks: []*DiffAck{{Counter: 1, Acks: 2}}}}},
		"too many peers": {Body: &Replicate_Diff{Diff: &Diff{Peers: many}}},
		"not UTF-8":      {From: "\xff"},
	} {
		_, err := EncodeFrame([]*Replicate{m})
		require.ErrorIs(t, err, ErrFrame, name)
	}
}

// rawFrame builds a frame by hand: the string table, the six counts of the header, and
// the items as a sequence of varints (an item's header is one byte, hence one varint).
func rawFrame(tab []string, counts [6]uint64, items ...uint64) []byte {
	b := []byte{frameVersion}
	b = binary.AppendUvarint(b, uint64(len(tab)))
	for _, s := range tab {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, c := range counts {
		b = binary.AppendUvarint(b, c)
	}
	for _, v := range items {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func TestDecodeFrameMalformed(t *testing.T) {
	tab := []string{"plus", "k", "n1~1", "plus/k"}
	const target = hasTarget | bodyDiff
	// A valid frame: one diff (origin 3, from 2, digest 7) of one peer (2), with one
	// entry (counter 1, peer 0, acks 1, kind Event, peer "", no event, time 0, err "",
	// cutoff 0, req "") and no acks. String refs are twice the index.
	entry := []uint64{1, 0, 1, uint64(lattice.Event), 8, 0, 0, 8, 0, 8}
	diff := append(append([]uint64{6, 4, 7, 1, 4, 1}, entry...), 0)
	item := append([]uint64{target, 0, 2, 4, 4}, diff...)
	valid := rawFrame(append(tab, ""), [6]uint64{1, 1, 1, 0, 1, 0}, item...)
	items, err := DecodeFrame(valid)
	require.NoError(t, err)
	_, err = ToDiff(items[0].GetDiff(), stringCodec)
	require.NoError(t, err)
	with := func(i int, v ...uint64) []uint64 { // item with v in place of item[i]
		return append(append(append([]uint64{}, item[:i]...), v...), item[i+1:]...)
	}
	ref := func(i int) uint64 { return uint64(i) << 1 }
	tab = append(tab, "")
	for name, b := range map[string][]byte{
		"empty":                  nil,
		"wrong version":          append([]byte{2}, valid[1:]...),
		"trailing byte":          append(append([]byte{}, valid...), 0),
		"huge string table":      rawFrame(nil, [6]uint64{}, 1<<62),
		"huge item count":        rawFrame(tab, [6]uint64{1 << 60, 1, 1, 0, 1, 0}, item...),
		"huge entry count":       rawFrame(tab, [6]uint64{1, 1, 1 << 40, 0, 1, 0}, item...),
		"counts beyond frame":    rawFrame(tab, [6]uint64{1, 1, 1, 3, 1, 0}, item...),
		"more diffs than items":  rawFrame(tab, [6]uint64{1, 2, 1, 0, 1, 0}, item...),
		"declared and unused":    rawFrame(tab, [6]uint64{1, 1, 1, 0, 1, 1}, append(item, 0)...),
		"entries beyond header":  rawFrame(tab, [6]uint64{1, 1, 0, 0, 1, 0}, append(item, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)...),
		"string index":           rawFrame(tab, [6]uint64{1, 1, 1, 0, 1, 0}, with(1, ref(9))...),
		"suffix beyond string":   rawFrame(tab, [6]uint64{1, 1, 1, 0, 1, 0}, with(2, ref(1)|1, 2)...),
		"suffix inside a rune":   rawFrame([]string{"plus", "k", "n1~1", "é", ""}, [6]uint64{1, 1, 1, 0, 1, 0}, with(2, ref(3)|1, 1)...),
		"not UTF-8":              rawFrame([]string{"plus", "k", "n1~1", "plus/k", "\xff"}, [6]uint64{1, 1, 1, 0, 1, 0}, item...),
		"unknown header bits":    rawFrame(tab, [6]uint64{1, 1, 1, 0, 1, 0}, with(0, target|1<<6)...),
		"base id without a diff": rawFrame(tab, [6]uint64{1, 0, 0, 0, 0, 0}, hasBase|bodyNeedFull, 0),
		"peer index":             rawFrame(tab, [6]uint64{1, 1, 1, 0, 1, 0}, with(12, 1)...),
		"ack bit":                rawFrame(tab, [6]uint64{1, 1, 1, 0, 1, 0}, with(13, 2)...),
		"kind beyond 32 bits":    rawFrame(tab, [6]uint64{1, 1, 1, 0, 1, 0}, with(14, 1<<32)...),
		"event beyond header":    rawFrame(tab, [6]uint64{1, 1, 1, 0, 1, 0}, with(16, 1, 'x')...),
		"65 peers":               rawFrame(tab, [6]uint64{1, 1, 1, 0, 70, 0}, append(with(9, append([]uint64{65}, make([]uint64, 65)...)...), make([]uint64, 5)...)...),
		"overlong varint":        append(rawFrame(tab, [6]uint64{1, 0, 0, 0, 0, 0}, bodyNone, 0x80), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
		"undecodable snapshot":   rawFrame(tab, [6]uint64{1, 0, 0, 0, 0, 0}, bodySnapshot, 0, 1, 0x08),
		"undecodable trace":      rawFrame(tab, [6]uint64{1, 0, 0, 0, 0, 0}, bodyNone|hasTrace, 0, 1, 0x08),
		"truncated trace":        rawFrame(tab, [6]uint64{1, 0, 0, 0, 0, 0}, bodyNone|hasTrace, 0, 30, 0x08),
	} {
		_, err := DecodeFrame(b)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
	// Every proper prefix of a frame is malformed.
	b, err := EncodeFrame(sampleItems(t))
	require.NoError(t, err)
	for n := range len(b) {
		_, err := DecodeFrame(b[:n])
		require.ErrorIs(t, err, ErrMalformed, "prefix of %d bytes", n)
	}
}

// FuzzDecodeFrame: any bytes either fail to decode or give items that encode to a frame
// that decodes to the same items; nothing panics.
func FuzzDecodeFrame(f *testing.F) {
	items := sampleItems(f)
	for i := range items {
		b, err := EncodeFrame(items[i : i+1])
		require.NoError(f, err)
		f.Add(b)
	}
	b, err := EncodeFrame(append(items, realisticItem(1), realisticItem(2)))
	require.NoError(f, err)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := DecodeFrame(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		requireFrameRoundTrip(t, items)
	})
}
