package actor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/storage"
	memstore "github.com/legion-go/legion/storage/memory"
)

// shardContext is the part of an actor context a shard uses, recording what it sends.
// The embedded Context is nil: anything else the shard would call panics.
type shardContext struct {
	pa.Context
	self, sender *pa.PID
	msg          any
	sent         []sentMsg
}

type sentMsg struct {
	to  *pa.PID
	msg any
}

func (c *shardContext) Message() any           { return c.msg }
func (c *shardContext) Sender() *pa.PID        { return c.sender }
func (c *shardContext) Self() *pa.PID          { return c.self }
func (c *shardContext) Send(to *pa.PID, m any) { c.sent = append(c.sent, sentMsg{to, m}) }
func (c *shardContext) Respond(any)            {}

// receive hands the shard one message from sender.
func (c *shardContext) receive(s *shard, sender *pa.PID, msg any) {
	c.sender, c.msg = sender, msg
	s.Receive(c)
}

// countingStore counts commits, and records how many messages the shard had sent when
// each began.
type countingStore struct {
	storage.Store
	ctx          *shardContext
	sentAtCommit []int
	err          error
}

func (s *countingStore) Commit(b *storage.Batch) error {
	s.sentAtCommit = append(s.sentAtCommit, len(s.ctx.sent))
	if s.err != nil {
		return s.err
	}
	return s.Store.Commit(b)
}

// testShard is a shard of a node "a~1" whose store counts commits, driven by hand
// through the returned context.
func testShard(t *testing.T, configure ...func(*Config)) (*shard, *shardContext, *countingStore) {
	ctx := &shardContext{self: pa.NewPID("local", "shard")}
	store := &countingStore{Store: memstore.New(storage.Identity{Node: "a", Incarnation: "1"}), ctx: ctx}
	quiet := slog.New(slog.DiscardHandler)
	system := pa.NewActorSystem(pa.WithLoggerFactory(func(*pa.ActorSystem) *slog.Logger { return quiet }))
	t.Cleanup(system.Shutdown)
	var cfg Config
	for _, f := range configure {
		f(&cfg)
	}
	n := &Node{cfg: cfg.withDefaults(), store: store, peer: "a~1", system: system, failed: make(chan struct{}),
		kinds: map[string]KindSpec{plusKind.kindName(): plusKind},
		folds: map[string]foldMaker{plusKind.kindName(): plusKind.folds(nil)}}
	n.rcfg = n.cfg.replicaConfig(n.peer)
	n.clock.now = n.cfg.Clock.Now
	n.log = quiet
	// Membership lists the node alone: it may start partitions (genesis.go).
	view := discovery.NewView([]discovery.Member{{Peer: "a~1", Name: "a", Kinds: []string{plusKind.kindName()}}})
	n.view.Store(newViewIndex(view))
	n.members.update(view, n.cfg.Clock.Now())
	n.members.settle(n.cfg.Clock.Now()) // its store is empty: nothing to wait for (see Start)
	s := newShard(n)
	ctx.receive(s, nil, &pa.Started{})
	return s, ctx, store
}

// call sends the shard a fast call of +v to partition "k<key>" from caller.
func (c *shardContext) call(t *testing.T, s *shard, caller *pa.PID, key, v int) {
	ev, err := proto.Marshal(wrapperspb.Int64(int64(v)))
	require.NoError(t, err)
	c.receive(s, caller, &wire.Call{To: &wire.Target{Kind: plusKind.kindName(), Key: fmt.Sprint("k", key)},
		Event: ev, ReplicaSet: []string{"a~1"}, Consistency: wire.Consistency_FAST})
}

// TestShardFlushCommitsOnce: fast calls to many partitions of one shard, queued before
// its flush, are made durable by one commit, and no call is answered before it.
func TestShardFlushCommitsOnce(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(fmt.Sprintf("commit-fails=%v", failing), func(t *testing.T) {
			s, ctx, store := testShard(t)
			if failing {
				store.err = errors.New("disk on fire")
			}

			const keys = 10
			callers := make([]*pa.PID, keys)
			for i := range keys {
				callers[i] = pa.NewPID("local", fmt.Sprintf("caller%d", i))
				ctx.call(t, s, callers[i], i, i+1)
			}
			require.Equal(t, []sentMsg{{ctx.self, flushMsg{}}}, ctx.sent, "one flush queued for all the partitions")
			require.Empty(t, store.sentAtCommit, "nothing committed before the flush")

			ctx.sent = nil
			ctx.receive(s, ctx.self, flushMsg{})
			require.Equal(t, []int{0}, store.sentAtCommit, "one commit, before any answer")
			answered := map[*pa.PID]*wire.CallReply{}
			for _, m := range ctx.sent {
				if reply, ok := m.msg.(*wire.CallReply); ok {
					answered[m.to] = reply
				}
			}
			require.Len(t, answered, keys)
			for i, c := range callers {
				reply := answered[c]
				require.NotNil(t, reply, "caller %d", i)
				if failing {
					require.NotNil(t, reply.GetError(), "caller %d", i)
					continue
				}
				require.Nil(t, reply.GetError(), "caller %d", i)
				rec, found, err := store.Load(storage.Partition{Kind: plusKind.kindName(), Key: fmt.Sprint("k", i)})
				require.NoError(t, err)
				require.True(t, found, "partition k%d stored", i)
				require.NotNil(t, rec.Snapshot, "partition k%d's genesis stored", i)
			}
		})
	}
}

