package actor_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/discovery/memory"
)

// TestAdvertiseAddrValidation: a listener on every interface needs an advertised
// address, and an advertised address must be a dialable host:port; each refusal names
// the field.
func TestAdvertiseAddrValidation(t *testing.T) {
	for _, c := range []struct{ listen, advertise string }{
		{"0.0.0.0:0", ""},
		{"[::]:0", ""},
		{"127.0.0.1:0", "localhost"},
		{"127.0.0.1:0", "localhost:0"},
		{"127.0.0.1:0", "localhost:70000"},
		{"127.0.0.1:0", ":7000"},
		{"127.0.0.1:0", "0.0.0.0:7000"},
	} {
		_, err := actor.Start(context.Background(), actor.Config{Name: "n", ListenAddr: c.listen,
			AdvertiseAddr: c.advertise, Membership: memory.NewRegistry().Provider()})
		if err == nil || !strings.Contains(err.Error(), "AdvertiseAddr") {
			t.Errorf("ListenAddr %q AdvertiseAddr %q: %v, want an error naming AdvertiseAddr", c.listen, c.advertise, err)
		}
	}
}

// TestAdvertiseAddr: a node that advertises a DNS name is published under it, its peer
// reaches it there (a consistent call folds on both replicas), and it answers.
func TestAdvertiseAddr(t *testing.T) {
	port := freePort(t)
	reg := memory.NewRegistry()
	start := func(name, listen, advertise string) *actor.Node {
		n, err := actor.Start(context.Background(), actor.Config{Name: name, ListenAddr: listen, AdvertiseAddr: advertise,
			Membership: reg.Provider(), Kinds: []actor.KindSpec{counterKind}, ReplicationFactor: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n.Stop(ctx)
		})
		return n
	}
	advertised := net.JoinHostPort("localhost", port)
	n1 := start("n1", net.JoinHostPort("127.0.0.1", port), advertised)
	n2 := start("n2", "127.0.0.1:0", "")
	if n1.Address() != advertised {
		t.Fatalf("n1.Address() = %q, want %q", n1.Address(), advertised)
	}
	actortest.Eventually(t, 10*time.Second, func() error {
		for _, m := range n2.View().Members {
			if m.Name == "n1" && m.Address == advertised {
				return nil
			}
		}
		return fmt.Errorf("n2's view has no n1 at %s: %v", advertised, n2.View())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := actor.RefOf(n2, counterKind, key(i)).Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			t.Fatalf("consistent call through n2: %v", err)
		}
	}
}

// freePort returns a port free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
