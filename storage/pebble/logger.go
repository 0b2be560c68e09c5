package pebblestore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleLogger routes pebble's logs to slog: message "pebble", the formatted
// text under key "text". Infof logs at Info, Errorf at Error.
//
// Fatalf is how pebble reports a state it cannot continue from (a failed
// MANIFEST write, a broken invariant): it logs at Error, then fails the store
// and halts the calling goroutine, as pebble requires it not to return.
// Panicking instead would unwind pebble's stack past its locks (see failure).
// After a failed fsync the process cannot know what is durable, so it must
// not go on acknowledging writes (see docs/storage.md).
type pebbleLogger struct {
	l      *slog.Logger
	failed *failure
}

var _ pebble.Logger = pebbleLogger{}

func (p pebbleLogger) log(level slog.Level, format string, args []any) string {
	text := strings.TrimSpace(fmt.Sprintf(format, args...))
	p.l.Log(context.Background(), level, "pebble", "text", text)
	return text
}

func (p pebbleLogger) Infof(format string, args ...any)  { p.log(slog.LevelInfo, format, args) }
func (p pebbleLogger) Errorf(format string, args ...any) { p.log(slog.LevelError, format, args) }

func (p pebbleLogger) Fatalf(format string, args ...any) {
	text := p.log(slog.LevelError, format, args)
	p.failed.halt(newFatalError(text, args))
}

// eventListener logs the pebble events an operator should see. Without it,
// pebble would call Fatalf on a corrupt block found by a read; the read
// returns an error wrapping storage.ErrCorrupt instead, and the event is
// logged.
func eventListener(l *slog.Logger) *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			l.Error("pebble background error", "err", err)
		},
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			l.Error("pebble data corruption", "path", info.Path, "err", info.Details)
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			l.Warn("pebble write stall begin", "reason", info.Reason)
		},
		WriteStallEnd: func() {
			l.Info("pebble write stall end")
		},
	}
}
