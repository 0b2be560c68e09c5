package discoverytest

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// Log is a slog destination for the providers of one test: it keeps every
// record in memory, prints them through t.Logf if the test failed (or always
// when LEGION_TEST_LOG=1), and counts messages so that a test can wait for
// evidence that something happened (say, a failed retry). Records written
// after the test ended are kept but not printed.
type Log struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	counts map[string]int
}

// NewLog returns a Log whose contents t prints when it ends.
func NewLog(t testing.TB) *Log {
	l := &Log{counts: make(map[string]int)}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("LEGION_TEST_LOG") == "1" {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Logf("provider logs:\n%s", l.buf.String())
		}
	})
	return l
}

// Logger returns a debug-level logger writing into l.
func (l *Log) Logger() *slog.Logger {
	return slog.New(&countingHandler{l: l, h: slog.NewTextHandler(lockedWriter{l}, &slog.HandlerOptions{Level: slog.LevelDebug})})
}

// Count returns how many records had a message containing msg.
func (l *Log) Count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for m, c := range l.counts {
		if strings.Contains(m, msg) {
			n += c
		}
	}
	return n
}

type lockedWriter struct{ l *Log }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.buf.Write(p)
}

type countingHandler struct {
	l *Log
	h slog.Handler
}

func (c *countingHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return c.h.Enabled(ctx, lv)
}

func (c *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	c.l.mu.Lock()
	c.l.counts[r.Message]++
	c.l.mu.Unlock()
	return c.h.Handle(ctx, r)
}

func (c *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingHandler{l: c.l, h: c.h.WithAttrs(as)}
}

func (c *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{l: c.l, h: c.h.WithGroup(name)}
}
