package discoverytest

import (
	"strings"
	"testing"
	"time"
)

func TestLeakedSince(t *testing.T) {
	before := snapshot()
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-release
	}()
	extra := leakedSince(before, nil, 50*time.Millisecond)
	if len(extra) != 1 || !strings.Contains(extra[0].stack, "TestLeakedSince") {
		t.Fatalf("leakedSince found %d goroutines, want the blocked one: %v", len(extra), extra)
	}
	if got := leakedSince(before, []string{"TestLeakedSince"}, 0); len(got) != 0 {
		t.Errorf("ignored goroutine reported: %v", got)
	}
	close(release)
	<-done
	if got := leakedSince(before, nil, 5*time.Second); len(got) != 0 {
		t.Errorf("exited goroutine reported: %v", got)
	}
}

func TestLogCounts(t *testing.T) {
	l := NewLog(t)
	log := l.Logger().With("k", "v")
	log.Warn("register failed; retrying")
	log.Info("register failed; retrying")
	log.Debug("other")
	if n := l.Count("register failed"); n != 2 {
		t.Errorf("Count = %d, want 2", n)
	}
}
