package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
)

// A frame is the compact encoding of the replication messages a Batch carries
// (Batch.frame). Decoding them as protobuf items was the largest allocation source of a
// busy node: every nested message allocated through reflection, every string allocated
// and validated, though most recur from item to item (kinds, peers, origins). A frame
// names each distinct string once, in a table, and is decoded into a few slabs.
//
// All integers are unsigned varints unless said otherwise; every string field of an item
// (kind, key, peer, from, origin, ...) is a ref (below) into the frame's table; the frame
// ends where its last item ends.
//
//	frame   = version(byte 1) nstrings string*nstrings
//	          nitems ndiffs nentries nacks npeers nevents item*nitems
//	string  = len bytes                    (valid UTF-8)
//	header  = bits 0-1: body (0 none, 1 diff, 2 snapshot, 3 need full);
//	          bit 2: the item has a target (kind key peer follow);
//	          bit 3: the diff has a base id;
//	          bit 4: the item has a trace context (trace follows from);
//	          bit 5: resync (Replicate.Resync)
//	          bit 6: the diff has versions: each entry's version follows its req, and
//	          the diff's checkpoint follows its acks
//	item    = header(byte) [kind key peer] from [trace] body
//	trace   = len, protobuf Trace
//	body    = diff | snapshot(len, protobuf Snapshot) | need full (nothing)
//	diff    = origin from [counter peer] digest npeers peer*npeers
//	          n entry*n n ack*n [check]
//	entry   = counter peer(index in the diff's peers) acks(bit set)
//	          kind dpeer event(len bytes) time(zig-zag) err cutoff req [version]
//	ack     = counter peer(index) acks(bit set)
//	check   = counter [peer digest]          (counter 0: no checkpoint)
//	ref     = 2i (the table's string i) | 2i+1 off (its suffix from byte off)
//
// The counts of the header (items, diffs, entries, acks, peer names of all diffs, event
// bytes) size the decoder's slabs; a frame must use exactly what it declares.
//
// A target's key is usually the suffix of its diff's origin ("kind/key"): the encoder
// then refers to it as such, which saves the decoder a string per item.

const frameVersion = 1

// Item header bits.
const (
	bodyNone     = 0
	bodyDiff     = 1
	bodySnapshot = 2
	bodyNeedFull = 3
	bodyMask     = 3
	hasTarget    = 1 << 2
	hasBase      = 1 << 3
	// hasTrace: only a node that traces sets it, and a node of a version before it
	// refuses the frame: turn tracing on once every node runs a version that has it.
	hasTrace = 1 << 4
	// isResync: Replicate.Resync. A node of a version before it refuses the frame, and a
	// replica of such a node would not answer the request it marks.
	isResync = 1 << 5
	// hasVersions: the diff carries kind versions (Delta.Version) and a checkpoint
	// (Diff.Checkpoint). A node of a release before it refuses the frame: the sending
	// node leaves the checkpoint out for a peer that advertises no kind version, and
	// stamps version 1 as 0, so that such a peer gets the bit only for versions it
	// advertised (package actor, versions.go).
	hasVersions = 1 << 6
)

// Least encoded sizes, which bound the counts a frame may declare by its length.
const (
	minItem  = 2  // header, from
	minDiff  = 6  // origin, from, digest, peer, entry and ack counts
	minEntry = 10 // counter, peer, acks, kind, dpeer, event length, time, err, cutoff, req
	minAck   = 3  // counter, peer, acks
)

// ErrFrame wraps every frame the encoder refuses (the caller sends protobuf items
// instead); a frame the decoder refuses is ErrMalformed.
var ErrFrame = errors.New("wire: cannot encode frame")

// frameEncoder holds what EncodeFrame reuses from frame to frame.
type frameEncoder struct {
	body  []byte            // the items, encoded after the string table is known
	index map[string]uint32 // the table: string -> its index
	names []string          // the table, in order
	size  int               // at least the table's encoded length
	// What the header declares.
	items, diffs, entries, acks, peers, events int
}

var encoders = sync.Pool{New: func() any { return &frameEncoder{index: map[string]uint32{}} }}

