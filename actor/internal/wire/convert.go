package wire

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/lattice"
)

// ErrMalformed wraps every decoding failure: a message that does not describe a valid
// lattice value.
var ErrMalformed = errors.New("wire: malformed message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Codec encodes and decodes one user type.
type Codec[T any] struct {
	Encode func(T) ([]byte, error)
	Decode func([]byte) (T, error)
}

func FromID(id lattice.EventID) *EventID {
	return &EventID{Counter: id.Counter, Peer: string(id.Peer)}
}

func ToID(m *EventID) lattice.EventID {
	if m == nil {
		return lattice.EventID{}
	}
	return lattice.EventID{Counter: m.Counter, Peer: lattice.Peer(m.Peer)}
}

func fromPeers(ps []lattice.Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

func toPeers(ps []string) []lattice.Peer {
	out := make([]lattice.Peer, len(ps))
	for i, p := range ps {
		out[i] = lattice.Peer(p)
	}
	return out
}

// FromEntry encodes a pending entry.
func FromEntry[E any](e *lattice.Entry[E], c Codec[E]) (*Entry, error) {
	b := new(entryBlock)
	if err := fillEntry(b, e, c); err != nil {
		return nil, err
	}
	return &b.m, nil
}

// MarshalEntry encodes a pending entry into its stored form: proto.Marshal(FromEntry(e)).
func MarshalEntry[E any](e *lattice.Entry[E], c Codec[E]) ([]byte, error) {
	b := entryPool.Get().(*entryBlock)
	defer func() {
		*b = entryBlock{} // hold on to nothing of the entry
		entryPool.Put(b)
	}()
	if err := fillEntry(b, e, c); err != nil {
		return nil, err
	}
	return proto.Marshal(&b.m)
}

// entryPool recycles the messages MarshalEntry encodes through: only their encoding leaves it.
var entryPool = sync.Pool{New: func() any { return new(entryBlock) }}

// entryBlock holds an Entry message and the messages it points to, so that encoding an
// entry costs one allocation (plus the event's encoding) instead of five.
type entryBlock struct {
	m     Entry
	id    EventID
	delta Delta
	acks  [4]string // the ack set, when it has at most 4 peers
}

func fillEntry[E any](b *entryBlock, e *lattice.Entry[E], c Codec[E]) error {
	b.id.Counter, b.id.Peer = e.ID.Counter, string(e.ID.Peer)
	if err := fillDelta(&b.delta, e, c); err != nil {
		return err
	}
	b.m.Id, b.m.Delta = &b.id, &b.delta
	if n := len(e.Acks); n <= len(b.acks) {
		b.m.Acks = b.acks[:n:n]
	} else {
		b.m.Acks = make([]string, n)
	}
	for i, p := range e.Acks {
		b.m.Acks[i] = string(p)
	}
	return nil
}

// fillDelta encodes the delta of entry e into m.
func fillDelta[E any](m *Delta, e *lattice.Entry[E], c Codec[E]) error {
	d := &e.Delta
	m.Kind, m.Peer, m.Time, m.Err, m.Cutoff, m.Req = uint32(d.Kind), string(d.Peer), d.Time, d.Err, d.Cutoff, d.Req
	m.Version = d.Version
	if d.Kind == lattice.Event || d.Kind == lattice.Error {
		b, err := c.Encode(d.Event)
		if err != nil {
			return fmt.Errorf("wire: encode event %v: %w", e.ID, err)
		}
		m.Event = b
	}
	return nil
}

// ToEntry decodes a pending entry, checking that it is well formed.
func ToEntry[E any](m *Entry, c Codec[E]) (lattice.Entry[E], error) {
	var e lattice.Entry[E]
	if m == nil || m.Id == nil || m.Delta == nil {
		return e, malformed("entry without id or delta")
	}
	e.ID = ToID(m.Id)
	if e.ID.Counter == 0 || e.ID.Peer == "" {
		return e, malformed("entry id %v", e.ID)
	}
	var err error
	if e.Delta, err = toDelta(e.ID, m.Delta, c); err != nil {
		return e, err
	}
	e.Acks = toPeers(m.Acks)
	return e, nil
}

// toDelta decodes the delta of entry id.
func toDelta[E any](id lattice.EventID, d *Delta, c Codec[E]) (lattice.Delta[E], error) {
	var out lattice.Delta[E]
	kind := lattice.DeltaKind(d.Kind)
	switch kind {
	case lattice.Join, lattice.UnJoin:
		if d.Peer == "" {
			return out, malformed("%v of %v names no peer", kind, id)
		}
	case lattice.Reset: // no event, no peer
	case lattice.Event, lattice.Error:
		ev, err := c.Decode(d.Event)
		if err != nil {
			return out, malformed("event %v: %v", id, err)
		}
		out.Event = ev
	default:
		return out, malformed("delta kind %d", d.Kind)
	}
	out.Kind, out.Peer, out.Time, out.Err, out.Cutoff = kind, lattice.Peer(d.Peer), d.Time, d.Err, d.Cutoff
	out.Req, out.Version = d.Req, d.Version
	return out, nil
}

// ErrTooManyPeers: a diff would name more peers than its ack bit sets hold; the sender
// sends its full state instead.
var ErrTooManyPeers = errors.New("wire: more than 64 peers in a diff")

// peerTable numbers the peers a diff names.
type peerTable struct{ names []string }

func (t *peerTable) of(p lattice.Peer) uint32 {
	for i, n := range t.names { // a handful of peers: a scan beats a map
		if n == string(p) {
			return uint32(i)
		}
	}
	t.names = append(t.names, string(p))
	return uint32(len(t.names) - 1)
}

func (t *peerTable) set(ps []lattice.Peer) uint64 {
	var bits uint64
	for _, p := range ps {
		bits |= 1 << t.of(p)
	}
	return bits
}

// diffBlock holds a Diff message and, for a small diff, what it points to: one
// allocation instead of one per message.
type diffBlock struct {
	m       Diff
	base    EventID
	names   [4]string
	entries [4]*DiffEntry
	acks    [4]*DiffAck
	ackBuf  [2]DiffAck // the ack sets of a diff that has at most 2
}

// diffEntryBlock is a DiffEntry with its Delta.
type diffEntryBlock struct {
	e DiffEntry
	d Delta
}

// diffEncoder builds a Diff message with nEntries entries and nAcks ack sets, all in a
// few allocations.
type diffEncoder struct {
	m    *Diff
	t    peerTable
	ents []diffEntryBlock
	acks []DiffAck
}

func newDiffEncoder[E any](head *lattice.Diff[E], nEntries, nAcks int) diffEncoder {
	b := new(diffBlock)
	b.base.Counter, b.base.Peer = head.Base.ID.Counter, string(head.Base.ID.Peer)
	m := &b.m
	m.Origin, m.From, m.BaseId, m.BaseDigest = head.Origin, string(head.From), &b.base, head.Base.Digest
	enc := diffEncoder{m: m, t: peerTable{names: b.names[:0]}}
	if nEntries <= len(b.entries) {
		m.Entries = b.entries[:nEntries:nEntries]
	} else {
		m.Entries = make([]*DiffEntry, nEntries)
	}
	if nEntries > 0 {
		enc.ents = make([]diffEntryBlock, nEntries)
	}
	if nAcks <= len(b.acks) {
		m.Acks = b.acks[:nAcks:nAcks]
	} else {
		m.Acks = make([]*DiffAck, nAcks)
	}
	if nAcks <= len(b.ackBuf) {
		enc.acks = b.ackBuf[:nAcks]
	} else {
		enc.acks = make([]DiffAck, nAcks)
	}
	return enc
}

// entry encodes e as the i-th entry.
func diffEntry[E any](enc *diffEncoder, i int, e *lattice.Entry[E], c Codec[E]) error {
	b := &enc.ents[i]
	b.e.Counter, b.e.Peer, b.e.Acks = e.ID.Counter, enc.t.of(e.ID.Peer), enc.t.set(e.Acks)
	if err := fillDelta(&b.d, e, c); err != nil {
		return err
	}
	b.e.Delta = &b.d
	enc.m.Entries[i] = &b.e
	return nil
}

// ack encodes the i-th ack set.
func (enc *diffEncoder) ack(i int, id lattice.EventID, ps []lattice.Peer) {
	a := &enc.acks[i]
	a.Counter, a.Peer, a.Acks = id.Counter, enc.t.of(id.Peer), enc.t.set(ps)
	enc.m.Acks[i] = a
}

func (enc *diffEncoder) done() (*Diff, error) {
	if len(enc.t.names) > 64 {
		return nil, ErrTooManyPeers
	}
	enc.m.Peers = enc.t.names
	return enc.m, nil
}

// FromDiff encodes a diff.
func FromDiff[E any](d *lattice.Diff[E], c Codec[E]) (*Diff, error) {
	enc := newDiffEncoder(d, len(d.Entries), len(d.Acks))
	for i := range d.Entries {
		if err := diffEntry(&enc, i, &d.Entries[i], c); err != nil {
			return nil, err
		}
	}
	for i := range d.Acks {
		enc.ack(i, d.Acks[i].ID, d.Acks[i].Peers)
	}
	return enc.done()
}

// DiffOf encodes st.Diff(q) (ok false when st.Diff refuses) without the copies st.Diff
// makes: the message is built straight from the replica's log and shares nothing mutable
// with it. It is the same message as FromDiff of st.Diff(q).
func DiffOf[S, E, O any](st *lattice.State[S, E, O], q lattice.Peer, c Codec[E]) (m *Diff, ok bool, err error) {
	head, pending, ok := st.DiffView(q)
	if !ok {
		return nil, false, nil
	}
	acked := 0
	for i := range pending {
		if pending[i].Acked(q) {
			acked++
		}
	}
	enc := newDiffEncoder(&head, len(pending)-acked, acked)
	// Entries first, then ack sets, as FromDiff numbers the peers.
	n := 0
	for i := range pending {
		if e := &pending[i]; !e.Acked(q) {
			if err := diffEntry(&enc, n, e, c); err != nil {
				return nil, true, err
			}
			n++
		}
	}
	n = 0
	for i := range pending {
		if e := &pending[i]; e.Acked(q) {
			enc.ack(n, e.ID, e.Acks)
			n++
		}
	}
	m, err = enc.done()
	return m, true, err
}

// ToDiff decodes a diff, checking that it is well formed.
func ToDiff[E any](m *Diff, c Codec[E]) (lattice.Diff[E], error) {
	d := lattice.Diff[E]{Origin: m.GetOrigin(), From: lattice.Peer(m.GetFrom()),
		Base: lattice.Base{ID: ToID(m.GetBaseId()), Digest: m.GetBaseDigest()}}
	names := m.GetPeers()
	if len(names) > 64 {
		return d, malformed("%d peers in a diff", len(names))
	}
	for _, n := range names {
		if n == "" {
			return d, malformed("empty peer name")
		}
	}
	// Ack sets are sorted (lattice.Entry.Acks): read the bits in the order of the names.
	var orderBuf [64]uint8
	order := orderBuf[:len(names)]
	for i := range order {
		order[i] = uint8(i)
		for j := i; j > 0 && names[order[j]] < names[order[j-1]]; j-- { // a handful: insertion sort
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	for i := 1; i < len(order); i++ {
		if names[order[i]] == names[order[i-1]] {
			return d, malformed("peer %q named twice", names[order[i]])
		}
	}
	ems, ams := m.GetEntries(), m.GetAcks()
	// Every ack set is carved out of one array (each capped, so that appending to one
	// cannot overwrite the next).
	mask := ^uint64(0)
	if len(names) < 64 {
		mask = 1<<len(names) - 1
	}
	total := 0
	for _, em := range ems {
		total += bits.OnesCount64(em.GetAcks() & mask)
	}
	for _, a := range ams {
		total += bits.OnesCount64(a.GetAcks() & mask)
	}
	sets := make([]lattice.Peer, 0, total)
	set := func(b uint64) ([]lattice.Peer, error) {
		if b&^mask != 0 {
			return nil, malformed("ack set %b names no peer of %d", b, len(names))
		}
		start := len(sets)
		for _, i := range order {
			if b&(1<<i) != 0 {
				sets = append(sets, lattice.Peer(names[i]))
			}
		}
		return sets[start:len(sets):len(sets)], nil
	}
	d.Entries = make([]lattice.Entry[E], len(ems))
	for i, em := range ems {
		var err error
		e := &d.Entries[i]
		if em == nil || em.Delta == nil {
			return d, malformed("entry without delta")
		}
		if e.ID, err = diffID(names, em.Counter, em.Peer); err != nil {
			return d, err
		}
		if e.Delta, err = toDelta(e.ID, em.Delta, c); err != nil {
			return d, err
		}
		if e.Acks, err = set(em.Acks); err != nil {
			return d, err
		}
	}
	d.Acks = make([]lattice.Ack, len(ams))
	for i, a := range ams {
		var err error
		if a == nil {
			return d, malformed("empty ack")
		}
		if d.Acks[i].ID, err = diffID(names, a.Counter, a.Peer); err != nil {
			return d, err
		}
		if d.Acks[i].Peers, err = set(a.Acks); err != nil {
			return d, err
		}
	}
	return d, nil
}

// diffID decodes an id of a diff that names peers by their index in names.
func diffID(names []string, counter uint64, p uint32) (lattice.EventID, error) {
	if counter == 0 || int(p) >= len(names) {
		return lattice.EventID{}, malformed("id %d@#%d with %d peers", counter, p, len(names))
	}
	return lattice.EventID{Counter: counter, Peer: lattice.Peer(names[p])}, nil
}

// infimumBlock holds an Infimum message and its id, in one allocation.
type infimumBlock struct {
	m  Infimum
	id EventID
}

// requestBlock is a Request with its id.
type requestBlock struct {
	r  Request
	id EventID
}

// FromInfimum encodes an infimum (hasBase false: the replica holds no state yet).
func FromInfimum[S any](inf *lattice.Infimum[S], hasBase bool, c Codec[S]) (*Infimum, error) {
	b := new(infimumBlock)
	b.id.Counter, b.id.Peer = inf.ID.Counter, string(inf.ID.Peer)
	m := &b.m
	m.Id, m.Participants, m.Digest, m.HasBase = &b.id, fromPeers(inf.Participants), inf.Digest, hasBase
	m.Lineage = inf.Lineage
	if len(inf.Last) > 0 {
		m.Last = make(map[string]uint64, len(inf.Last))
		for p, c := range inf.Last {
			m.Last[string(p)] = c
		}
	}
	if n := len(inf.Recent); n > 0 {
		rs := make([]requestBlock, n) // one allocation for all
		m.Recent = make([]*Request, n)
		for i, r := range inf.Recent {
			rb := &rs[i]
			rb.id.Counter, rb.id.Peer = r.ID.Counter, string(r.ID.Peer)
			rb.r.Key, rb.r.Id, rb.r.Time = r.Key, &rb.id, r.Time
			m.Recent[i] = &rb.r
		}
	}
	if hasBase {
		b, err := c.Encode(inf.Value)
		if err != nil {
			return nil, fmt.Errorf("wire: encode state: %w", err)
		}
		m.Value = b
	}
	return m, nil
}

// ToInfimum decodes an infimum; hasBase is false for a replica that holds no state yet.
func ToInfimum[S any](m *Infimum, c Codec[S]) (inf lattice.Infimum[S], hasBase bool, err error) {
	if m == nil || !m.HasBase {
		return inf, false, nil
	}
	if len(m.Participants) == 0 {
		return inf, false, malformed("infimum without participants")
	}
	inf.ID = ToID(m.Id)
	inf.Participants = toPeers(m.Participants)
	inf.Digest, inf.Lineage = m.Digest, m.Lineage
	if len(m.Last) > 0 {
		inf.Last = make(map[lattice.Peer]uint64, len(m.Last))
		for p, c := range m.Last {
			inf.Last[lattice.Peer(p)] = c
		}
	}
	for _, r := range m.Recent {
		inf.Recent = append(inf.Recent, lattice.Request{Key: r.GetKey(), ID: ToID(r.GetId()), Time: r.GetTime()})
	}
	if inf.Value, err = c.Decode(m.Value); err != nil {
		return inf, false, malformed("state: %v", err)
	}
	return inf, true, nil
}

// FromSnapshot encodes a full state.
func FromSnapshot[S, E any](s *lattice.Snapshot[S, E], hasBase bool, cs Codec[S], ce Codec[E]) (*Snapshot, error) {
	return fromState(s.Origin, &s.Infimum, hasBase, s.Pending, s.Held, s.Voided, cs, ce)
}

// SnapshotOf encodes st.Snapshot() (without its pending entries unless withPending)
// without the deep copy st.Snapshot makes: the message is built straight from the
// replica's state and shares nothing mutable with it.
func SnapshotOf[S, E, O any](st *lattice.State[S, E, O], withPending bool, cs Codec[S], ce Codec[E]) (*Snapshot, error) {
	inf := st.Infimum()
	var pending []lattice.Entry[E]
	if withPending {
		pending = st.Pending()
	}
	return fromState(st.Origin(), &inf, st.HasBase(), pending, st.Held(), st.Voided(), cs, ce)
}

func fromState[S, E any](origin string, inf *lattice.Infimum[S], hasBase bool, pending []lattice.Entry[E], held []lattice.Request, voided []lattice.EventID, cs Codec[S], ce Codec[E]) (*Snapshot, error) {
	im, err := FromInfimum(inf, hasBase, cs)
	if err != nil {
		return nil, err
	}
	m := &Snapshot{Origin: origin, Infimum: im, Pending: make([]*Entry, len(pending)), Voided: fromIDs(voided)}
	for _, r := range held {
		m.Held = append(m.Held, &Request{Key: r.Key, Id: FromID(r.ID), Time: r.Time})
	}
	bs := make([]entryBlock, len(pending)) // one allocation for all
	for i := range pending {
		if err := fillEntry(&bs[i], &pending[i], ce); err != nil {
			return nil, err
		}
		m.Pending[i] = &bs[i].m
	}
	return m, nil
}

// ToSnapshot decodes a full state.
func ToSnapshot[S, E any](m *Snapshot, cs Codec[S], ce Codec[E]) (lattice.Snapshot[S, E], error) {
	s := lattice.Snapshot[S, E]{Origin: m.GetOrigin()}
	inf, hasBase, err := ToInfimum(m.GetInfimum(), cs)
	if err != nil {
		return s, err
	}
	if hasBase {
		s.Infimum = inf
	}
	for _, em := range m.GetPending() {
		e, err := ToEntry(em, ce)
		if err != nil {
			return s, err
		}
		s.Pending = append(s.Pending, e)
	}
	for _, r := range m.GetHeld() {
		s.Held = append(s.Held, lattice.Request{Key: r.GetKey(), ID: ToID(r.GetId()), Time: r.GetTime()})
	}
	s.Voided = toIDs(m.GetVoided())
	return s, nil
}

// fromIDs encodes ids (nil for none).
func fromIDs(ids []lattice.EventID) []*EventID {
	if len(ids) == 0 {
		return nil
	}
	out := make([]*EventID, len(ids))
	for i, id := range ids {
		out[i] = FromID(id)
	}
	return out
}

// toIDs decodes ids (nil for none).
func toIDs(ms []*EventID) []lattice.EventID {
	if len(ms) == 0 {
		return nil
	}
	out := make([]lattice.EventID, len(ms))
	for i, m := range ms {
		out[i] = ToID(m)
	}
	return out
}
