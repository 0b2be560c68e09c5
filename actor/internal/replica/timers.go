package replica

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// Durable timers (docs/kinds.md, "Timers"). A kind's timers are a function of its state
// (KindOf.Timers): the timer set is part of the folded state by construction, so a
// snapshot, a merge, a restart or a reorder of the log carries it with no record of its
// own. When a timer is due, a replica logs its event like a call's, with the request key
// TimerKey(id, at): any other replica that logs it too (a failover, both sides of a cut)
// logs a duplicate by key, which folds as a no-op (lattice.Delta.Req). So a schedule fires
// once. Apply, applying the event, moves or removes the timer in the state.

// TimerOf is one of a partition's timers: at event time At (nanoseconds since the Unix
// epoch, as lattice.Meta.Time), the runtime logs Event.
type TimerOf[E any] struct {
	ID    string
	At    int64
	Event E
}

// Due is a timer that has not fired yet.
type Due struct {
	Key string // TimerKey(ID, At)
	ID  string
	At  int64
	// Event encodes its event (only the timers that fire are encoded).
	Event func() ([]byte, error)
}

// timerPrefix starts every timer's request key: no call's key does (package actor's
// start "k/" when the caller chose them, are hex when drawn, "renegade/" when derived).
const timerPrefix = "legion.timer:"

// TimerKey is the request key of the timer id due at at: the event of one schedule has
// one key on every replica. (A request key names a request within its partition's log,
// so the partition is part of it already.)
func TimerKey(id string, at int64) string {
	return timerPrefix + strconv.FormatInt(at, 10) + ":" + id
}

// IsTimerKey reports whether req is a timer's request key.
func IsTimerKey(req string) bool { return strings.HasPrefix(req, timerPrefix) }

// TimerBudget bounds how fast a node's replicas fire their timers (no flood of events
// after a long outage). When a replica's Env implements it, the replica asks before each
// timer it fires: Take returns 0 to go ahead, or how long to wait before asking again. It
// must return at once and may be called by many replicas' steps concurrently.
type TimerBudget interface {
	TakeTimer(now time.Time) time.Duration
}

// timers is a replica's part in its partition's timers.
type timers struct {
	armed   bool
	armedAt time.Time
	gen     uint64
	next    time.Time       // when this replica would fire the earliest due timer (zero: none)
	fired   map[string]bool // keys this activation logged: never twice (see fire)
	// marked is the due time (Unix ns) of the store mark this activation wrote (0: none);
	// unmark, marks the node woke the replica for, which the next write removes.
	marked int64
	unmark []int64
}

// NextTimer returns when (Unix ns) this replica fires its partition's earliest timer, if
// it has one: the shell wakes a passivated replica then. It is the due time of the store
// mark the replica wrote, if it wrote one.
func (r *Replica) NextTimer() (int64, bool) {
	if r.timers.marked != 0 {
		return r.timers.marked, true
	}
	return r.timers.next.UnixNano(), !r.timers.next.IsZero()
}

// fireAt is when this replica fires a timer due at at: the first replica of the
// partition's placement at its due time, each next one TimerFailover later (it fires only
// if the earlier ones did not, or it would log a duplicate). A replica outside the
// placement comes last.
func (r *Replica) fireAt(at int64) time.Time {
	set := r.env.ReplicaSet(r.kind, r.key)
	rank := slices.Index(set, r.cfg.Self)
	if rank < 0 {
		rank = len(set)
	}
	return time.Unix(0, at).Add(time.Duration(rank) * r.cfg.TimerFailover)
}

// pendingTimers returns the partition's timers that have not fired, earliest first,
// without those this activation fired already.
func (r *Replica) pendingTimers() []Due {
	due := r.fold.Timers()
	if len(r.timers.fired) > 0 {
		keep := map[string]bool{}
		due = slices.DeleteFunc(due, func(d Due) bool {
			if r.timers.fired[d.Key] {
				keep[d.Key] = true
				return true
			}
			return false
		})
		r.timers.fired = keep // forget the keys whose timers are gone
	}
	return due
}

// armTimers asks the shell for a DueTimer at the earliest time this replica would fire a
// timer, unless one is armed for that time or earlier.
func (r *Replica) armTimers() {
	if r.life != Active || r.failed != nil || !r.fold.State().HasBase {
		return
	}
	due := r.pendingTimers()
	if len(due) == 0 {
		r.timers.next = time.Time{}
		return
	}
	r.armTimerAt(r.fireAt(due[0].At))
}

func (r *Replica) armTimerAt(at time.Time) {
	r.timers.next = at
	// One armed for at or earlier will do, unless its time passed and it has not fired:
	// the clock jumped (an injected clock moved; a host's clock was set forward).
	if r.timers.armed && !at.Before(r.timers.armedAt) && r.timers.armedAt.After(r.now) {
		return
	}
	r.timers.armed, r.timers.armedAt = true, at
	r.timers.gen++
	r.out.Timers = append(r.out.Timers, Timer{Kind: DueTimer, After: max(0, at.Sub(r.now)), Gen: r.timers.gen})
}