// EncodeFrame encodes items as a frame (the items share nothing with it). It refuses
// what DecodeFrame would: a nil item or body, a diff with a nil entry or delta, more
// than 64 peers or an index or ack bit beyond them, a string that is not UTF-8.
func EncodeFrame(items []*Replicate) ([]byte, error) {
	e := encoders.Get().(*frameEncoder)
	defer e.release()
	for _, m := range items {
		if err := e.item(m); err != nil {
			return nil, err
		}
	}
	var hdr [1 + 7*binary.MaxVarintLen64]byte
	h := append(hdr[:0], frameVersion)
	h = binary.AppendUvarint(h, uint64(len(e.names)))
	out := make([]byte, 0, len(h)+e.size+7*binary.MaxVarintLen64+len(e.body))
	out = append(out, h...)
	for _, s := range e.names {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	for _, n := range []int{e.items, e.diffs, e.entries, e.acks, e.peers, e.events} {
		out = binary.AppendUvarint(out, uint64(n))
	}
	return append(out, e.body...), nil
}

// release empties e, holding on to nothing of the items (nor to the buffer of an
// unusually large frame), and returns it to the pool.
func (e *frameEncoder) release() {
	clear(e.index)
	clear(e.names)
	body := e.body[:0]
	if cap(body) > 1<<20 {
		body = nil
	}
	*e = frameEncoder{body: body, index: e.index, names: e.names[:0]}
	encoders.Put(e)
}

func (e *frameEncoder) uvarint(v uint64) { e.body = binary.AppendUvarint(e.body, v) }

// ref returns the reference of s, adding it to the table if new.
func (e *frameEncoder) ref(s string) (uint64, error) {
	if i, ok := e.index[s]; ok {
		return uint64(i) << 1, nil
	}
	if !utf8.ValidString(s) {
		return 0, fmt.Errorf("%w: string %.40q is not UTF-8", ErrFrame, s)
	}
	i := uint32(len(e.names))
	e.index[s] = i
	e.names = append(e.names, s)
	e.size += binary.MaxVarintLen64 + len(s)
	return uint64(i) << 1, nil
}

func (e *frameEncoder) str(s string) error {
	r, err := e.ref(s)
	e.uvarint(r)
	return err
}

func (e *frameEncoder) item(m *Replicate) error {
	if m == nil {
		return fmt.Errorf("%w: nil item", ErrFrame)
	}
	e.items++
	var header byte
	var d *Diff
	switch b := m.Body.(type) {
	case nil:
	case *Replicate_Diff:
		if d = b.Diff; d == nil {
			return fmt.Errorf("%w: nil diff", ErrFrame)
		}
		header = bodyDiff
		if d.BaseId != nil {
			header |= hasBase
		}
		if versioned(d) {
			header |= hasVersions
		}
	case *Replicate_Snapshot:
		if b.Snapshot == nil {
			return fmt.Errorf("%w: nil snapshot", ErrFrame)
		}
		header = bodySnapshot
	case *Replicate_NeedFull:
		if b.NeedFull == nil {
			return fmt.Errorf("%w: nil need full", ErrFrame)
		}
		header = bodyNeedFull
	default:
		return fmt.Errorf("%w: body %T", ErrFrame, b)
	}
	if m.To != nil {
		header |= hasTarget
	}
	if m.Trace != nil {
		header |= hasTrace
	}
	if m.Resync {
		header |= isResync
	}
	e.body = append(e.body, header)
	if t := m.To; t != nil {
		if err := e.str(t.Kind); err != nil {
			return err
		}
		if err := e.key(t, d); err != nil {
			return err
		}
		if err := e.str(t.Peer); err != nil {
			return err
		}
	}
	if err := e.str(m.From); err != nil {
		return err
	}
	if m.Trace != nil {
		buf, err := proto.Marshal(m.Trace)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrFrame, err)
		}
		e.uvarint(uint64(len(buf)))
		e.body = append(e.body, buf...)
	}
	switch b := m.Body.(type) {
	case *Replicate_Diff:
		return e.diff(b.Diff, header&hasVersions != 0)
	case *Replicate_Snapshot:
		buf, err := proto.Marshal(b.Snapshot)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrFrame, err)
		}
		e.uvarint(uint64(len(buf)))
		e.body = append(e.body, buf...)
	}
	return nil
}

// key encodes t's key, as the suffix of d's origin when the origin is "kind/key".
func (e *frameEncoder) key(t *Target, d *Diff) error {
	if d == nil || len(d.Origin) != len(t.Kind)+1+len(t.Key) || !strings.HasPrefix(d.Origin, t.Kind) ||
		d.Origin[len(t.Kind)] != '/' || !strings.HasSuffix(d.Origin, t.Key) {
		return e.str(t.Key)
	}
	r, err := e.ref(d.Origin)
	e.uvarint(r | 1)
	e.uvarint(uint64(len(t.Kind) + 1))
	return err
}

