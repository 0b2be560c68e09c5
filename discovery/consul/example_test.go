package consul_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/consul"
)

// A member registers with its local agent and follows the cluster's views.
// (Not run: it needs a Consul agent; see TestConformance and consultest.)
func Example() {
	p, err := consul.New(consul.Config{
		Address: "127.0.0.1:8500",
		Service: "my-cluster",
		TTL:     3 * time.Second,
		Logger:  slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	self := discovery.Member{Peer: "n1~3f9a2c", Name: "n1", Instance: "a1", Address: "127.0.0.1:7001", Kinds: []string{"counter"}}
	if err := p.Start(ctx, self); err != nil {
		panic(err)
	}
	defer p.Stop(ctx)
	for v := range p.Views() {
		slog.Info("membership", "members", v.String())
	}
}
