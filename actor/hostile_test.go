package actor

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"
	"github.com/legion-go/legion/actor/internal/protoactor/remote"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/discovery/memory"
)

// pair starts two nodes hosting plusKind with R = 2 on one in-memory registry (returned),
// the first logging to logs, and waits until each sees both. Both stop when the test ends.
func pair(t *testing.T, logs *logCounts, configure func(i int, c *Config)) (a, b *Node, reg *memory.Registry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg = memory.NewRegistry()
	nodes := make([]*Node, 2)
	for i := range nodes {
		cfg := Config{Name: fmt.Sprintf("n%d", i), Membership: reg.Provider(), Kinds: []KindSpec{plusKind},
			ReplicationFactor: 2, AttemptTimeout: time.Second}
		if i == 0 {
			cfg.Logger = slog.New(logs)
			cfg.LogRepeats = -1 // the tests count every line
		}
		if configure != nil {
			configure(i, &cfg)
		}
		n, err := Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n.Stop(ctx)
		})
		nodes[i] = n
	}
	for _, n := range nodes {
		if err := n.WaitForMembers(ctx, "plus", 2); err != nil {
			t.Fatal(err)
		}
	}
	return nodes[0], nodes[1], reg
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // polling, not waiting for a state
	}
}

// TestHostileRemoting sends what killed a node (issue #18) to a live node's remoting port
// over real gRPC: the two methods that panicked "implement me", message batches whose
// envelopes name targets, senders, types or serializers out of range, unknown types,
// lifecycle messages (PoisonPill, Stop, Terminated) for the node's router, targets on
// other addresses, and garbage. After each, the node still serves consistent calls made
// from the other node (both directions of remoting), and the valid envelope of a mixed
// batch is delivered. On the code before the fork's patches the first request killed
// the test binary.
func TestHostileRemoting(t *testing.T) {
	logs := &logCounts{n: map[string]int{}}
	a, b, _ := pair(t, logs, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var want int64
	serves := func(step string) {
		t.Helper()
		want++
		out, err := RefOf(b, plusKind, "k").Call(ctx, wrapperspb.Int64(1), Consistent)
		if err != nil || out.Value != want {
			t.Fatalf("%s: consistent call from the other node: %v, %v (want %d)", step, out, err, want)
		}
		got, err := RefOf(b, plusKind, "k").QueryReplica(ctx, a.Peer(), &wrapperspb.Int64Value{}, Stable)
		if err != nil || got.Value != want {
			t.Fatalf("%s: query of the attacked node's replica: %v, %v (want %d)", step, got, err, want)
		}
	}
	serves("before")

	conn, err := grpc.Dial(a.Address(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := remote.NewRemotingClient(conn)
	if _, err := client.ListProcesses(ctx, &remote.ListProcessesRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("ListProcesses: %v, want Unimplemented", err)
	}
	if _, err := client.GetProcessDiagnostics(ctx, &remote.GetProcessDiagnosticsRequest{Pid: &pa.PID{}}); status.Code(err) != codes.Unimplemented {
		t.Errorf("GetProcessDiagnostics: %v, want Unimplemented", err)
	}
	serves("after the unimplemented methods")

	router := &pa.PID{Address: a.Address(), Id: routerName}
	bytesOf := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	stray := bytesOf(&wire.Replicate{To: &wire.Target{Kind: "nope", Key: "k", Peer: string(a.Peer())}, From: "x~1"})
	one := func(e *remote.MessageEnvelope, types ...string) *remote.MessageBatch {
		if types == nil {
			types = []string{"legion.wire.Replicate"}
		}
		return &remote.MessageBatch{TypeNames: types, Targets: []*pa.PID{router}, Envelopes: []*remote.MessageEnvelope{e}}
	}
	batches := []struct {
		name  string
		batch *remote.MessageBatch
	}{
		{"target out of range", one(&remote.MessageEnvelope{Target: 5, MessageData: stray})},
		{"negative target", one(&remote.MessageEnvelope{Target: -1, MessageData: stray})},
		{"no targets", &remote.MessageBatch{TypeNames: []string{"legion.wire.Replicate"}, Envelopes: []*remote.MessageEnvelope{{}}}},
		{"sender out of range", one(&remote.MessageEnvelope{Sender: 9, MessageData: stray})},
		{"negative sender", one(&remote.MessageEnvelope{Sender: -3, MessageData: stray})},
		{"type out of range", one(&remote.MessageEnvelope{TypeId: 7, MessageData: stray})},
		{"negative type", one(&remote.MessageEnvelope{TypeId: -1, MessageData: stray})},
		{"no types", &remote.MessageBatch{Targets: []*pa.PID{router}, Envelopes: []*remote.MessageEnvelope{{}}}},
		{"serializer out of range", one(&remote.MessageEnvelope{SerializerId: 42, MessageData: stray})},
		{"negative serializer", one(&remote.MessageEnvelope{SerializerId: -1, MessageData: stray})},
		{"unknown type", one(&remote.MessageEnvelope{MessageData: stray}, "no.such.Type")},
		{"undecodable data", one(&remote.MessageEnvelope{MessageData: []byte{0x0a, 0xff}})},
		{"poison pill for the router", one(&remote.MessageEnvelope{}, "actor.PoisonPill")},
		{"stop for the router", one(&remote.MessageEnvelope{}, "actor.Stop")},
		{"terminated without who", one(&remote.MessageEnvelope{}, "actor.Terminated")},
		{"terminated elsewhere", one(&remote.MessageEnvelope{MessageData: bytesOf(&pa.Terminated{
			Who: &pa.PID{Address: "127.0.0.1:1", Id: "x"}})}, "actor.Terminated")},
		{"watch for the router", one(&remote.MessageEnvelope{MessageData: bytesOf(&pa.Watch{})}, "actor.Watch")},
		{"target on another address", &remote.MessageBatch{TypeNames: []string{"legion.wire.Replicate"},
			Targets: []*pa.PID{{Address: "127.0.0.1:1", Id: routerName}}, Envelopes: []*remote.MessageEnvelope{{MessageData: stray}}}},
		{"mixed", &remote.MessageBatch{TypeNames: []string{"legion.wire.Replicate"}, Targets: []*pa.PID{router},
			Envelopes: []*remote.MessageEnvelope{{Target: 3}, {MessageData: stray}, {TypeId: 2}}}},
	}
	for i, c := range batches {
		stream, err := client.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		connect := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
			ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "hostile", Address: "127.0.0.1:1"}}}}}
		if err := stream.Send(connect); err != nil {
			t.Fatalf("%s: connect: %v", c.name, err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatalf("%s: connect response: %v", c.name, err)
		}
		if err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: c.batch}}); err != nil {
			t.Fatalf("%s: send: %v", c.name, err)
		}
		stream.CloseSend()
		eventually(t, 10*time.Second, func() error {
			if got := logs.count("EndpointReader dropped messages"); got != i+1 {
				return fmt.Errorf("%s: %d batches logged as dropped, want %d", c.name, got, i+1)
			}
			return nil
		})
		serves(c.name)
	}
	// The mixed batch's valid envelope reached the router, which dropped its message.
	eventually(t, 10*time.Second, func() error {
		if got := logs.count("replication message dropped"); got != 1 {
			return fmt.Errorf("the mixed batch's valid message: logged %d times by the router, want 1", got)
		}
		return nil
	})

	// Garbage where a RemoteMessage belongs: the stream fails, the node does not.
	rng := rand.New(rand.NewPCG(18, 1))
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	for i := range 20 {
		junk := make([]byte, rng.IntN(200))
		for j := range junk {
			junk[j] = byte(rng.UintN(256))
		}
		stream, err := conn.NewStream(ctx, desc, "/remote.Remoting/Receive", grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.SendMsg(junk); err != nil {
			t.Fatalf("junk %d: %v", i, err)
		}
		stream.CloseSend()
		var reply []byte
		for stream.RecvMsg(&reply) == nil { // until the server ends the stream
		}
	}
	serves("after garbage")
	if p, ok := a.system.ProcessRegistry.GetLocal(routerName); !ok || p == nil {
		t.Fatal("the router is gone")
	}
}

// rawCodec sends and receives gRPC messages as the bytes they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T", v)
	}
	return b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T", v)
	}
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "raw" }
