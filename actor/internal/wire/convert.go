package wire

import (
	"errors"
	"fmt"

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
	d := m.Delta
	kind := lattice.DeltaKind(d.Kind)
	switch kind {
	case lattice.Join, lattice.UnJoin:
		if d.Peer == "" {
			return e, malformed("%v of %v names no peer", kind, e.ID)
		}
	case lattice.Event, lattice.Error:
		ev, err := c.Decode(d.Event)
		if err != nil {
			return e, malformed("event %v: %v", e.ID, err)
		}
		e.Delta.Event = ev
	default:
		return e, malformed("delta kind %d", d.Kind)
	}
	e.Delta.Kind, e.Delta.Peer, e.Delta.Time, e.Delta.Err, e.Delta.Cutoff = kind, lattice.Peer(d.Peer), d.Time, d.Err, d.Cutoff
	e.Delta.Req = d.Req
	e.Acks = toPeers(m.Acks)
	return e, nil
}

// FromDiff encodes a diff.
func FromDiff[E any](d *lattice.Diff[E], c Codec[E]) (*Diff, error) {
	m := &Diff{Origin: d.Origin, From: string(d.From), BaseId: FromID(d.Base.ID), BaseDigest: d.Base.Digest,
		Entries: make([]*Entry, len(d.Entries)), Acks: make([]*Ack, len(d.Acks))}
	for i := range d.Entries {
		e, err := FromEntry(&d.Entries[i], c)
		if err != nil {
			return nil, err
		}
		m.Entries[i] = e
	}
	for i, a := range d.Acks {
		m.Acks[i] = &Ack{Id: FromID(a.ID), Peers: fromPeers(a.Peers)}
	}
	return m, nil
}

// ToDiff decodes a diff.
func ToDiff[E any](m *Diff, c Codec[E]) (lattice.Diff[E], error) {
	d := lattice.Diff[E]{Origin: m.GetOrigin(), From: lattice.Peer(m.GetFrom()),
		Base: lattice.Base{ID: ToID(m.GetBaseId()), Digest: m.GetBaseDigest()}}
	d.Entries = make([]lattice.Entry[E], len(m.GetEntries()))
	for i, em := range m.GetEntries() {
		e, err := ToEntry(em, c)
		if err != nil {
			return d, err
		}
		d.Entries[i] = e
	}
	for _, a := range m.GetAcks() {
		if a == nil || a.Id == nil {
			return d, malformed("ack without id")
		}
		d.Acks = append(d.Acks, lattice.Ack{ID: ToID(a.Id), Peers: toPeers(a.Peers)})
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
