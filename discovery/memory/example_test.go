package memory_test

import (
	"context"
	"fmt"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/memory"
)

func Example() {
	ctx := context.Background()
	reg := memory.NewRegistry()
	n1, n2 := reg.Provider(), reg.Provider()
	_ = n1.Start(ctx, discovery.Member{Peer: "n1~a1", Name: "n1", Instance: "i1", Address: "127.0.0.1:7001", Kinds: []string{"counter"}})
	_ = n2.Start(ctx, discovery.Member{Peer: "n2~b2", Name: "n2", Instance: "i1", Address: "127.0.0.1:7002"})
	fmt.Println("n1 sees", <-n1.Views())

	reg.Kill("n2~b2") // n2 crashes: no leave message
	fmt.Println("n1 sees", <-n1.Views())

	_ = n2.Stop(ctx)
	_ = n1.Stop(ctx)
	_, open := <-n1.Views()
	fmt.Println("open after Stop:", open)
	// Output:
	// n1 sees [n1~a1/i1 n2~b2/i1]
	// n1 sees [n1~a1/i1]
	// open after Stop: false
}
