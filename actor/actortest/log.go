package actortest

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// logSink writes log lines to a test's log until the test's cleanup closes it: the nodes'
// goroutines (and Proto.Actor's) may log after the test is over, when t.Log panics.
type logSink struct {
	t      testing.TB
	mu     sync.Mutex
	closed bool
}

// newLogSink returns a sink for t, closed by a cleanup of t: register it before the
// cleanups that stop the nodes, so that it closes after them (cleanups run last first).
func newLogSink(t testing.TB) *logSink {
	s := &logSink{t: t}
	t.Cleanup(s.close)
	return s
}

func (s *logSink) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// write logs one line, unless the sink is closed. The lock is held across t.Log, so that
// no line is being written when close returns.
func (s *logSink) write(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.t.Log(line)
	}
}

// logger returns a logger of records at level and above, written as text to the sink,
// each line prefixed with name.
func (s *logSink) logger(name string, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(lineWriter{s, name}, &slog.HandlerOptions{Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05.000"))
			}
			return a
		}}))
}

// lineWriter receives one record per Write from slog's text handler.
type lineWriter struct {
	sink *logSink
	name string
}

func (w lineWriter) Write(p []byte) (int, error) {
	w.sink.write(w.name + ": " + strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// Logger returns a logger that writes to t's log, like the nodes' (each line prefixed
// with name, at level and above), and drops what is logged once the test is over (where
// t.Log would panic): for what a test starts beside the cluster, such as a store.
func Logger(t testing.TB, name string, level slog.Level) *slog.Logger {
	return newLogSink(t).logger(name, level)
}