// WakeTimer activates the replica for the store mark (Config.TimerMark) due at due: the
// node's index of passivated partitions' timers found it due. The replica arms its
// timers again (they are in its state), and its next write removes that mark unless it is
// still its own.
func (r *Replica) WakeTimer(now time.Time, due int64) *Effects {
	eff := r.begin(now, true)
	if r.cfg.TimerMark != 0 && due != r.timers.marked {
		r.timers.unmark = append(r.timers.unmark, due)
		r.queueFlush()
	}
	r.armTimers()
	return r.done(eff)
}

// stageTimerMark adds to b the store mark of the replica's earliest timer (so that a
// node wakes the partition when it is due, however long it stayed passivated or down)
// where it changed, and the removal of the marks it was woken for.
func (r *Replica) stageTimerMark(b *storage.Batch) {
	reason := r.cfg.TimerMark
	if reason == 0 {
		return
	}
	var want int64
	if due := r.pendingTimers(); len(due) > 0 && r.fold.State().HasBase && r.life != Discarded {
		want = r.fireAt(due[0].At).UnixNano()
	}
	if want != r.timers.marked {
		if r.timers.marked != 0 {
			b.Unmark(reason, r.timers.marked, r.part)
		}
		if want != 0 {
			b.Mark(reason, want, r.part)
		}
		r.timers.marked = want
	}
	for _, u := range r.timers.unmark {
		if u != want {
			b.Unmark(reason, u, r.part)
		}
	}
	r.timers.unmark = r.timers.unmark[:0]
}

// FireTimers logs the events of the timers due at now (the DueTimer of generation gen
// fired; an older one is ignored); eventTime is the time the events carry (the node's
// hybrid logical clock, as a call's).
func (r *Replica) FireTimers(now time.Time, eventTime int64, gen uint64) *Effects {
	eff := r.begin(now, true)
	if gen != r.timers.gen {
		return r.done(eff)
	}
	r.timers.armed = false
	st := r.fold.State()
	if r.life != Active || r.failed != nil || !st.HasBase || !st.Participant || r.env.Leaving() {
		// A departing node logs no new event (see onCall); the next replica fires it.
		return r.done(eff)
	}
	budget, _ := r.env.(TimerBudget)
	logged := false
	for _, d := range r.pendingTimers() {
		if r.fireAt(d.At).After(now) {
			break
		}
		if budget != nil {
			if wait := budget.TakeTimer(now); wait > 0 {
				r.armTimerAt(now.Add(wait))
				break
			}
		}
		// Never twice in one activation, whatever the outcome: an event Apply rejects
		// leaves its timer in the state, and its key, on an Error delta, dedups nothing.
		if r.timers.fired == nil {
			r.timers.fired = map[string]bool{}
		}
		r.timers.fired[d.Key] = true
		b, err := d.Event()
		if err == nil {
			_, _, err = r.fold.Event(b, eventTime, d.Key)
		}
		var dup *lattice.DuplicateError
		switch {
		case err == nil:
			logged = true
		case errors.As(err, &dup):
			// logged by another replica already
		default:
			logged = logged || !errors.Is(err, lattice.ErrNotParticipant)
			r.log(LevelWarn, "timer event rejected", "timer", d.ID, "at", d.At, "err", err)
		}
	}
	if logged {
		r.broadcast = true
		r.queueFlush()
	}
	if !r.timers.armed {
		r.armTimers()
	}
	return r.done(eff)
}

func (f *typedFold[S, E, O]) Timers() []Due {
	if f.timers == nil || !f.st.HasBase() {
		return nil
	}
	ts := f.timers(f.st.Projection())
	if len(ts) == 0 {
		return nil
	}
	// A timer fired once an event with its key is in the history: pending, folded within
	// the dedup window, or held (lattice.State.Held).
	seen := map[string]bool{}
	for _, e := range f.st.Pending() {
		if IsTimerKey(e.Delta.Req) {
			seen[e.Delta.Req] = true
		}
	}
	for _, q := range f.st.Infimum().Recent {
		if IsTimerKey(q.Key) {
			seen[q.Key] = true
		}
	}
	for _, q := range f.st.Held() {
		if IsTimerKey(q.Key) {
			seen[q.Key] = true
		}
	}
	out := make([]Due, 0, len(ts))
	for _, t := range ts {
		key := TimerKey(t.ID, t.At)
		if seen[key] {
			continue
		}
		seen[key] = true // one schedule, one timer, should Timers list it twice
		e := t.Event
		out = append(out, Due{Key: key, ID: t.ID, At: t.At, Event: func() ([]byte, error) { return f.ce.Encode(e) }})
	}
	slices.SortFunc(out, func(a, b Due) int {
		if c := cmp.Compare(a.At, b.At); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
