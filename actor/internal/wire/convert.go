package wire

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

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
	m := &Entry{
		Id:   FromID(e.ID),
		Acks: fromPeers(e.Acks),
		Delta: &Delta{Kind: uint32(e.Delta.Kind), Peer: string(e.Delta.Peer), Time: e.Delta.Time,
			Err: e.Delta.Err, Cutoff: e.Delta.Cutoff, Req: e.Delta.Req},
	}
	if k := e.Delta.Kind; k == lattice.Event || k == lattice.Error {
		b, err := c.Encode(e.Delta.Event)
		if err != nil {
			return nil, fmt.Errorf("wire: encode event %v: %w", e.ID, err)
		}
		m.Delta.Event = b
	}
	return m, nil
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
	out.Req = d.Req
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

// FromDiff encodes a diff.
func FromDiff[E any](d *lattice.Diff[E], c Codec[E]) (*Diff, error) {
	m := &Diff{Origin: d.Origin, From: string(d.From), BaseId: FromID(d.Base.ID), BaseDigest: d.Base.Digest,
		Entries: make([]*DiffEntry, len(d.Entries)), Acks: make([]*DiffAck, len(d.Acks))}
	var t peerTable
	entries := make([]DiffEntry, len(d.Entries)) // one allocation for all
	for i := range d.Entries {
		e := &d.Entries[i]
		de := &entries[i]
		de.Counter, de.Peer, de.Acks = e.ID.Counter, t.of(e.ID.Peer), t.set(e.Acks)
		de.Delta = &Delta{Kind: uint32(e.Delta.Kind), Peer: string(e.Delta.Peer), Time: e.Delta.Time,
			Err: e.Delta.Err, Cutoff: e.Delta.Cutoff, Req: e.Delta.Req}
		if k := e.Delta.Kind; k == lattice.Event || k == lattice.Error {
			b, err := c.Encode(e.Delta.Event)
			if err != nil {
				return nil, fmt.Errorf("wire: encode event %v: %w", e.ID, err)
			}
			de.Delta.Event = b
		}
		m.Entries[i] = de
	}
	acks := make([]DiffAck, len(d.Acks))
	for i, a := range d.Acks {
		acks[i] = DiffAck{Counter: a.ID.Counter, Peer: t.of(a.ID.Peer), Acks: t.set(a.Peers)}
		m.Acks[i] = &acks[i]
	}
	if len(t.names) > 64 {
		return nil, ErrTooManyPeers
	}
	m.Peers = t.names
	return m, nil
}

// ToDiff decodes a diff, checking that it is well formed.
func ToDiff[E any](m *Diff, c Codec[E]) (lattice.Diff[E], error) {
	d := lattice.Diff[E]{Origin: m.GetOrigin(), From: lattice.Peer(m.GetFrom()),
		Base: lattice.Base{ID: ToID(m.GetBaseId()), Digest: m.GetBaseDigest()}}
	names := m.GetPeers()
	if len(names) > 64 {
		return d, malformed("%d peers in a diff", len(names))
	}
	peers := make([]lattice.Peer, len(names))
	for i, n := range names {
		if n == "" {
			return d, malformed("empty peer name")
		}
		peers[i] = lattice.Peer(n)
	}
	// Ack sets are sorted (lattice.Entry.Acks): read the bits in the order of the names.
	order := make([]int, len(peers))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(peers[a], peers[b]) })
	for i := 1; i < len(order); i++ {
		if peers[order[i]] == peers[order[i-1]] {
			return d, malformed("peer %q named twice", peers[order[i]])
		}
	}
	id := func(counter uint64, p uint32) (lattice.EventID, error) {
		if counter == 0 || int(p) >= len(peers) {
			return lattice.EventID{}, malformed("id %d@#%d with %d peers", counter, p, len(peers))
		}
		return lattice.EventID{Counter: counter, Peer: peers[p]}, nil
	}
	set := func(bits uint64) ([]lattice.Peer, error) {
		if len(peers) < 64 && bits>>len(peers) != 0 {
			return nil, malformed("ack set %b names no peer of %d", bits, len(peers))
		}
		out := make([]lattice.Peer, 0, 4)
		for _, i := range order {
			if bits&(1<<i) != 0 {
				out = append(out, peers[i])
			}
		}
		return out, nil
	}
	d.Entries = make([]lattice.Entry[E], len(m.GetEntries()))
	for i, em := range m.GetEntries() {
		var err error
		e := &d.Entries[i]
		if em == nil || em.Delta == nil {
			return d, malformed("entry without delta")
		}
		if e.ID, err = id(em.Counter, em.Peer); err != nil {
			return d, err
		}
		if e.Delta, err = toDelta(e.ID, em.Delta, c); err != nil {
			return d, err
		}
		if e.Acks, err = set(em.Acks); err != nil {
			return d, err
		}
	}
	d.Acks = make([]lattice.Ack, len(m.GetAcks()))
	for i, a := range m.GetAcks() {
		var err error
		if a == nil {
			return d, malformed("empty ack")
		}
		if d.Acks[i].ID, err = id(a.Counter, a.Peer); err != nil {
			return d, err
		}
		if d.Acks[i].Peers, err = set(a.Acks); err != nil {
			return d, err
		}
	}
	return d, nil
}

// FromInfimum encodes an infimum (hasBase false: the replica holds no state yet).
func FromInfimum[S any](inf *lattice.Infimum[S], hasBase bool, c Codec[S]) (*Infimum, error) {
	m := &Infimum{Id: FromID(inf.ID), Participants: fromPeers(inf.Participants), Digest: inf.Digest,
		HasBase: hasBase}
	if len(inf.Last) > 0 {
		m.Last = make(map[string]uint64, len(inf.Last))
		for p, c := range inf.Last {
			m.Last[string(p)] = c
		}
	}
	for _, r := range inf.Recent {
		m.Recent = append(m.Recent, &Request{Key: r.Key, Id: FromID(r.ID)})
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
	inf.Digest = m.Digest
	if len(m.Last) > 0 {
		inf.Last = make(map[lattice.Peer]uint64, len(m.Last))
		for p, c := range m.Last {
			inf.Last[lattice.Peer(p)] = c
		}
	}
	for _, r := range m.Recent {
		inf.Recent = append(inf.Recent, lattice.Request{Key: r.GetKey(), ID: ToID(r.GetId())})
	}
	if inf.Value, err = c.Decode(m.Value); err != nil {
		return inf, false, malformed("state: %v", err)
	}
	return inf, true, nil
}

// FromSnapshot encodes a full state.
func FromSnapshot[S, E any](s *lattice.Snapshot[S, E], hasBase bool, cs Codec[S], ce Codec[E]) (*Snapshot, error) {
	inf, err := FromInfimum(&s.Infimum, hasBase, cs)
	if err != nil {
		return nil, err
	}
	m := &Snapshot{Origin: s.Origin, Infimum: inf, Pending: make([]*Entry, len(s.Pending))}
	for i := range s.Pending {
		if m.Pending[i], err = FromEntry(&s.Pending[i], ce); err != nil {
			return nil, err
		}
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
	return s, nil
}
