package discoverytest

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// leakWait bounds how long goroutines may take to exit after a case ended.
const leakWait = 10 * time.Second

// checkLeaks records the goroutines alive now and, when t's cleanups run
// (after those registered later), fails t if new goroutines are still alive
// after polling for leakWait. Stacks containing one of ignore are skipped.
func checkLeaks(t *testing.T, ignore []string) {
	before := snapshot()
	t.Cleanup(func() {
		for _, g := range leakedSince(before, ignore, leakWait) {
			t.Errorf("leaked goroutine:\n%s", g.stack)
		}
	})
}

// snapshot returns the IDs of the goroutines alive now.
func snapshot() map[int]bool {
	ids := make(map[int]bool)
	for _, g := range goroutines() {
		ids[g.id] = true
	}
	return ids
}

// leakedSince polls for up to wait until no goroutine outside before (and
// not ignored) is alive, and returns those still alive then.
func leakedSince(before map[int]bool, ignore []string, wait time.Duration) []goroutine {
	deadline := time.Now().Add(wait)
	for {
		var extra []goroutine
		for _, g := range goroutines() {
			if !before[g.id] && !ignored(g.stack, ignore) {
				extra = append(extra, g)
			}
		}
		if len(extra) == 0 || time.Now().After(deadline) {
			return extra
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

type goroutine struct {
	id    int
	stack string
}

// goroutines parses the stacks of every goroutine but the caller.
func goroutines() []goroutine {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for i, block := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the calling goroutine
		}
		s := string(block)
		rest, ok := strings.CutPrefix(s, "goroutine ")
		if !ok {
			continue
		}
		idStr, _, _ := strings.Cut(rest, " ")
		id, err := strconv.Atoi(idStr)
		if err != nil {
			continue
		}
		out = append(out, goroutine{id: id, stack: s})
	}
	return out
}

// harness lists goroutines of the Go runtime and testing package that may
// appear during a case without being anyone's leak.
var harness = []string{
	"os/signal.signal_recv", // started lazily by os/signal
	"runtime.ensureSigM",    // idem
	"runtime/pprof.profileWriter",
}

func ignored(stack string, ignore []string) bool {
	for _, s := range harness {
		if strings.Contains(stack, s) {
			return true
		}
	}
	for _, s := range ignore {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}
