package actor

import (
	"errors"
	"fmt"

	"github.com/legion-go/legion/actor/internal/wire"
)

// Errors callers branch on (with errors.Is).
var (
	// ErrUnknownKind: the kind is not registered on the node that was asked.
	ErrUnknownKind = errors.New("actor: unknown kind")
	// ErrBadPayload: an event, query or message did not decode.
	ErrBadPayload = errors.New("actor: undecodable payload")
	// ErrTooLarge: an event or query is over Config.MaxPayloadBytes.
	ErrTooLarge = errors.New("actor: payload too large")
	// ErrStopped: the node is stopped (or stopping).
	ErrStopped = errors.New("actor: node stopped")
	// ErrUnavailable: no replica of the partition answered in time.
	ErrUnavailable = errors.New("actor: no replica answered")
	// ErrNoReplicas: membership knows no live node hosting the kind.
	ErrNoReplicas = errors.New("actor: no live node hosts the kind")
	// ErrNotReplica: the node asked is not (or no longer) a replica of the partition;
	// callers try the next replica.
	ErrNotReplica = errors.New("actor: not a replica of the partition")
	// ErrOutputUnknown: a consistent call's event was folded by another replica whose
	// history this replica took over wholesale, so its final output is not known here.
	ErrOutputUnknown = errors.New("actor: event folded elsewhere; final output unknown")
)

// RejectedError is returned when the kind's Apply (or Query) returned an error or
// panicked: the event changed nothing, on any replica.
type RejectedError struct {
	Msg   string
	Panic bool
}

func (e *RejectedError) Error() string {
	if e.Panic {
		return "actor: rejected (apply panicked): " + e.Msg
	}
	return "actor: rejected: " + e.Msg
}

// toWire turns an error into its wire form.
func toWire(err error) *wire.Error {
	if err == nil {
		return nil
	}
	code := wire.Code_INTERNAL
	var rej *RejectedError
	switch {
	case errors.As(err, &rej):
		code = wire.Code_REJECTED
		if rej.Panic {
			return &wire.Error{Code: code, Message: "panic:" + rej.Msg}
		}
		return &wire.Error{Code: code, Message: rej.Msg}
	case errors.Is(err, ErrUnknownKind):
		code = wire.Code_UNKNOWN_KIND
	case errors.Is(err, ErrBadPayload), errors.Is(err, wire.ErrMalformed):
		code = wire.Code_BAD_PAYLOAD
	case errors.Is(err, ErrTooLarge):
		code = wire.Code_TOO_LARGE
	case errors.Is(err, ErrStopped):
		code = wire.Code_STOPPED
	case errors.Is(err, ErrNotReplica):
		code = wire.Code_NOT_REPLICA
	case errors.Is(err, ErrOutputUnknown):
		code = wire.Code_OUTPUT_UNKNOWN
	case errors.Is(err, ErrUnavailable):
		code = wire.Code_TIMEOUT
	}
	return &wire.Error{Code: code, Message: err.Error()}
}

// fromWire turns a wire error back into one callers can branch on.
func fromWire(e *wire.Error) error {
	if e == nil || e.Code == wire.Code_OK {
		return nil
	}
	switch e.Code {
	case wire.Code_REJECTED:
		if msg, ok := cutPrefix(e.Message, "panic:"); ok {
			return &RejectedError{Msg: msg, Panic: true}
		}
		return &RejectedError{Msg: e.Message}
	case wire.Code_UNKNOWN_KIND:
		return fmt.Errorf("%w: %s", ErrUnknownKind, e.Message)
	case wire.Code_BAD_PAYLOAD:
		return fmt.Errorf("%w: %s", ErrBadPayload, e.Message)
	case wire.Code_TOO_LARGE:
		return fmt.Errorf("%w: %s", ErrTooLarge, e.Message)
	case wire.Code_STOPPED:
		return fmt.Errorf("%w: %s", ErrStopped, e.Message)
	case wire.Code_NOT_REPLICA:
		return fmt.Errorf("%w: %s", ErrNotReplica, e.Message)
	case wire.Code_OUTPUT_UNKNOWN:
		return fmt.Errorf("%w: %s", ErrOutputUnknown, e.Message)
	case wire.Code_TIMEOUT:
		return fmt.Errorf("%w: %s", ErrUnavailable, e.Message)
	}
	return fmt.Errorf("actor: remote error: %s", e.Message)
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}