// versioned reports whether d needs the hasVersions encoding (set only then).
func versioned(d *Diff) bool {
	if d.Checkpoint != nil {
		return true
	}
	for _, en := range d.Entries {
		if en.GetDelta().GetVersion() != 0 {
			return true
		}
	}
	return false
}

func (e *frameEncoder) diff(d *Diff, versions bool) error {
	e.diffs++
	if err := e.str(d.Origin); err != nil {
		return err
	}
	if err := e.str(d.From); err != nil {
		return err
	}
	if d.BaseId != nil {
		e.uvarint(d.BaseId.Counter)
		if err := e.str(d.BaseId.Peer); err != nil {
			return err
		}
	}
	e.uvarint(d.BaseDigest)
	n := len(d.Peers)
	if n > 64 {
		return fmt.Errorf("%w: %w", ErrFrame, ErrTooManyPeers)
	}
	e.peers += n
	e.uvarint(uint64(n))
	for _, p := range d.Peers {
		if err := e.str(p); err != nil {
			return err
		}
	}
	mask := peerMask(n)
	// id writes an entry's or an ack's id and ack set: (counter, peer index, bit set).
	id := func(counter uint64, peer uint32, acks uint64) error {
		if int(peer) >= n || acks&^mask != 0 {
			return fmt.Errorf("%w: peer %d or ack set %b beyond %d peers", ErrFrame, peer, acks, n)
		}
		e.uvarint(counter)
		e.uvarint(uint64(peer))
		e.uvarint(acks)
		return nil
	}
	e.entries += len(d.Entries)
	e.uvarint(uint64(len(d.Entries)))
	for _, en := range d.Entries {
		if en == nil || en.Delta == nil {
			return fmt.Errorf("%w: entry without delta", ErrFrame)
		}
		if err := id(en.Counter, en.Peer, en.Acks); err != nil {
			return err
		}
		dl := en.Delta
		e.uvarint(uint64(dl.Kind))
		if err := e.str(dl.Peer); err != nil {
			return err
		}
		e.events += len(dl.Event)
		e.uvarint(uint64(len(dl.Event)))
		e.body = append(e.body, dl.Event...)
		e.body = binary.AppendVarint(e.body, dl.Time)
		if err := e.str(dl.Err); err != nil {
			return err
		}
		e.uvarint(dl.Cutoff)
		if err := e.str(dl.Req); err != nil {
			return err
		}
		if versions {
			e.uvarint(uint64(dl.Version))
		}
	}
	e.acks += len(d.Acks)
	e.uvarint(uint64(len(d.Acks)))
	for _, a := range d.Acks {
		if a == nil {
			return fmt.Errorf("%w: nil ack", ErrFrame)
		}
		if err := id(a.Counter, a.Peer, a.Acks); err != nil {
			return err
		}
	}
	if versions {
		c := d.Checkpoint
		if c.GetId().GetCounter() == 0 {
			e.uvarint(0)
			return nil
		}
		e.uvarint(c.Id.Counter)
		if err := e.str(c.Id.Peer); err != nil {
			return err
		}
		e.uvarint(c.Digest)
	}
	return nil
}

