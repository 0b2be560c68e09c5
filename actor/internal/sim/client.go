package sim

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// op is one client operation: a call that appends its tag to a partition (or a query),
// made through one node as actor's Ref does (each replica of the caller's replica set in
// turn, an attempt timeout each), and retried by the client with the same request key
// when it fails, as an application that uses idempotency keys would.
type op struct {
	id         int
	key, tag   string
	req        string
	event      []byte
	consistent bool
	query      bool
	delete     bool // a delete of the partition (ref.Delete): no event, no tag in the state
	retries    int
	timeout    time.Duration // the caller's deadline; zero: 3 attempt timeouts

	acked, rejected bool
	// sent: when the client last made the operation; ackedAt: when a call was
	// acknowledged (checkInitial)
	sent, ackedAt time.Time
}

func (o *op) level() string {
	if o.consistent {
		return "consistent"
	}
	return "fast"
}

// replyTo is the simulation's replica.ReplyTo: the caller's node, and where its answer
// goes.
type replyTo struct {
	node    *Node
	deliver func(msg proto.Message)
}

// startOp makes o's call from a random live node.
func (w *World) startOp(o *op) {
	var live []*Node
	for _, n := range w.nodes {
		if n.up {
			live = append(live, n)
		}
	}
	if len(live) == 0 {
		return
	}
	n := live[w.rng.IntN(len(live))]
	if !o.query {
		w.called(o.key)
	}
	o.sent = w.now
	if o.req == "" {
		o.req = fmt.Sprint("req-", o.id)
		if !o.delete {
			b, _ := proto.Marshal(wrapperspb.String(o.tag))
			o.event = b
		}
	}
	done := func(reply *wire.CallReply, ok bool) {
		switch {
		case ok && (reply.GetError() == nil || reply.GetError().GetCode() == wire.Code_OUTPUT_UNKNOWN):
			if !o.query {
				o.acked, o.ackedAt = true, w.now
				what := o.tag
				if o.delete {
					what = "delete"
				}
				w.logf("%s acked %s %s on %s (%s)", o.req, o.level(), o.key, what, n.peer)
			}
		case ok && reply.GetError().GetCode() == wire.Code_REJECTED:
			o.rejected = true
		default:
			if o.query || o.retries >= 2 || w.rng.IntN(2) == 0 {
				return
			}
			o.retries++
			w.after(time.Duration(w.rng.IntN(3000))*time.Millisecond, func() { w.startOp(o) })
		}
	}
	n.run(func() { w.request(n, o, done) }) // made in n's process: a paused one makes it when it resumes
}

// request sends o to each replica of n's replica set of its partition in turn until one
// answers with something other than "not a replica", "stopped" or "unavailable"; done
// gets that answer, or ok false once none did.
func (w *World) request(n *Node, o *op, done func(reply *wire.CallReply, ok bool)) {
	set := n.ReplicaSet(kindName, o.key)
	sset := make([]string, len(set))
	for i, p := range set {
		sset[i] = string(p)
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = 3 * timing.AttemptTimeout
	}
	deadline := n.now().Add(timeout).UnixNano()
	life := n.life
	var attempt func(i int)
	attempt = func(i int) {
		if !n.up || n.life != life {
			return // the caller's process is gone: nobody learns the outcome
		}
		if i == len(set) {
			done(nil, false)
			return
		}
		p := set[i]
		finished := false
		rt := replyTo{node: n, deliver: func(msg proto.Message) {
			if finished || !n.up || n.life != life {
				return
			}
			finished = true
			var code wire.Code
			var reply *wire.CallReply
			switch m := msg.(type) {
			case *wire.CallReply:
				code, reply = m.GetError().GetCode(), m
			case *wire.QueryReply:
				code, reply = m.GetError().GetCode(), &wire.CallReply{Error: m.GetError(), Output: m.GetOutput()}
				if m.GetInitial() {
					w.checkInitial(o, p)
				}
			}
			switch code {
			case wire.Code_NOT_REPLICA, wire.Code_STOPPED, wire.Code_TIMEOUT:
				attempt(i + 1)
				return
			}
			done(reply, true)
		}}
		target := &wire.Target{Kind: kindName, Key: o.key, Peer: string(p)}
		if o.query {
			q, _ := proto.Marshal(wrapperspb.String(""))
			m := &wire.Query{To: target, Query: q, Level: wire.ReadLevel(w.rng.IntN(2)), ReplicaSet: sset}
			w.send(n, p, func(dst *Node) {
				r := dst.activate(o.key)
				dst.step(r, r.Query(dst.now(), m, rt))
			})
		} else {
			level := wire.Consistency_FAST
			if o.consistent {
				level = wire.Consistency_CONSISTENT
			}
			m := &wire.Call{To: target, Event: o.event, Consistency: level, Req: o.req, Deadline: deadline, ReplicaSet: sset,
				Delete: o.delete}
			w.send(n, p, func(dst *Node) {
				r := dst.activate(o.key)
				dst.step(r, r.Call(dst.now(), m, rt, dst.hlc()))
			})
		}
		n.after(timing.AttemptTimeout, func() { // the caller's Ref runs in n's process
			if !finished {
				finished = true
				attempt(i + 1)
			}
		})
	}
	attempt(0)
}

// checkInitial checks a query that p answered from the initial state, as of a partition
// that does not exist: no call of its key may have been acknowledged before the query was
// made (an acknowledged event is logged, and the partition holds it for good).
func (w *World) checkInitial(q *op, p lattice.Peer) {
	w.logf("query %d of %s answered from the initial state by %s", q.id, q.key, p)
	w.res.Initial++
	for _, o := range w.ops {
		if o.key == q.key && !o.query && o.acked && o.ackedAt.Before(q.sent) {
			w.violate("%s: query %d (made at %s) answered from the initial state by %s, after request %s (%s) was acknowledged at %s",
				q.key, q.id, q.sent.Sub(epoch), p, o.tag, o.level(), o.ackedAt.Sub(epoch))
			return
		}
	}
}
