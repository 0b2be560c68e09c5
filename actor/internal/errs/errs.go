// Package errs defines the errors that callers of package actor branch on, and their wire
// form. They live here, not in actor, so that the replica's core (actor/internal/replica)
// can answer with them without importing the shell; actor re-exports each.
package errs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/legion-go/legion/actor/internal/wire"
)

// The sentinels; actor's doc comments describe each.
var (
	UnknownKind   = errors.New("actor: unknown kind")
	BadPayload    = errors.New("actor: undecodable payload")
	TooLarge      = errors.New("actor: payload too large")
	Stopped       = errors.New("actor: node stopped")
	Unavailable   = errors.New("actor: no replica answered")
	NoReplicas    = errors.New("actor: no live node hosts the kind")
	NotReplica    = errors.New("actor: not a replica of the partition")
	OutputUnknown = errors.New("actor: event folded elsewhere; final output unknown")
	// NotApplied and OutcomeUnknown say what a failed call is known to have done:
	// nothing, or perhaps something (an attempt may have been logged).
	NotApplied     = errors.New("actor: not applied")
	OutcomeUnknown = errors.New("actor: outcome unknown: the event may have been logged")
)

// MaybeLogged marks err, a replica's answer to a call, as one given after the replica may
// have logged the call's event: the caller's error is then OutcomeUnknown, never
// NotApplied. Its wire form keeps err's code (a refusal stays one: the caller tries the
// next replica) with Error.maybe_logged set.
func MaybeLogged(err error) error { return &maybeLogged{err} }

type maybeLogged struct{ err error }

func (m *maybeLogged) Error() string   { return OutcomeUnknown.Error() + ": " + m.err.Error() }
func (m *maybeLogged) Unwrap() []error { return []error{OutcomeUnknown, m.err} }

// Rejected is returned when the kind's Apply (or Query) returned an error or panicked:
// the event changed nothing, on any replica.
type Rejected struct {
	Msg   string
	Panic bool
}

func (e *Rejected) Error() string {
	if e.Panic {
		return "actor: rejected (apply panicked): " + e.Msg
	}
	return "actor: rejected: " + e.Msg
}

// ToWire turns an error into its wire form.
func ToWire(err error) *wire.Error {
	if err == nil {
		return nil
	}
	if m := (*maybeLogged)(nil); errors.As(err, &m) {
		e := toWire(m.err)
		e.MaybeLogged = true
		return e
	}
	return toWire(err)
}

func toWire(err error) *wire.Error {
	code := wire.Code_INTERNAL
	var rej *Rejected
	switch {
	case errors.As(err, &rej):
		code = wire.Code_REJECTED
		if rej.Panic {
			return &wire.Error{Code: code, Message: "panic:" + rej.Msg}
		}
		return &wire.Error{Code: code, Message: rej.Msg}
	case errors.Is(err, UnknownKind):
		code = wire.Code_UNKNOWN_KIND
	case errors.Is(err, BadPayload), errors.Is(err, wire.ErrMalformed):
		code = wire.Code_BAD_PAYLOAD
	case errors.Is(err, TooLarge):
		code = wire.Code_TOO_LARGE
	case errors.Is(err, Stopped):
		code = wire.Code_STOPPED
	case errors.Is(err, NotReplica):
		code = wire.Code_NOT_REPLICA
	case errors.Is(err, OutputUnknown):
		code = wire.Code_OUTPUT_UNKNOWN
	case errors.Is(err, Unavailable):
		code = wire.Code_TIMEOUT
	}
	return &wire.Error{Code: code, Message: err.Error()}
}

// FromWire turns a wire error back into one callers can branch on.
func FromWire(e *wire.Error) error {
	if e == nil || e.Code == wire.Code_OK {
		return nil
	}
	err := fromWire(e)
	if e.MaybeLogged {
		return MaybeLogged(err)
	}
	return err
}

func fromWire(e *wire.Error) error {
	switch e.Code {
	case wire.Code_REJECTED:
		if msg, ok := strings.CutPrefix(e.Message, "panic:"); ok {
			return &Rejected{Msg: msg, Panic: true}
		}
		return &Rejected{Msg: e.Message}
	case wire.Code_UNKNOWN_KIND:
		return fmt.Errorf("%w: %s", UnknownKind, e.Message)
	case wire.Code_BAD_PAYLOAD:
		return fmt.Errorf("%w: %s", BadPayload, e.Message)
	case wire.Code_TOO_LARGE:
		return fmt.Errorf("%w: %s", TooLarge, e.Message)
	case wire.Code_STOPPED:
		return fmt.Errorf("%w: %s", Stopped, e.Message)
	case wire.Code_NOT_REPLICA:
		return fmt.Errorf("%w: %s", NotReplica, e.Message)
	case wire.Code_OUTPUT_UNKNOWN:
		return fmt.Errorf("%w: %s", OutputUnknown, e.Message)
	case wire.Code_TIMEOUT:
		return fmt.Errorf("%w: %s", Unavailable, e.Message)
	}
	return fmt.Errorf("actor: remote error: %s", e.Message)
}
