package actor

import (
	"sync"
	"sync/atomic"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"
	"google.golang.org/protobuf/proto"
)

// replies receives the answers to this node's calls and queries. It is one Proto.Actor
// process, registered under a fixed name, instead of a future per request: a future is a
// registered process, a PID, a timer and a condition variable for every call, and it
// cannot be abandoned when the caller's context is cancelled.
//
// Each request is sent with the sender PID {this node, repliesName, RequestId: n}.
// Replicas and routers answer to their sender as to any PID; the remote layer carries the
// request id both ways, and the registry finds this process by name, so n picks the
// waiting caller. A reply nobody waits for (the caller gave up, or a second reply) is
// dropped.
type replies struct {
	pid    *pa.PID
	next   atomic.Uint32
	shards [replyShards]replyShard
}

const (
	repliesName = "legion$replies"
	replyShards = 32
)

type replyShard struct {
	mu      sync.Mutex
	waiting map[uint32]chan proto.Message
	_       [48]byte // pads the shard (mutex and map, 16 bytes) to a cache line
}

var _ pa.Process = (*replies)(nil)

func newReplies(sys *pa.ActorSystem) *replies {
	r := &replies{}
	for i := range r.shards {
		r.shards[i].waiting = make(map[uint32]chan proto.Message)
	}
	r.pid, _ = sys.ProcessRegistry.Add(r, repliesName)
	return r
}

// expect registers a request: its sender PID, and the channel its reply arrives on.
func (r *replies) expect() (uint32, *pa.PID, chan proto.Message) {
	id := r.next.Add(1)
	for id == 0 { // 0 means "no request id" to the remote layer
		id = r.next.Add(1)
	}
	ch := make(chan proto.Message, 1)
	s := &r.shards[id%replyShards]
	s.mu.Lock()
	s.waiting[id] = ch
	s.mu.Unlock()
	return id, &pa.PID{Address: r.pid.Address, Id: r.pid.Id, RequestId: id}, ch
}

// forget unregisters a request whose caller stopped waiting.
func (r *replies) forget(id uint32) {
	s := &r.shards[id%replyShards]
	s.mu.Lock()
	delete(s.waiting, id)
	s.mu.Unlock()
}

// SendUserMessage hands a reply to the caller waiting for it.
func (r *replies) SendUserMessage(pid *pa.PID, message any) {
	msg, ok := pa.UnwrapEnvelopeMessage(message).(proto.Message)
	if !ok || pid == nil {
		return
	}
	s := &r.shards[pid.RequestId%replyShards]
	s.mu.Lock()
	ch, ok := s.waiting[pid.RequestId]
	delete(s.waiting, pid.RequestId)
	s.mu.Unlock()
	if ok {
		ch <- msg // buffered, and only this reply was handed ch
	}
}

func (r *replies) SendSystemMessage(*pa.PID, any) {}
func (r *replies) Stop(*pa.PID)                   {}
