package errs

import (
	"errors"
	"testing"
)

// TestMaybeLoggedWire: a replica's answer marked maybe logged reaches the caller as the
// same error (a refusal stays one) that is also OutcomeUnknown, with its message once; an
// unmarked one is not OutcomeUnknown.
func TestMaybeLoggedWire(t *testing.T) {
	for _, base := range []error{Unavailable, Stopped, NotReplica} {
		w := ToWire(MaybeLogged(base))
		if !w.GetMaybeLogged() || w.GetMessage() != base.Error() {
			t.Fatalf("ToWire(MaybeLogged(%v)) = %v", base, w)
		}
		got := FromWire(w)
		if !errors.Is(got, base) || !errors.Is(got, OutcomeUnknown) {
			t.Fatalf("FromWire(%v) = %v: want %v and OutcomeUnknown", w, got, base)
		}
		if want := OutcomeUnknown.Error() + ": " + base.Error() + ": " + base.Error(); got.Error() != want {
			t.Errorf("FromWire(%v) = %q, want %q", w, got, want)
		}
		plain := FromWire(ToWire(base))
		if !errors.Is(plain, base) || errors.Is(plain, OutcomeUnknown) || ToWire(base).GetMaybeLogged() {
			t.Fatalf("%v, unmarked, came back as %v", base, plain)
		}
	}
}
