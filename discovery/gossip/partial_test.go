package gossip_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/gossip"
)

// TestViewPartialUntilJoined: a member with seeds publishes partial views (only itself)
// until a seed answers, then full ones; a member without seeds (the first of a cluster)
// never publishes a partial view. A node must not take its own first view for the cluster
// (it would count itself a majority of one and start partitions alone).
func TestViewPartialUntilJoined(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	// A seed address nobody answers on yet: a free port, closed again.
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	seed := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	second, err := gossip.New(testConfig(log, []string{seed}))
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(ctx, discovery.Member{Peer: "n2~b2", Name: "n2", Instance: "i1", Address: "127.0.0.1:7002", Kinds: []string{"k"}}); err != nil {
		t.Fatal(err)
	}
	defer second.Stop(context.Background())
	if v := <-second.Views(); !v.Partial || len(v.Members) != 1 {
		t.Fatalf("first view before any seed answered: %v, partial %v", v, v.Partial)
	}

	cfg := testConfig(log, nil)
	cfg.BindPort = port // the seed comes up
	first, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(ctx, discovery.Member{Peer: "n1~a1", Name: "n1", Instance: "i1", Address: "127.0.0.1:7001", Kinds: []string{"k"}}); err != nil {
		t.Fatal(err)
	}
	defer first.Stop(context.Background())
	if v := <-first.Views(); v.Partial {
		t.Fatalf("a member without seeds published a partial view: %v", v)
	}
	for {
		select {
		case v := <-second.Views():
			if len(v.Members) == 2 {
				if v.Partial {
					t.Fatalf("joined, still partial: %v", v)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("the member never joined its seed")
		}
	}
}