// peerMask is the bit set of n peers.
func peerMask(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// frameItem holds an item and what a diff item points to: one slab for all items.
type frameItem struct {
	m    Replicate
	to   Target
	body Replicate_Diff
	diff Diff
	base EventID
}

// frameDecoder reads one frame. The first error sticks: every later read fails.
type frameDecoder struct {
	b   []byte
	err error
	tab []string // the string table

	// The slabs the header sizes, consumed from the front.
	entries []diffEntryBlock
	entryPs []*DiffEntry
	acks    []DiffAck
	ackPs   []*DiffAck
	peers   []string
	events  []byte
}

// DecodeFrame decodes a frame into the items it encodes, checking that it is well formed
// (an error wraps ErrMalformed). What it returns shares no memory with b, and none that
// could hold on to much:
//   - every distinct string of the frame is allocated on its own, once: a string kept
//     long (a request key, a peer name, a target's key) holds only itself. A target's key
//     may be the tail of its diff's origin string ("kind/key"), which is barely longer.
//   - the items' messages live in slabs, one per message type per frame; an item holds
//     on to the slabs of its frame while it is alive, as the replica handles it.
//   - the events of all entries share one array, which holds nothing else (each is
//     capped, so that appending to one cannot overwrite the next).
//   - a snapshot is unmarshalled by protobuf, which copies what it keeps.
func DecodeFrame(b []byte) ([]*Replicate, error) {
	d := frameDecoder{b: b}
	if len(b) == 0 || b[0] != frameVersion {
		return nil, malformed("frame: no version %d", frameVersion)
	}
	d.b = b[1:]
	d.tab = make([]string, d.count(1, "strings"))
	for i := range d.tab {
		d.tab[i] = d.string()
	}
	nItems, nDiffs := d.count(minItem, "items"), d.count(minItem+minDiff, "diffs")
	nEntries, nAcks := d.count(minEntry, "entries"), d.count(minAck, "acks")
	nPeers, nEvents := d.count(1, "peer names"), d.count(1, "event bytes")
	if d.err != nil {
		return nil, d.err
	}
	// Every count fits the frame on its own (count); together they must too.
	if nItems*minItem+nDiffs*minDiff+nEntries*minEntry+nAcks*minAck+nPeers+nEvents > len(d.b) {
		return nil, malformed("frame: %d bytes cannot hold %d items, %d diffs, %d entries, %d acks, %d peer names and %d event bytes",
			len(d.b), nItems, nDiffs, nEntries, nAcks, nPeers, nEvents)
	}
	if nDiffs > nItems {
		return nil, malformed("frame: %d diffs in %d items", nDiffs, nItems)
	}
	out := make([]*Replicate, nItems)
	items := make([]frameItem, nItems)
	if nEntries > 0 {
		d.entries, d.entryPs = make([]diffEntryBlock, nEntries), make([]*DiffEntry, nEntries)
	}
	if nAcks > 0 {
		d.acks, d.ackPs = make([]DiffAck, nAcks), make([]*DiffAck, nAcks)
	}
	if nPeers > 0 {
		d.peers = make([]string, nPeers)
	}
	if nEvents > 0 {
		d.events = make([]byte, nEvents)
	}
	diffs := 0
	for i := range items {
		it := &items[i]
		if d.item(it) {
			diffs++
		}
		if d.err != nil {
			return nil, d.err
		}
		out[i] = &it.m
	}
	if len(d.b) > 0 {
		return nil, malformed("frame: %d bytes after the last item", len(d.b))
	}
	if diffs != nDiffs || len(d.entries)+len(d.acks)+len(d.peers)+len(d.events) > 0 {
		return nil, malformed("frame: declares more than it holds")
	}
	return out, nil
}

func (d *frameDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = malformed("frame: "+format, args...)
	}
	d.b = nil
}

func (d *frameDecoder) uvarint() uint64 {
	if len(d.b) > 0 && d.b[0] < 0x80 {
		v := d.b[0]
		d.b = d.b[1:]
		return uint64(v)
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *frameDecoder) uint32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("%d overflows 32 bits", v)
	}
	return uint32(v)
}

// count reads a count of things that take at least min bytes each, which the rest of
// the frame must be able to hold.
func (d *frameDecoder) count(min int, what string) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail("%d %s in %d bytes", n, what, len(d.b))
		return 0
	}
	return int(n)
}

