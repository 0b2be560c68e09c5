package actor

import (
	"errors"
	"fmt"
)

// What a failed Call is known to have done: every error Call returns is one of three
// kinds, and says which (docs/calls.md, "Errors"):
//
//   - ErrNotApplied: nothing was logged (the error before sending, every replica's
//     refusal, Apply's rejection);
//   - ErrOutcomeUnknown: an attempt may have been logged;
//   - ErrOutputUnknown: applied, its output not known to the replica that answered.

// notApplied marks an error as ErrNotApplied, keeping its message and what it wraps.
type notApplied struct{ err error }

func (e notApplied) Error() string   { return e.err.Error() }
func (e notApplied) Unwrap() []error { return []error{ErrNotApplied, e.err} }

// refused marks err, the failure of a call that was not sent or that no replica took, as
// ErrNotApplied.
func refused(err error) error {
	if err == nil {
		return nil
	}
	return notApplied{err}
}

// callOutcome classifies the error of a call that reached n.request (err: its error; or
// reply: the error the replica that answered gave; taken: whether an attempt before it
// may have been logged).
func callOutcome(taken bool, err, reply error) error {
	switch {
	case err != nil && taken:
		return joinErrors(ErrOutcomeUnknown, err)
	case err != nil:
		return refused(err)
	case reply == nil, isOutcome(reply):
		return reply
	case taken:
		// The answer is this attempt's (a rejection, an undecodable payload): an earlier
		// one may have been logged on another replica, and its copy may fold first. The
		// rejection is not final, so it is not returned as a *RejectedError.
		return joinErrors(ErrOutcomeUnknown, fmt.Errorf("an earlier attempt got no answer, and this one: %v", reply))
	}
	return refused(reply)
}

// isOutcome reports whether err already says what the call did.
func isOutcome(err error) bool {
	return errors.Is(err, ErrOutputUnknown) || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotApplied)
}
