package actor

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLogLimiter: past logBurst records of one level and message in a window the others
// are counted, and the count is reported once the window is over (at the next record, or
// at a flush); other messages, and Debug records, are not limited; Proto.Actor's Info
// records go to Debug.
func TestLogLimiter(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	inner := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})
	lim := newLimiter(inner, func() time.Time { return now }, logBurst)
	log := slog.New(&limitedHandler{inner: inner, lim: lim}).With("node", "n1")
	for i := range 3 * logBurst {
		log.Warn("replication message dropped", "i", i)
		log.Debug("a debug line", "i", i)
	}
	log.Warn("another message")
	now = now.Add(logWindow)
	log.Warn("replication message dropped", "i", "late")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	count := func(sub string) int {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, sub) {
				n++
			}
		}
		return n
	}
	if got := count(`msg="replication message dropped"`); got != logBurst+1 {
		t.Errorf("%d dropped lines, want the %d of the first window and the late one:\n%s", got, logBurst, buf.String())
	}
	if got := count(`msg="a debug line"`); got != 3*logBurst {
		t.Errorf("%d debug lines, want all %d", got, 3*logBurst)
	}
	want := fmt.Sprintf(`level=WARN msg="log lines suppressed" message="replication message dropped" count=%d window=10s`, 2*logBurst)
	if count(want) != 1 || count("another message") != 1 {
		t.Errorf("want one %q and one other message, got:\n%s", want, buf.String())
	}

	// A window that ends with no later record is reported by flush.
	buf.Reset()
	for range logBurst + 3 {
		log.Error("store failed")
	}
	lim.flush(false)
	if strings.Contains(buf.String(), "suppressed") {
		t.Errorf("flush reported a window not over yet:\n%s", buf.String())
	}
	now = now.Add(logWindow)
	lim.flush(false)
	if !strings.Contains(buf.String(), `level=ERROR msg="log lines suppressed" message="store failed" count=3`) {
		t.Errorf("flush after the window did not report 3 suppressed:\n%s", buf.String())
	}

	buf.Reset()
	pa := slog.New(&limitedHandler{inner: inner, lim: lim, quiet: true})
	pa.Info("EndpointReader is closing")
	if !strings.Contains(buf.String(), "level=DEBUG") {
		t.Errorf("Proto.Actor's Info line not at Debug: %s", buf.String())
	}
}
