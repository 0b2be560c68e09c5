package remote

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/protoactor/actor"
)

// A Legion test: the endpoint writer sends what its mailbox gathered in gRPC messages
// below Config.MaxMessageBytes, and drops alone a message that cannot fit in one.

// capture is a stream that keeps what the writer sends.
type capture struct {
	Remoting_ReceiveClient
	sent []*MessageBatch
}

func (c *capture) Send(m *RemoteMessage) error {
	c.sent = append(c.sent, m.GetMessageBatch())
	return nil
}

func TestSendEnvelopesSplitsBySize(t *testing.T) {
	r, local, got := newTestReader(t)
	stream := &capture{}
	w := &endpointWriter{config: r.remote.config, remote: r.remote, address: "127.0.0.1:1", stream: stream}
	target := &actor.PID{Address: "127.0.0.1:1", Id: "x"}
	var msgs []interface{}
	for i := range 10 {
		msgs = append(msgs, &remoteDeliver{target: target, message: wrapperspb.Bytes(make([]byte, 1<<20+i))})
		if i == 4 { // too large for any message; its sender hears of it
			msgs = append(msgs, &remoteDeliver{target: target, sender: local, message: wrapperspb.Bytes(make([]byte, DefaultMaxMessageBytes))})
		}
	}
	w.sendEnvelopes(msgs, nil)
	var sizes []int
	i := 0
	for _, b := range stream.sent {
		n := proto.Size(&RemoteMessage{MessageType: &RemoteMessage_MessageBatch{MessageBatch: b}})
		sizes = append(sizes, n)
		if n > DefaultMaxMessageBytes {
			t.Errorf("a gRPC message of %d bytes", n)
		}
		for _, e := range b.Envelopes {
			var m wrapperspb.BytesValue
			if err := proto.Unmarshal(e.MessageData, &m); err != nil || len(m.Value) != 1<<20+i {
				t.Fatalf("envelope %d: %d bytes, %v", i, len(m.Value), err)
			}
			i++
		}
	}
	if i != 10 || len(stream.sent) < 3 {
		t.Fatalf("%d envelopes in %d messages (%v bytes), want 10 in at least 3", i, len(stream.sent), sizes)
	}
	if err := r.remote.actorSystem.Root.PoisonFuture(local).Wait(); err != nil {
		t.Fatal(err)
	}
	if n := got.Load(); n != 1 {
		t.Fatalf("the dropped message's sender got %d messages, want its dead-letter response", n)
	}
}
