package actor

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// A node's logs are rate-limited by message: a node with thousands of replicas repeats
// the same line (a replica handing off, a refused replication message) once per
// partition, and a graceful stop of three idle nodes printed hundreds. The node's
// logger passes the first Config.LogRepeats records (default logBurst) of each level and
// message in a logWindow,
// counts the others, and reports the count as one line ("log lines suppressed", with the
// message, level and count) once the window is over: at the next record with that
// message, at the node's next membership sweep (Config.GCInterval), or when it stops.
// Debug records are never limited: a logger that enables them asked for everything.
// Proto.Actor's own lines at Info (its remoting's connections opening and closing) are
// logged at Debug.
const (
	logBurst  = 5
	logWindow = 10 * time.Second
	// logKeys bounds the messages the limiter tracks; past them records pass unlimited
	// (messages are constants: a few hundred at most).
	logKeys = 4096
)

// limiter is the state a limitedHandler and the handlers derived from it share.
type limiter struct {
	now   func() time.Time
	inner slog.Handler // the handler summaries go to (without the derived attributes)
	burst int
	mu    sync.Mutex
	keys  map[logKey]*logCount
}

type logKey struct {
	level slog.Level
	msg   string
}

type logCount struct {
	start      time.Time // of the current window
	passed     int
	suppressed int
}

// newLimiter limits records to burst per key and window (negative: no limit).
func newLimiter(h slog.Handler, now func() time.Time, burst int) *limiter {
	return &limiter{now: now, inner: h, burst: burst, keys: map[logKey]*logCount{}}
}

// admit reports whether a record of key may be logged now; due is the suppressed count of
// key's last window, if that window is over (to report before the record).
func (l *limiter) admit(k logKey, now time.Time) (ok bool, due int) {
	if l.burst < 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.keys[k]
	if c == nil {
		if len(l.keys) >= logKeys {
			return true, 0
		}
		c = &logCount{start: now}
		l.keys[k] = c
	}
	if now.Sub(c.start) >= logWindow {
		due = c.suppressed
		*c = logCount{start: now}
	}
	if c.passed < l.burst {
		c.passed++
		return true, due
	}
	c.suppressed++
	return false, due
}

// flush reports the suppressed counts of the windows that are over (all, if all is set),
// and forgets the keys that had nothing suppressed in them.
func (l *limiter) flush(all bool) {
	now := l.now()
	type due struct {
		k logKey
		n int
	}
	var out []due
	l.mu.Lock()
	for k, c := range l.keys {
		if !all && now.Sub(c.start) < logWindow {
			continue
		}
		if c.suppressed > 0 {
			out = append(out, due{k, c.suppressed})
		}
		delete(l.keys, k)
	}
	l.mu.Unlock()
	for _, d := range out {
		l.report(context.Background(), d.k, d.n, now)
	}
}

func (l *limiter) report(ctx context.Context, k logKey, n int, now time.Time) {
	if !l.inner.Enabled(ctx, k.level) {
		return
	}
	r := slog.NewRecord(now, k.level, "log lines suppressed", 0)
	r.AddAttrs(slog.String("message", k.msg), slog.Int("count", n), slog.Duration("window", logWindow))
	l.inner.Handle(ctx, r)
}

// limitedHandler is a slog.Handler that rate-limits inner's records (see limiter).
type limitedHandler struct {
	inner slog.Handler
	lim   *limiter
	// quiet: the handler of Proto.Actor's logs, whose Info records are logged at Debug.
	quiet bool
}

func (h *limitedHandler) Enabled(ctx context.Context, level slog.Level) bool {
	if h.quiet && level == slog.LevelInfo {
		level = slog.LevelDebug
	}
	return h.inner.Enabled(ctx, level)
}

func (h *limitedHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.quiet && r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	if r.Level <= slog.LevelDebug {
		return h.inner.Handle(ctx, r)
	}
	k := logKey{r.Level, r.Message}
	ok, due := h.lim.admit(k, h.lim.now())
	if due > 0 {
		h.lim.report(ctx, k, due, r.Time)
	}
	if !ok {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

func (h *limitedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &limitedHandler{inner: h.inner.WithAttrs(as), lim: h.lim, quiet: h.quiet}
}

func (h *limitedHandler) WithGroup(name string) slog.Handler {
	return &limitedHandler{inner: h.inner.WithGroup(name), lim: h.lim, quiet: h.quiet}
}
