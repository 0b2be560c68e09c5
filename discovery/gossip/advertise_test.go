package gossip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
)

// TestAdvertiseConfig: an advertised address is an IP other members can reach, and an
// advertised port goes with one.
func TestAdvertiseConfig(t *testing.T) {
	for name, bad := range map[string]Config{
		"name":              {AdvertiseAddr: "node-0.legion"},
		"unspecified":       {AdvertiseAddr: "0.0.0.0"},
		"port out of range": {AdvertiseAddr: "127.0.0.2", AdvertisePort: 70000},
		"port without addr": {AdvertisePort: 7946},
		"negative port":     {AdvertiseAddr: "127.0.0.2", AdvertisePort: -1},
		"host:port as addr": {AdvertiseAddr: "127.0.0.2:7946"},
		"unspecified ipv6":  {AdvertiseAddr: "::"},
	} {
		if _, err := New(bad); !errors.Is(err, discovery.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// TestAdvertiseAddr: a member that advertises another address than the one it binds
// reports it as its own, and a member that joins it through the bound address learns
// it under the advertised one (the address it then probes and gossips to).
func TestAdvertiseAddr(t *testing.T) {
	const advertisedIP = "127.0.0.2"
	start := func(cfg Config, name string) *Provider {
		t.Helper()
		cfg.ProbeInterval, cfg.ProbeTimeout = 200*time.Millisecond, 100*time.Millisecond
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := discovery.Member{Peer: name + "~1", Name: name, Instance: "i1", Address: "127.0.0.1:7000", Kinds: []string{"k"}}
		if err := p.Start(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Stop(context.Background()) })
		return p
	}
	l, err := net.Listen("tcp", "127.0.0.1:0") // a port free a moment ago, for a's bound one
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	a := start(Config{BindPort: port, AdvertiseAddr: advertisedIP, AdvertisePort: 17946}, "a")
	if host, port, _ := net.SplitHostPort(a.Addr()); host != advertisedIP || port != "17946" {
		t.Fatalf("a.Addr() = %q, want %s:17946", a.Addr(), advertisedIP)
	}
	b := start(Config{Seeds: []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}}, "b")
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := func() error {
			for _, n := range b.ml.Members() {
				if n.Name == "a~1"+discovery.IDSeparator+"i1" {
					if got := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))); got != a.Addr() {
						return fmt.Errorf("b knows a at %s, want %s", got, a.Addr())
					}
					return nil
				}
			}
			return errors.New("b does not know a yet")
		}()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // polling, with a deadline
	}
}
