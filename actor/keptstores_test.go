package actor_test

import (
	"sync"
	"testing"

	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// keptStores opens each node's pebble store in a directory of its own that outlives the
// node (a restart reopens it), and keeps the store last opened for each node, for the
// test to read what it holds.
type keptStores struct {
	t      *testing.T
	mu     sync.Mutex
	dirs   map[int]string
	stores map[int]storage.Store
}

func newKeptStores(t *testing.T) *keptStores {
	return &keptStores{t: t, dirs: map[int]string{}, stores: map[int]storage.Store{}}
}

// open is an actortest.Options.Store.
func (k *keptStores) open(i int, name string) (storage.Store, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dirs[i] == "" {
		k.dirs[i] = k.t.TempDir()
	}
	s, err := pebblestore.Open(k.dirs[i], storage.Options{Node: name, Create: true})
	k.stores[i] = s
	return s, err
}

// of returns the store last opened for node i.
func (k *keptStores) of(i int) storage.Store {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stores[i]
}
