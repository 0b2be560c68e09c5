package replica

import (
	"hash/fnv"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// Divergence detection: each diff carries the sender's latest checkpoint
// (lattice.Checkpoint: a digest of its infimum value at one folded id, sampled at the same
// ids on every replica) once per peer. The receiver compares it with its own checkpoint at
// that id, at once if it has folded that far, or when it does. A mismatch means two
// replicas folded the same events into different values: their Apply differs (two
// versions of the code, a nondeterministic Apply). It is reported (Divergence), never
// repaired: which of the two values is right is the operator's call (docs/kinds.md,
// "Versions and upgrades").

// Divergence is a replica whose infimum value differs from this one's at the same id.
type Divergence struct {
	Peer         lattice.Peer
	ID           lattice.EventID
	Mine, Theirs uint64 // the value digests
}

// checks is a fold's divergence detection state.
type checks struct {
	// claims: the latest checkpoint of each peer above this replica's infimum, to
	// compare once it folds that far.
	claims map[lattice.Peer]lattice.Checkpoint
	// sent: the id of the last checkpoint sent to each peer.
	sent  map[lattice.Peer]lattice.EventID
	found []Divergence
}

// checkpointState is what checks reads of a lattice.State.
type checkpointState interface {
	Base() lattice.Base
	CheckpointAt(id lattice.EventID) (lattice.Checkpoint, bool)
}

// toSend returns the checkpoint to put in a diff to peer: the latest, if not sent yet.
func (c *checks) toSend(to lattice.Peer, cps []lattice.Checkpoint) *wire.Checkpoint {
	if len(cps) == 0 {
		return nil
	}
	last := cps[len(cps)-1]
	if id, ok := c.sent[to]; ok && id == last.ID {
		return nil
	}
	if c.sent == nil {
		c.sent = map[lattice.Peer]lattice.EventID{}
	}
	c.sent[to] = last.ID
	return &wire.Checkpoint{Id: wire.FromID(last.ID), Digest: last.Digest}
}

// claim takes the checkpoint a diff from peer carried (nil: none).
func (c *checks) claim(from lattice.Peer, m *wire.Checkpoint, st checkpointState) {
	if m == nil || m.GetId() == nil || from == "" {
		return
	}
	cp := lattice.Checkpoint{ID: wire.ToID(m.GetId()), Digest: m.GetDigest()}
	if st.Base().ID.Less(cp.ID) {
		if c.claims == nil {
			c.claims = map[lattice.Peer]lattice.Checkpoint{}
		}
		c.claims[from] = cp
		return
	}
	c.compare(from, cp, st)
}

// settle compares the claims this replica's infimum has reached.
func (c *checks) settle(st checkpointState) {
	inf := st.Base().ID
	for p, cp := range c.claims {
		if !inf.Less(cp.ID) {
			delete(c.claims, p)
			c.compare(p, cp, st)
		}
	}
}

func (c *checks) compare(from lattice.Peer, cp lattice.Checkpoint, st checkpointState) {
	mine, ok := st.CheckpointAt(cp.ID)
	if !ok || mine.Digest == cp.Digest || mine.Digest == 0 || cp.Digest == 0 {
		return // not sampled here (a remote infimum taken wholesale skipped it), or equal
	}
	c.found = append(c.found, Divergence{Peer: from, ID: cp.ID, Mine: mine.Digest, Theirs: cp.Digest})
}

func (c *checks) take() []Divergence {
	out := c.found
	c.found = nil
	return out
}

// withValueDigest returns b with a ValueDigest that hashes a state's encoding, unless b
// has one. A state that does not encode hashes to 0, which compares with nothing.
func withValueDigest[S, E, O any](b lattice.Behavior[S, E, O], cs wire.Codec[S]) lattice.Behavior[S, E, O] {
	if b.ValueDigest != nil || cs.Encode == nil {
		return b
	}
	b.ValueDigest = func(s S) uint64 {
		enc, err := cs.Encode(s)
		if err != nil {
			return 0
		}
		h := fnv.New64a()
		h.Write(enc)
		return h.Sum64()
	}
	return b
}

// noteDivergences reports the divergences the fold found, in the step's effects.
func (r *Replica) noteDivergences() {
	for _, d := range r.fold.Divergences() {
		r.out.Divergences = append(r.out.Divergences, d)
		r.log(LevelError, "replicas diverged: the same events folded into different values",
			"peer", d.Peer, "id", d.ID, "digest", d.Mine, "peer_digest", d.Theirs)
	}
}
