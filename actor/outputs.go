package actor

import (
	"sync"
	"sync/atomic"

	"github.com/legion-go/legion/actor/internal/replica"
)

// nodeOutputs is the node's cache of request outputs (replica.Outputs), shared by all its
// replicas: one budget (Config.OutputCacheBytes), least recently used out across
// partitions. The shards step their replicas concurrently, so it is striped: a key's hash
// picks one of outputStripes caches, each with its own lock and a share of the budget (its
// order is least recently used within a stripe).
type nodeOutputs struct {
	owners  atomic.Uint64
	stripes [outputStripes]outputStripe
}

type outputStripe struct {
	mu  sync.Mutex
	lru *replica.OutputLRU
	_   [48]byte // keeps stripes' locks off each other's cache lines
}

const outputStripes = 16

func newNodeOutputs(bytes int) *nodeOutputs {
	o := &nodeOutputs{}
	for i := range o.stripes {
		o.stripes[i].lru = replica.NewOutputLRU(bytes / outputStripes)
	}
	return o
}

func (o *nodeOutputs) Owner() uint64 { return o.owners.Add(1) }

func (o *nodeOutputs) Set(k replica.OutputKey, out []byte, rej error) {
	s := &o.stripes[k.Hash()%outputStripes]
	s.mu.Lock()
	s.lru.Set(k, out, rej)
	s.mu.Unlock()
}

func (o *nodeOutputs) Result(k replica.OutputKey) (out []byte, rej error, ok bool) {
	s := &o.stripes[k.Hash()%outputStripes]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Result(k)
}

// Len returns how many outputs the cache holds, and their bytes as counted against its
// budget.
func (o *nodeOutputs) Len() (n, bytes int) {
	for i := range o.stripes {
		s := &o.stripes[i]
		s.mu.Lock()
		sn, sb := s.lru.Len()
		s.mu.Unlock()
		n, bytes = n+sn, bytes+sb
	}
	return n, bytes
}