// TestShardStopsInOneCommit: a stopping shard writes what each of its replicas holds
// (here calls not flushed yet) in one commit, and a restart finds all of it.
func TestShardStopsInOneCommit(t *testing.T) {
	s, ctx, store := testShard(t)
	const keys = 10
	caller := pa.NewPID("local", "caller")
	for i := range keys {
		ctx.call(t, s, caller, i, 1)
	}
	ctx.receive(s, ctx.self, flushMsg{})
	for i := range keys {
		ctx.call(t, s, caller, i, 2) // not flushed
	}
	commits := len(store.sentAtCommit)
	ctx.receive(s, nil, &pa.Stopping{})
	require.Len(t, store.sentAtCommit, commits+1, "one commit for every replica")
	require.Empty(t, s.replicas)
	for i := range keys {
		h := s.activate(ctx, partitionID{plusKind.kindName(), fmt.Sprint("k", i)})
		require.Equal(t, replica.Active, h.core.Life())
		require.Equal(t, int64(3), valueOf(t, h, false), "k%d after a restart", i)
	}
}

// TestShardsConfig: a node with one shard serves every partition (all share its
// mailbox and its flushes), and a negative count is refused at Start.
func TestShardsConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := Config{Name: "solo", Membership: memory.NewRegistry().Provider(), Kinds: []KindSpec{plusKind}, Shards: -1}
	_, err := Start(ctx, cfg)
	require.ErrorContains(t, err, "Shards -1")

	cfg.Shards = 1
	n, err := Start(ctx, cfg)
	require.NoError(t, err)
	defer n.Stop(ctx)
	require.NoError(t, n.WaitForMembers(ctx, "plus", 1))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			ref := RefOf(n, plusKind, fmt.Sprint("k", i))
			for j := range 3 {
				out, err := ref.Call(ctx, wrapperspb.Int64(int64(i)), Consistent)
				if assert.NoError(t, err) {
					assert.Equal(t, int64(i*(j+1)), out.GetValue(), "k%d, call %d", i, j)
				}
			}
		})
	}
	wg.Wait()
}

// TestLateCallIsNotLogged: a call that reaches its replica after the caller's deadline
// (delivered late by a stalled connection, say, after the caller retried elsewhere) is
// refused and logs nothing: logged then, it could apply twice once the dedup window moved
// past the retry (the counter's cut tests saw increments counted twice so).
func TestLateCallIsNotLogged(t *testing.T) {
	s, ctx, _ := testShard(t)
	caller := pa.NewPID("local", "caller")
	ev, err := proto.Marshal(wrapperspb.Int64(1))
	require.NoError(t, err)
	ctx.call(t, s, caller, 0, 1) // the partition exists
	ctx.receive(s, ctx.self, flushMsg{})
	ctx.sent = nil
	ctx.receive(s, caller, &wire.Call{To: &wire.Target{Kind: plusKind.kindName(), Key: "k0"}, Event: ev,
		ReplicaSet: []string{"a~1"}, Consistency: wire.Consistency_FAST, Req: "late",
		Deadline: time.Now().Add(-time.Second).UnixNano()})
	require.Len(t, ctx.sent, 1, "answered at once, nothing queued")
	reply, ok := ctx.sent[0].msg.(*wire.CallReply)
	require.True(t, ok)
	require.ErrorIs(t, fromWire(reply.GetError()), ErrUnavailable)
	r := s.replicas[partitionID{plusKind.kindName(), "k0"}]
	require.Equal(t, int64(1), valueOf(t, r, false), "the late call logged nothing")
}

// valueOf reads a plus counter's replica at the projected or the stable level.
func valueOf(t *testing.T, h *hosted, stable bool) int64 {
	t.Helper()
	q, err := proto.Marshal(wrapperspb.Int64(0))
	require.NoError(t, err)
	out, err := h.core.Fold().Query(q, stable)
	require.NoError(t, err)
	var v wrapperspb.Int64Value
	require.NoError(t, proto.Unmarshal(out, &v))
	return v.Value
}
