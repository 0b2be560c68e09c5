package actor

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// CallOption adjusts one call (Ref.Call, KindRef.Call). Options are variadic so that a
// call without any reads as before, and new ones can be added without breaking callers.
type CallOption func(*callOptions)

type callOptions struct {
	req    string // the request key, if reqSet
	reqSet bool
}

// MaxRequestKeyBytes bounds a caller-supplied request key, in bytes (it travels in every
// attempt and every replication of the event, and is stored with it).
const MaxRequestKeyBytes = 256

// ErrInvalidRequestKey: a request key given with WithRequestKey is empty, not UTF-8, or
// longer than MaxRequestKeyBytes. Call returns it before sending anything.
var ErrInvalidRequestKey = errors.New("actor: invalid request key")

// WithRequestKey makes the call carry the caller's request key instead of a random one,
// so that a caller that retries a call whose outcome it does not know (an HTTP client
// after a timeout or a 503, a queue consumer after a crash) gets it applied once: the
// partition treats a later event with the same key as a duplicate of the first, and
// answers it with the first's output (or ErrOutputUnknown when the answering replica no
// longer knows it). A key needs to be unique within its partition only; keys drawn by
// Call itself never collide with the caller's.
//
// The dedup horizon: a key is recognised while its event is pending at the replica asked
// and, once it folded, for 10 minutes of event time (lattice.DefaultDedupHorizon) as long
// as the requests folded after it take at most 8 KiB (lattice.DefaultDedupBytes, about
// 200 of the runtime's own keys); every replica remembers them and stores them with the
// partition (so it survives failover to another replica and restarts); around an
// ejection a replica also holds the keys it folds for some thousands of folds more
// (lattice/held.go). A retry past that horizon is applied again. See docs/calls.md.
func WithRequestKey(key string) CallOption {
	return func(o *callOptions) { o.req, o.reqSet = key, true }
}

// userReqPrefix starts every caller-supplied request key on the wire: random keys are hex,
// a renegade's derived ones start "renegade/", so none can equal a caller's.
const userReqPrefix = "k/"

// callOptionsOf applies opts and returns the request key the call carries on every
// attempt.
func callOptionsOf(opts []CallOption) (req string, err error) {
	var o callOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	switch {
	case !o.reqSet:
		return randomHex(12), nil
	case o.req == "": // a mistake (an unset header passed on), not "draw one"
		return "", fmt.Errorf("%w: empty", ErrInvalidRequestKey)
	case len(o.req) > MaxRequestKeyBytes:
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidRequestKey, len(o.req), MaxRequestKeyBytes)
	case !utf8.ValidString(o.req):
		return "", fmt.Errorf("%w: %.40q is not UTF-8", ErrInvalidRequestKey, o.req)
	}
	return userReqPrefix + o.req, nil
}
