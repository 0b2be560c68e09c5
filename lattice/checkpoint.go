package lattice

// Divergence detection. Every replica folds the same deltas in the same order, so after
// folding a given id every replica's infimum value must be the same. The infimum digest
// proves the ids, not the values: a replica whose Apply differs from the others' (two
// versions of the code in one cluster, a nondeterministic Apply) computes another value
// and nothing else notices. A checkpoint is a digest of the value at one folded id
// (Behavior.ValueDigest, the runtime's hash of its encoding). The folds sampled are the
// same on every replica, chosen by the infimum digest after the fold (one in
// CheckpointEvery on average), so that replicas have checkpoints at the same ids to
// compare, and the cost (an encoding of the state) is paid on few folds.

// CheckpointEvery is how many folds there are, on average, per checkpoint.
const CheckpointEvery = 16

// keptCheckpoints is how many checkpoints a replica keeps.
const keptCheckpoints = 4

// Checkpoint is the digest of a replica's infimum value just after it folded ID.
type Checkpoint struct {
	ID     EventID
	Digest uint64
}

// sampled reports whether the fold that made digest is one to checkpoint: one in
// CheckpointEvery. The low bits of an FNV-1a hash depend on the low bits of its input
// only (for one peer, they may never be 0): sample on the high bits of a multiplicative
// mix, which depend on all of them.
func sampled(digest uint64) bool {
	return (digest*0x9e3779b97f4a7c15)>>60 == 0 // CheckpointEvery = 16 = 1<<(64-60)
}

// checkpoint records a checkpoint of the infimum if the fold just made is sampled.
func (s *State[S, E, O]) checkpoint() {
	if s.behavior.ValueDigest == nil || !sampled(s.inf.Digest) {
		return
	}
	c := Checkpoint{ID: s.inf.ID, Digest: s.behavior.ValueDigest(s.inf.Value)}
	if len(s.checkpoints) == keptCheckpoints {
		copy(s.checkpoints, s.checkpoints[1:])
		s.checkpoints = s.checkpoints[:keptCheckpoints-1]
	}
	s.checkpoints = append(s.checkpoints, c)
}

// Checkpoints returns the last checkpoints this replica made, oldest first (at most a
// few; none without Behavior.ValueDigest). They are local: a merge neither sends nor
// takes them, and a replica that took a remote infimum wholesale has none of the ids it
// skipped. Callers must not modify the slice.
func (s *State[S, E, O]) Checkpoints() []Checkpoint { return s.checkpoints }

// CheckpointAt returns this replica's checkpoint at id, if it has one.
func (s *State[S, E, O]) CheckpointAt(id EventID) (Checkpoint, bool) {
	for _, c := range s.checkpoints {
		if c.ID == id {
			return c, true
		}
	}
	return Checkpoint{}, false
}
