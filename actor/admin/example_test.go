package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/admin"
	"github.com/legion-go/legion/discovery/memory"
)

// A node's admin API on loopback, with its metrics on /metrics; read-only (no eject).
func Example() {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	node, err := actor.Start(ctx, actor.Config{Name: "n1", Kinds: []actor.KindSpec{counter},
		Membership: memory.NewRegistry().Provider(), Metrics: reg})
	if err != nil {
		panic(err)
	}
	defer node.Stop(ctx)

	h, err := admin.New(node, admin.Options{Gatherer: reg})
	if err != nil {
		panic(err)
	}
	ln, err := admin.Listen("127.0.0.1:0") // loopback unless a host is named; "" is DefaultAddr
	if err != nil {
		panic(err)
	}
	srv := admin.NewServer(h)
	go srv.Serve(ln)
	defer srv.Close()

	if err := node.WaitForMembers(ctx, "", 1); err != nil { // membership lists the node
		panic(err)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output: 200 ready: 1 members
}
