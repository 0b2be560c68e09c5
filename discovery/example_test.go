package discovery_test

import (
	"fmt"

	"github.com/legion-go/legion/discovery"
)

func Example() {
	// A provider publishes views into a Feed; its Views() is feed.C().
	feed := discovery.NewFeed()
	n1 := discovery.Member{Peer: "n1~3f9a2c", Name: "n1", Instance: "a1", Address: "127.0.0.1:7001", Kinds: []string{"counter"}}
	n2 := discovery.Member{Peer: "n2~77b01e", Name: "n2", Instance: "b1", Address: "127.0.0.1:7002"}
	n2restarted := n2
	n2restarted.Instance = "b2"

	feed.Publish(discovery.NewView([]discovery.Member{n2, n1}))
	feed.Publish(discovery.NewView([]discovery.Member{n1, n2restarted})) // replaces the unread view

	v := <-feed.C() // a slow reader sees only the newest view
	fmt.Println(v)
	m, _ := v.Lookup("n2~77b01e")
	fmt.Println(m.Instance, m.Address)

	flat, _ := discovery.EncodeMeta([]string{"counter", "a,b"}, map[string]string{"http addr": "127.0.0.1:8080"})
	fmt.Println(flat)
	// Output:
	// [n1~3f9a2c/a1 n2~77b01e/b2]
	// b2 127.0.0.1:7002
	// map[kinds:counter,a%2Cb m-http_20addr:127.0.0.1:8080]
}
