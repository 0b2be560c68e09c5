package actortest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// ErrCrashed is the error of every call to the store of a crashed node.
var ErrCrashed = errors.New("actortest: the node crashed: its store takes no more reads or writes")

// crashStore is the store the cluster gives each node: it passes every call to the
// node's real store until crash, the crash point, after which every call fails with
// ErrCrashed and nothing more reaches the real store. A commit is on one side of the
// crash point: crash waits for the commits under way (whose writes are durable, as those
// of a process killed after its fsync are), and later ones write nothing.
type crashStore struct {
	inner   storage.Store
	mu      sync.RWMutex // Commit holds it for reading, crash for writing
	crashed atomic.Bool
}

var _ storage.Store = (*crashStore)(nil)

func newCrashStore(inner storage.Store) *crashStore { return &crashStore{inner: inner} }

// crash is the crash point.
func (s *crashStore) crash() {
	s.mu.Lock()
	s.crashed.Store(true)
	s.mu.Unlock()
}

func (s *crashStore) Commit(b *storage.Batch) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.crashed.Load() {
		return ErrCrashed
	}
	return s.inner.Commit(b)
}

// Load is refused after the crash point, and so is a read that straddles it. (It takes no
// lock: Partitions' callback may call it.)
func (s *crashStore) Load(p storage.Partition) (storage.Replica, bool, error) {
	if s.crashed.Load() {
		return storage.Replica{}, false, ErrCrashed
	}
	r, found, err := s.inner.Load(p)
	if s.crashed.Load() {
		return storage.Replica{}, false, ErrCrashed
	}
	return r, found, err
}

func (s *crashStore) Marked(reason storage.Reason, until int64, fn func(m storage.Mark) bool) error {
	if s.crashed.Load() {
		return ErrCrashed
	}
	cut := false
	err := s.inner.Marked(reason, until, func(m storage.Mark) bool {
		if s.crashed.Load() {
			cut = true
			return false
		}
		return fn(m)
	})
	if cut {
		return ErrCrashed
	}
	return err
}

func (s *crashStore) Partitions(kind string, fn func(key string) bool) error {
	if s.crashed.Load() {
		return ErrCrashed
	}
	cut := false
	err := s.inner.Partitions(kind, func(key string) bool {
		if s.crashed.Load() {
			cut = true
			return false
		}
		return fn(key)
	})
	if cut {
		return ErrCrashed
	}
	return err
}

func (s *crashStore) Identity() storage.Identity { return s.inner.Identity() }

// Close closes the real store.
func (s *crashStore) Close() error { return s.inner.Close() }

func (s *crashStore) closeBase() { s.inner.Close() }

// Store returns the store the node at position i runs on: the cluster's wrapper of its
// real store, which fails every call with ErrCrashed once the node crashed.
func (c *Cluster) Store(i int) storage.Store { return c.slotAt(i).store }

// Crashed reports whether the node at position i crashed and was not restarted.
func (c *Cluster) Crashed(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slots[i].down
}

func (c *Cluster) slotAt(i int) *slot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.slots) {
		c.t.Fatalf("no node at position %d", i)
	}
	return c.slots[i]
}

// Crash abandons the node at position i as SIGKILL would. In order: its store stops at
// once (the crash point: a commit under way completes, every later read or write fails
// with ErrCrashed, so nothing the node does afterwards is durable); every message from
// or to it is dropped; membership loses it without a leave (Registry.Kill: the others'
// views stop listing it, as a failure detector's would); the node is stopped with a
// context already past its deadline, so that it drains nothing and its final writes
// fail; and its real store is closed (a dead process releases its files), unless it is
// the cluster's own in-memory store, kept for Restart. Nodes[i] stays the stopped node
// (calls through it fail with actor.ErrStopped) until Restart. Crashing a crashed node
// does nothing.
func (c *Cluster) Crash(i int) {
	c.t.Helper()
	s := c.slotAt(i)
	c.mu.Lock()
	down := s.down
	c.mu.Unlock()
	if down {
		return
	}
	s.store.crash()
	c.mu.Lock()
	s.down = true
	c.mu.Unlock()
	c.Registry.Kill(string(s.peer))
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	c.Nodes[i].Stop(ctx) // fails to write its replicas (ErrCrashed): as intended
	if s.base != s.mem {
		s.base.Close()
	}
}

// Restart starts the node at position i again, as a new process on the same data: the
// same name, and the same store reopened (Options.Store, or Configure, is called again;
// the cluster's in-memory store is reused), hence the same peer. The node is crashed
// first if it is running (Stop it first for a graceful restart). Faults staged by
// position (Split, HideMember, cut links) apply to it as before; nodeOpts (such as
// PartialView) apply to this start. It replaces Nodes[i] and returns the new node,
// without waiting for the others to see it (WaitConverged does).
func (c *Cluster) Restart(i int, nodeOpts ...NodeOption) *actor.Node {
	c.t.Helper()
	s := c.slotAt(i)
	c.Crash(i)
	old := s.peer
	node := c.start(s, s.index, nodeOpts)
	if node.Peer() != old {
		c.t.Fatalf("node %d came back as %s, was %s (its store did not keep its identity)", i, node.Peer(), old)
	}
	c.Nodes[i] = node
	return node
}

// PebbleStores returns an Options.Store that opens the store of node i on pebble, in a
// directory of its own under t.TempDir() (the same one at every Restart of that node).
func PebbleStores(t testing.TB) func(i int, name string) (storage.Store, error) {
	var mu sync.Mutex
	dirs := map[int]string{}
	return func(i int, name string) (storage.Store, error) {
		mu.Lock()
		dir, ok := dirs[i]
		if !ok {
			dir = t.TempDir()
			dirs[i] = dir
		}
		mu.Unlock()
		return pebblestore.Open(dir, storage.Options{Node: name, Create: true})
	}
}
