package keys_test

import (
	"fmt"

	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/internal/keys"
)

func Example() {
	p := storage.Partition{Kind: "counter", Key: "a\x00b"}
	fmt.Printf("%q\n", keys.Snapshot(nil, p))
	fmt.Printf("%q\n", keys.Delta(nil, p, []byte{0, 7}))
	parsed, _ := keys.Parse(keys.Delta(nil, p, []byte{0, 7}))
	fmt.Printf("%v %x\n", parsed.Partition, parsed.ID)
	// Output:
	// "pcounter\x00\x01a\x00\xffb\x00\x01\x01"
	// "pcounter\x00\x01a\x00\xffb\x00\x01\x02\x00\a"
	// "counter"/"a\x00b" 0007
}
