package storagetest_test

import (
	"fmt"

	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/storagetest"
)

// Format is how the suite prints replicas in its failure messages.
func ExampleFormat() {
	r := storage.Replica{
		Snapshot: []byte("count=1"),
		Deltas:   []storage.Delta{{ID: []byte{0, 2}, Data: []byte("+2")}},
	}
	fmt.Println(storagetest.Format(r))
	fmt.Println(storagetest.Format(storage.Replica{}))
	// Output:
	// snapshot="count=1" "\x00\x02"="+2"
	// snapshot=none
}
