package actor

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/lattice"
)

var plusKind = &Kind[*wrapperspb.Int64Value, *wrapperspb.Int64Value, *wrapperspb.Int64Value]{
	Name: "plus",
	Apply: func(s, e *wrapperspb.Int64Value, _ lattice.Meta) (*wrapperspb.Int64Value, *wrapperspb.Int64Value, error) {
		s.Value += e.Value
		return s, wrapperspb.Int64(s.Value), nil
	},
	Query: func(s, _ *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error) { return s, nil },
}

// TestMalformedMessages: undecodable payloads and malformed replication messages get a
// clear error (or are dropped with a log line) and the node keeps serving.
func TestMalformedMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := Start(ctx, Config{Name: "solo", Membership: memory.NewRegistry().Provider(), Kinds: []KindSpec{plusKind}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctx)
	if err := n.WaitForMembers(ctx, "plus", 1); err != nil {
		t.Fatal(err)
	}
	call := func(event []byte) error {
		res, _, err := n.request(ctx, "plus", "k", len(event), func(tg *wire.Target, set []string) proto.Message {
			return &wire.Call{To: tg, Event: event, ReplicaSet: set}
		})
		if err != nil {
			return err
		}
		return fromWire(res.(*wire.CallReply).GetError())
	}
	if err := call([]byte{0x08}); !errors.Is(err, ErrBadPayload) { // a truncated varint
		t.Fatalf("undecodable event: %v", err)
	}
	// Replication messages that do not describe valid deltas are dropped.
	bad := []*wire.Replicate{
		{To: &wire.Target{Kind: "plus", Key: "k", Peer: string(n.peer)}, From: "x~1",
			Body: &wire.Replicate_Diff{Diff: &wire.Diff{Origin: "plus/k", Peers: []string{"x~1"}, Entries: []*wire.DiffEntry{{Counter: 1, Delta: &wire.Delta{Kind: 99}}}}}},
		{To: &wire.Target{Kind: "plus", Key: "k", Peer: string(n.peer)}, From: "x~1",
			Body: &wire.Replicate_Snapshot{Snapshot: &wire.Snapshot{Origin: "plus/other", Infimum: &wire.Infimum{HasBase: true, Participants: []string{"x~1"}}}}},
		{To: &wire.Target{Kind: "nope", Key: "k", Peer: string(n.peer)}},
		{To: nil},
	}
	for _, m := range bad {
		n.system.Root.Send(n.router, m)
	}
	ev, _ := proto.Marshal(wrapperspb.Int64(3))
	if err := call(ev); err != nil {
		t.Fatalf("after malformed messages: %v", err)
	}
	out, err := RefOf(n, plusKind, "k").Call(ctx, wrapperspb.Int64(4), Consistent)
	if err != nil || out.Value != 7 {
		t.Fatalf("consistent call after malformed messages: %v, %v", out, err)
	}
}

// TestMalformedFrame: a batch whose frame does not decode is dropped whole, with a log
// line; one that decodes has its malformed items dropped one by one (by the router, or
// by the replica for a diff that does not apply); the node keeps serving.
func TestMalformedFrame(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	logs := &logCounts{n: map[string]int{}}
	n, err := Start(ctx, Config{Name: "solo", Membership: memory.NewRegistry().Provider(), Kinds: []KindSpec{plusKind},
		Logger: slog.New(logs), LogRepeats: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctx)
	if err := n.WaitForMembers(ctx, "plus", 1); err != nil {
		t.Fatal(err)
	}
	to := &wire.Target{Kind: "plus", Key: "k", Peer: string(n.peer)}
	items := []*wire.Replicate{
		{To: to, From: "x~1", Body: &wire.Replicate_Diff{Diff: &wire.Diff{Origin: "plus/k", Peers: []string{"x~1"},
			Entries: []*wire.DiffEntry{{Counter: 1, Delta: &wire.Delta{Kind: 99}}}}}},
		{To: &wire.Target{Kind: "nope", Key: "k", Peer: string(n.peer)}, From: "x~1"},
		{From: "x~1"},
	}
	frame, err := wire.EncodeFrame(items)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range [][]byte{
		{1, 0xff},                      // a truncated varint
		frame[:len(frame)-1],           // a truncated item
		append(slices.Clone(frame), 0), // a trailing byte
		frame,                          // well formed, with malformed items
	} {
		n.system.Root.Send(n.router, &wire.Batch{Frame: f})
	}
	out, err := RefOf(n, plusKind, "k").Call(ctx, wrapperspb.Int64(4), Consistent)
	if err != nil || out.Value != 4 {
		t.Fatalf("consistent call after malformed frames: %v, %v", out, err)
	}
	// The router handled the batches before the call, and the replica the diff: the log
	// has them.
	for msg, want := range map[string]int{"replication batch dropped": 3, "replication message dropped": 2,
		"replication message rejected": 1} {
		if got := logs.count(msg); got != want {
			t.Errorf("%q logged %d times, want %d (all: %v)", msg, got, want, logs.all())
		}
	}
}

// logCounts is a slog.Handler that counts the records of each message (a node's
// goroutines log concurrently).
type logCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *logCounts) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounts) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCounts) WithGroup(string) slog.Handler            { return l }

func (l *logCounts) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Message]++
	return nil
}

func (l *logCounts) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}

func (l *logCounts) all() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.n)
}
