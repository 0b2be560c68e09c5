package gossip_test

import (
	"context"
	"fmt"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/gossip"
)

// Two members on loopback: the second joins through the first's address.
func Example() {
	ctx := context.Background()
	first, _ := gossip.New(gossip.Config{}) // BindAddr 127.0.0.1, a free port
	_ = first.Start(ctx, discovery.Member{Peer: "n1~a1", Name: "n1", Instance: "i1", Address: "127.0.0.1:7001"})
	defer first.Stop(ctx)

	second, _ := gossip.New(gossip.Config{Seeds: []string{first.Addr()}})
	_ = second.Start(ctx, discovery.Member{Peer: "n2~b2", Name: "n2", Instance: "i1", Address: "127.0.0.1:7002", Kinds: []string{"counter"}})
	defer second.Stop(ctx)

	for v := range first.Views() {
		if len(v.Members) == 2 {
			m, _ := v.Lookup("n2~b2")
			fmt.Println(v, m.Kinds)
			break
		}
	}
	// Output: [n1~a1/i1 n2~b2/i1] [counter]
}