// bytes reads a length and that many bytes (aliasing the frame).
func (d *frameDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("%d bytes announced, %d left", n, len(d.b))
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

// string reads a string of the table, allocating it.
func (d *frameDecoder) string() string {
	b := d.bytes()
	if !utf8.Valid(b) {
		d.fail("a string is not UTF-8")
		return ""
	}
	return string(b)
}

// str reads a reference to the table.
func (d *frameDecoder) str() string {
	r := d.uvarint()
	i := r >> 1
	if i >= uint64(len(d.tab)) {
		d.fail("string %d of %d", i, len(d.tab))
		return ""
	}
	s := d.tab[i]
	if r&1 != 0 {
		off := d.uvarint()
		if off > uint64(len(s)) || off < uint64(len(s)) && !utf8.RuneStart(s[off]) {
			d.fail("suffix %d of a string of %d bytes", off, len(s))
			return ""
		}
		s = s[off:]
	}
	return s
}

// item decodes one item into it, reporting whether it is a diff.
func (d *frameDecoder) item(it *frameItem) bool {
	if len(d.b) == 0 {
		d.fail("truncated item")
		return false
	}
	header := d.b[0]
	d.b = d.b[1:]
	if header&^(bodyMask|hasTarget|hasBase|hasTrace|isResync|hasVersions) != 0 ||
		header&(hasBase|hasVersions) != 0 && header&bodyMask != bodyDiff {
		d.fail("item header %#x", header)
		return false
	}
	m := &it.m
	if header&hasTarget != 0 {
		it.to.Kind, it.to.Key, it.to.Peer = d.str(), d.str(), d.str()
		m.To = &it.to
	}
	m.From = d.str()
	m.Resync = header&isResync != 0
	if header&hasTrace != 0 {
		t := new(Trace)
		if err := proto.Unmarshal(d.bytes(), t); err != nil && d.err == nil {
			d.fail("trace: %v", err)
		}
		m.Trace = t
	}
	switch header & bodyMask {
	case bodyDiff:
		if header&hasBase != 0 {
			it.diff.BaseId = &it.base
		}
		d.diff(&it.diff, header&hasVersions != 0)
		it.body.Diff = &it.diff
		m.Body = &it.body
		return true
	case bodySnapshot:
		s := new(Snapshot)
		if err := proto.Unmarshal(d.bytes(), s); err != nil && d.err == nil {
			d.fail("snapshot: %v", err)
		}
		m.Body = &Replicate_Snapshot{Snapshot: s}
	case bodyNeedFull:
		m.Body = &Replicate_NeedFull{NeedFull: &NeedFull{}}
	}
	return false
}

// diff decodes a diff into m (whose BaseId, if set, is to be filled).
func (d *frameDecoder) diff(m *Diff, versions bool) {
	m.Origin, m.From = d.str(), d.str()
	if m.BaseId != nil {
		m.BaseId.Counter, m.BaseId.Peer = d.uvarint(), d.str()
	}
	m.BaseDigest = d.uvarint()
	np := d.uvarint()
	if np > 64 || np > uint64(len(d.peers)) {
		d.fail("%d peers in a diff (%d left of %d declared)", np, len(d.peers), cap(d.peers))
		return
	}
	if np > 0 {
		m.Peers = take(&d.peers, np)
		for i := range m.Peers {
			m.Peers[i] = d.str()
		}
	}
	mask := peerMask(int(np))
	// id reads an entry's or an ack's id and ack set: (counter, peer index, bit set).
	id := func() (counter uint64, peer uint32, acks uint64) {
		counter, peer, acks = d.uvarint(), d.uint32(), d.uvarint()
		if uint64(peer) >= np || acks&^mask != 0 {
			d.fail("peer %d or ack set %b beyond %d peers", peer, acks, np)
		}
		return counter, peer, acks
	}
	if n := d.uvarint(); n > uint64(len(d.entries)) {
		d.fail("%d entries in a diff, %d left", n, len(d.entries))
		return
	} else if n > 0 {
		m.Entries = take(&d.entryPs, n)
		blocks := take(&d.entries, n)
		for i := range blocks {
			b := &blocks[i]
			b.e.Counter, b.e.Peer, b.e.Acks = id()
			dl := &b.d
			dl.Kind, dl.Peer = d.uint32(), d.str()
			if ev := d.bytes(); len(ev) > len(d.events) {
				d.fail("%d event bytes, %d left", len(ev), len(d.events))
			} else if len(ev) > 0 {
				dl.Event = take(&d.events, uint64(len(ev)))
				copy(dl.Event, ev)
			}
			dl.Time = d.varint()
			dl.Err, dl.Cutoff, dl.Req = d.str(), d.uvarint(), d.str()
			if versions {
				dl.Version = d.uint32()
			}
			b.e.Delta = dl
			m.Entries[i] = &b.e
			if d.err != nil {
				return
			}
		}
	}
	if n := d.uvarint(); n > uint64(len(d.acks)) {
		d.fail("%d acks in a diff, %d left", n, len(d.acks))
	} else if n > 0 {
		m.Acks = take(&d.ackPs, n)
		acks := take(&d.acks, n)
		for i := range acks {
			a := &acks[i]
			a.Counter, a.Peer, a.Acks = id()
			m.Acks[i] = a
		}
	}
	if versions && d.err == nil {
		if c := d.uvarint(); c != 0 {
			m.Checkpoint = &Checkpoint{Id: &EventID{Counter: c, Peer: d.str()}, Digest: d.uvarint()}
		}
	}
}

// varint reads a signed varint (zig-zag, as binary.AppendVarint writes it).
func (d *frameDecoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// take cuts the first n elements off *slab (capped, so that appending to them cannot
// overwrite the rest); the caller has checked that the slab holds n.
func take[T any](slab *[]T, n uint64) []T {
	s := (*slab)[:n:n]
	*slab = (*slab)[n:]
	return s
}
