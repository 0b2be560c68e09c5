package gc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/legion-go/legion/lattice"
)

// ActionKind says what the runtime does for an Action.
type ActionKind uint8

const (
	// Eject: write UnJoin(Peer) in the partition on behalf of Peer, a participant (or
	// joiner) that membership has reported gone for at least EjectAfter.
	Eject ActionKind = iota + 1
	// Join: write Join(Peer) in the partition and send Peer the full state (a handoff).
	Join
	// Leave: write UnJoin(self) in the partition (Peer is self). Once it folds, the replica
	// is retired and the runtime deletes its copy.
	Leave
)

func (k ActionKind) String() string {
	switch k {
	case Eject:
		return "eject"
	case Join:
		return "join"
	case Leave:
		return "leave"
	}
	return "ActionKind(" + strconv.Itoa(int(k)) + ")"
}

// Action is one membership change the runtime proposes (lattice.State.Propose) in the
// replica of Partition stored on this node, which is always a full participant of it.
type Action struct {
	Kind      ActionKind
	Partition Partition
	Peer      lattice.Peer
}

// String renders the action for logs: "eject n3 from k/a", "join n4 to k/a", "leave k/a".
func (a Action) String() string {
	switch a.Kind {
	case Eject:
		return fmt.Sprintf("eject %s from %s", a.Peer, a.Partition)
	case Join:
		return fmt.Sprintf("join %s to %s", a.Peer, a.Partition)
	case Leave:
		return fmt.Sprintf("leave %s", a.Partition)
	}
	return fmt.Sprintf("%v %s %s", a.Kind, a.Peer, a.Partition)
}

// Plan is what Decide asks the runtime to do now.
type Plan struct {
	// Actions in partition order (kind, key); within a partition: ejections (peer order),
	// joins (replica-set order), then the leave.
	Actions []Action
	// Deferred counts the joins this node should write but held back because MaxHandoffs
	// joins are in flight: call Decide again when one completes.
	Deferred int
	// Blocked counts the partitions this node writes for in which two or more full
	// participants or joiners are not live: nothing can be ejected or joined there until
	// one of them returns (Stalls shows them).
	Blocked int
	// Held, when not nil, says why Decide planned nothing at all: ErrNoMajority or
	// ErrSelfNotLive.
	Held error
}

// Count returns how many actions of kind the plan holds.
func (p Plan) Count(kind ActionKind) int {
	n := 0
	for _, a := range p.Actions {
		if a.Kind == kind {
			n++
		}
	}
	return n
}

// String renders the plan one action per line, then "deferred N" and "blocked N" when not
// zero, and "held: reason" when held; an empty plan renders as "nothing".
func (p Plan) String() string {
	var b strings.Builder
	for _, a := range p.Actions {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	if p.Deferred > 0 {
		fmt.Fprintf(&b, "deferred %d\n", p.Deferred)
	}
	if p.Blocked > 0 {
		fmt.Fprintf(&b, "blocked %d\n", p.Blocked)
	}
	if p.Held != nil {
		fmt.Fprintf(&b, "held: %v\n", p.Held)
	}
	if b.Len() == 0 {
		return "nothing\n"
	}
	return b.String()
}
