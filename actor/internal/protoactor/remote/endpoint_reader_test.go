package remote

import (
	"log/slog"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/protoactor/actor"
)

// A Legion test (the fork carries none of upstream's): whatever bytes arrive as a
// MessageBatch, the endpoint reader neither panics nor fails the stream, and it delivers
// only user messages to local actors.

// sink counts the user messages it receives; lifecycle ones are the actor's own.
type sink struct{ got *atomic.Int64 }

func (s sink) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
	default:
		s.got.Add(1)
	}
}

func newTestReader(t testing.TB) (*endpointReader, *actor.PID, *atomic.Int64) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	t.Cleanup(sys.Shutdown)
	got := &atomic.Int64{}
	pid, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return sink{got} }), "sink")
	if err != nil {
		t.Fatal(err)
	}
	return newEndpointReader(NewRemote(sys, Configure("127.0.0.1", 0))), pid, got
}

func seedBatches(local *actor.PID) []*MessageBatch {
	data, _ := proto.Marshal(wrapperspb.Int64(7))
	types := []string{"google.protobuf.Int64Value", "actor.PoisonPill", "actor.Terminated", "no.such.Type"}
	other := &actor.PID{Address: "127.0.0.1:1", Id: "sink"}
	return []*MessageBatch{
		{TypeNames: types, Targets: []*actor.PID{local}, Envelopes: []*MessageEnvelope{{MessageData: data}}},
		{TypeNames: types, Targets: []*actor.PID{local, other}, Senders: []*actor.PID{other},
			Envelopes: []*MessageEnvelope{{MessageData: data, Sender: 1, TargetRequestId: 3}, {Target: 1, TypeId: 1},
				{TypeId: 2}, {TypeId: 3}, {Target: 2}, {Sender: 2}, {SerializerId: 1, MessageData: []byte("{}")}}},
		{Envelopes: []*MessageEnvelope{{}}},
	}
}

func TestMessageBatchDeliversOnlyGoodEnvelopes(t *testing.T) {
	r, local, got := newTestReader(t)
	for _, b := range seedBatches(local) {
		if err := r.onMessageBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	// The first batch's envelope, and the second's first: each holds an Int64Value for
	// the local sink. The JSON one decodes to a JsonMessage, also a user message.
	stop := r.remote.actorSystem.Root.PoisonFuture(local) // after the user messages before it
	if err := stop.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := got.Load(); n != 3 {
		t.Fatalf("sink received %d messages, want 3", n)
	}
}

func FuzzMessageBatch(f *testing.F) {
	r, local, _ := newTestReader(f)
	for _, b := range seedBatches(local) {
		data, err := proto.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m MessageBatch
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		if err := r.onMessageBatch(&m); err != nil {
			t.Fatal(err)
		}
	})
}
