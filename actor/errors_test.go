package actor

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestJoinErrorsOneLine: the errors a failed call returns are one line (a log line or an
// HTTP body stays whole), and callers still branch on each part.
func TestJoinErrorsOneLine(t *testing.T) {
	err := joinErrors(ErrUnavailable, context.DeadlineExceeded, nil, errNoReply)
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%q: more than one line", err)
	}
	for _, want := range []error{ErrUnavailable, context.DeadlineExceeded, errNoReply} {
		if !errors.Is(err, want) {
			t.Errorf("%q is not %q", err, want)
		}
	}
	if want := ErrUnavailable.Error() + ": " + context.DeadlineExceeded.Error() + ": " + errNoReply.Error(); err.Error() != want {
		t.Errorf("%q, want %q", err, want)
	}
	if joinErrors(nil, nil) != nil {
		t.Error("joinErrors of nils is not nil")
	}
}
