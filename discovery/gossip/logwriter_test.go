package gossip

import (
	"context"
	"log/slog"
	"sync"
	"testing"
)

type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func TestMemberlistLogger(t *testing.T) {
	rec := &recorder{}
	l := newMemberlistLogger(slog.New(rec))
	l.Printf("[DEBUG] memberlist: Stream connection from=127.0.0.1:1")
	l.Printf("[WARN] memberlist: Was able to connect to x over TCP but UDP probes failed")
	l.Printf("[ERR] memberlist: Failed to send")
	l.Printf("no level")
	want := []struct {
		level slog.Level
		line  string
	}{
		{slog.LevelDebug, "Stream connection from=127.0.0.1:1"},
		{slog.LevelWarn, "Was able to connect to x over TCP but UDP probes failed"},
		{slog.LevelError, "Failed to send"},
		{slog.LevelInfo, "no level"},
	}
	if len(rec.records) != len(want) {
		t.Fatalf("%d records, want %d", len(rec.records), len(want))
	}
	for i, r := range rec.records {
		var line string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "line" {
				line = a.Value.String()
			}
			return true
		})
		if r.Level != want[i].level || line != want[i].line || r.Message != "memberlist" {
			t.Errorf("record %d: %v %q %q, want %v %q", i, r.Level, r.Message, line, want[i].level, want[i].line)
		}
	}
}
