package gossip_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/discoverytest"
	"github.com/legion-go/legion/discovery/gossip"
)

// TestRestartOnSamePort restarts a crashed member on its old gossip port, as
// a node with a fixed BindPort does: the new instance must replace the old
// one, which memberlist still knows under the same address.
func TestRestartOnSamePort(t *testing.T) {
	log := discoverytest.NewLog(t)
	a := startGossip(t, testConfig(log.Logger(), nil), discoverytest.NewMember("a"))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	b := discoverytest.NewMember("b")
	proc := discoverytest.Spawn(t, spec{Seeds: []string{a.Addr()}, BindPort: port}.String(), b)
	waitView(t, a, a.self, b)
	proc.Kill(t)

	cfg := testConfig(log.Logger(), []string{a.Addr()})
	cfg.BindPort = port
	b2 := startGossip(t, cfg, discoverytest.Restarted(b))
	took := waitView(t, a, a.self, b2.self)
	waitView(t, b2, a.self, b2.self)
	t.Logf("restarted member on the same port replaced its old instance in %v", took)
}

type gossipNode struct {
	*gossip.Provider
	self discovery.Member
	last discovery.View
}

func startGossip(t *testing.T, cfg gossip.Config, m discovery.Member) *gossipNode {
	t.Helper()
	p, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return &gossipNode{Provider: p, self: m}
}

// waitView polls until n's newest view holds exactly want.
func waitView(t *testing.T, n *gossipNode, want ...discovery.Member) time.Duration {
	t.Helper()
	t0 := time.Now()
	for {
	drain:
		for {
			select {
			case v := <-n.Views():
				n.last = v
			default:
				break drain
			}
		}
		if n.last.Equal(discovery.NewView(want)) {
			return time.Since(t0)
		}
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("%s sees %v, want %v", n.self.ID(), n.last, discovery.NewView(want))
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
