package storage_test

import (
	"fmt"

	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/memory"
)

// Persist two events of a partition, then fold the first into the snapshot:
// each step is one atomic, durable batch.
func Example() {
	var s storage.Store = memory.New(storage.Identity{Node: "n1", Incarnation: storage.NewIncarnation()})
	defer s.Close()
	p := storage.Partition{Kind: "counter", Key: "a"}

	var b storage.Batch
	b.PutDelta(p, []byte{0, 1}, []byte("+1"))
	b.PutDelta(p, []byte{0, 2}, []byte("+2"))
	if err := s.Commit(&b); err != nil {
		panic(err)
	}

	b.Reset()
	b.DeleteDelta(p, []byte{0, 1})
	b.PutSnapshot(p, []byte("count=1"))
	if err := s.Commit(&b); err != nil {
		panic(err)
	}

	r, _, _ := s.Load(p)
	fmt.Printf("snapshot %s, pending %d: %s\n", r.Snapshot, len(r.Deltas), r.Deltas[0].Data)
	_ = s.Partitions("counter", func(key string) bool { fmt.Println("stored:", key); return true })
	// Output:
	// snapshot count=1, pending 1: +2
	// stored: a
}
