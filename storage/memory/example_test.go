package memory_test

import (
	"fmt"

	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/memory"
)

func Example() {
	s := memory.New(storage.Identity{Node: "n1", Incarnation: "0123456789abcdef"})
	defer s.Close()

	p := storage.Partition{Kind: "counter", Key: "a"}
	var b storage.Batch
	b.PutDelta(p, []byte{1}, []byte("+1"))
	if err := s.Commit(&b); err != nil {
		panic(err)
	}
	r, found, _ := s.Load(p)
	fmt.Println(found, len(r.Deltas), string(r.Deltas[0].Data), s.Identity().Peer())
	// Output: true 1 +1 n1~0123456789abcdef
}
