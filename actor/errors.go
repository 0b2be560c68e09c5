package actor

import (
	"errors"
	"strings"

	"github.com/legion-go/legion/actor/internal/errs"
	"github.com/legion-go/legion/actor/internal/wire"
)

// Errors callers branch on (with errors.Is).
var (
	// ErrUnknownKind: the kind is not registered on the node that was asked.
	ErrUnknownKind = errs.UnknownKind
	// ErrBadPayload: an event, query or message did not decode.
	ErrBadPayload = errs.BadPayload
	// ErrTooLarge: an event or query is over Config.MaxPayloadBytes.
	ErrTooLarge = errs.TooLarge
	// ErrStopped: the node is stopped (or stopping).
	ErrStopped = errs.Stopped
	// ErrUnavailable: no replica of the partition answered in time, or every one that
	// answered refused the call (it is not a replica, it is stopping, it could not tell
	// whether the partition exists). A failed Call's error is also ErrNotApplied or
	// ErrOutcomeUnknown, which say whether the call may have been applied.
	ErrUnavailable = errs.Unavailable
	// ErrNotApplied: a failed Call logged nothing, on any replica: it was refused before
	// anything was sent (a bad key or payload, a stopped node, no replica), every replica
	// asked refused it before logging it, or Apply rejected it (a *RejectedError, also
	// ErrNotApplied). A retry, with any request key, applies it at most once.
	ErrNotApplied = errs.NotApplied
	// ErrOutcomeUnknown: a failed Call may have been logged, and so may yet be applied:
	// an attempt was sent and got no answer before its timeout or ctx ended (the request
	// or the reply may have been lost), or a replica logged the event and the call's ctx
	// ended before it folded (a consistent call waiting for acknowledgements). Retry it
	// with the same request key (WithRequestKey) to have it applied once and learn its
	// outcome (docs/calls.md).
	ErrOutcomeUnknown = errs.OutcomeUnknown
	// ErrNoReplicas: membership knows no live node hosting the kind.
	ErrNoReplicas = errs.NoReplicas
	// ErrNotReplica: the node asked is not (or no longer) a replica of the partition;
	// callers try the next replica.
	ErrNotReplica = errs.NotReplica
	// ErrOutputUnknown: a consistent call's event was folded by another replica whose
	// history this replica took over wholesale, so its final output is not known here.
	ErrOutputUnknown = errs.OutputUnknown
	// ErrUnreplicated (from Node.Stop): the node stopped while events it acknowledged
	// (fast calls) were held by no other replica yet: it was cut off, or they did not
	// replicate within the drain's time. They are on its disk only: keep its data
	// directory and start the node again, or they are lost.
	ErrUnreplicated = errors.New("actor: stopped with acknowledged events no other replica holds yet: keep the data directory and start the node again")
)

// RejectedError is returned when the kind's Apply (or Query) returned an error or
// panicked: the event changed nothing, on any replica.
type RejectedError = errs.Rejected

// toWire turns an error into its wire form.
func toWire(err error) *wire.Error { return errs.ToWire(err) }

// fromWire turns a wire error back into one callers can branch on.
func fromWire(e *wire.Error) error { return errs.FromWire(e) }

// joinErrors is errors.Join on one line: errors.Is and errors.As see each of errs, and
// the message joins theirs with ": " (errors.Join's newlines split a log line, or an
// HTTP error's body, in two).
func joinErrors(errs ...error) error {
	var j joinedErrors
	for _, err := range errs {
		if err != nil {
			j = append(j, err)
		}
	}
	if len(j) == 0 {
		return nil
	}
	return j
}

type joinedErrors []error

func (j joinedErrors) Error() string {
	var b strings.Builder
	for i, err := range j {
		if i > 0 {
			b.WriteString(": ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (j joinedErrors) Unwrap() []error { return j }
