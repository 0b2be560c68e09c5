package pebblestore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

func Example() {
	tmp, err := os.MkdirTemp("", "legion-storage-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "data")

	s, err := pebblestore.Open(dir, storage.Options{Node: "n1", Create: true})
	if err != nil {
		panic(err)
	}
	p := storage.Partition{Kind: "counter", Key: "a"}
	var b storage.Batch
	b.PutSnapshot(p, []byte("count=0"))
	b.PutDelta(p, []byte{0, 1}, []byte("+1"))
	if err := s.Commit(&b); err != nil { // durable once it returns
		panic(err)
	}
	peer := s.Identity().Peer()
	if err := s.Close(); err != nil {
		panic(err)
	}

	// Restart: the same directory, the same peer, the same state.
	s, err = pebblestore.Open(dir, storage.Options{Node: "n1"})
	if err != nil {
		panic(err)
	}
	r, found, err := s.Load(p)
	if err != nil {
		panic(err)
	}
	fmt.Println(found, string(r.Snapshot), len(r.Deltas), s.Identity().Peer() == peer)
	if err := s.Close(); err != nil {
		panic(err)
	}

	// Another node's name: refused, never reset.
	_, err = pebblestore.Open(dir, storage.Options{Node: "n2"})
	fmt.Println(errors.Is(err, storage.ErrWrongNode))
	// Output:
	// true count=0 1 true
	// true
}
