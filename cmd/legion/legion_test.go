package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/actor/admin"
	"github.com/legion-go/legion/lattice"
)

type i64 = wrapperspb.Int64Value

var counter = &actor.Kind[*i64, *i64, *i64]{
	Name: "counter",
	Apply: func(s *i64, e *i64, _ lattice.Meta) (*i64, *i64, error) {
		s.Value += e.Value
		return s, wrapperspb.Int64(s.Value), nil
	},
	Query: func(s *i64, _ *i64) (*i64, error) { return wrapperspb.Int64(s.Value), nil },
}

// legion runs the command with args; it returns the exit status and what it printed.
func legion(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCommands runs every command against the admin handlers of a real 3-node cluster.
func TestCommands(t *testing.T) {
	c := actortest.Start(t, 3, actortest.Options{Config: actor.Config{Kinds: []actor.KindSpec{counter},
		GCInterval: 100 * time.Millisecond, EjectAfter: time.Hour}})
	var addrs []string
	var servers []*httptest.Server
	for _, n := range c.Nodes {
		h, err := admin.New(n, admin.Options{Actions: true})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		servers = append(servers, srv)
		addrs = append(addrs, strings.TrimPrefix(srv.URL, "http://"))
	}
	all := strings.Join(addrs, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 12 {
		if _, err := actor.RefOf(c.Nodes[0], counter, fmt.Sprintf("k%02d", i)).Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			t.Fatal(err)
		}
	}
	peer := func(i int) string { return string(c.Nodes[i].Peer()) }

	code, out, errs := legion(t, "status", "-addr", all)
	if code != 0 || strings.Count(out, " yes ") != 3 {
		t.Fatalf("status: %d\n%s%s", code, out, errs)
	}
	for i := range 3 {
		if !strings.Contains(out, peer(i)) {
			t.Errorf("status does not list %s:\n%s", peer(i), out)
		}
	}

	code, out, errs = legion(t, "members", "-addr", addrs[1])
	if code != 0 || !strings.Contains(out, "3 live of 3 known") || !strings.Contains(out, peer(1)+" (*)") || !strings.Contains(out, c.Nodes[2].Address()) {
		t.Fatalf("members: %d\n%s%s", code, out, errs)
	}

	actortest.Eventually(t, 10*time.Second, func() error {
		code, out, errs = legion(t, "partitions", "-addr", addrs[2], "-limit", "5", "-all")
		if code != 0 || !strings.Contains(out, "12 partitions") || strings.Count(out, "\ncounter/k") != 12 {
			return fmt.Errorf("partitions -all: %d\n%s%s", code, out, errs)
		}
		return nil
	})
	code, out, _ = legion(t, "partitions", "-addr", addrs[2], "-limit", "5")
	if code != 0 || strings.Count(out, "\ncounter/k") != 5 || !strings.Contains(out, "next page: -after counter/k04") {
		t.Fatalf("partitions, one page: %d\n%s", code, out)
	}
	code, out, _ = legion(t, "partitions", "-addr", addrs[2], "-json", "-after", "counter/k09")
	var page admin.Partitions
	if err := json.Unmarshal([]byte(out), &page); code != 0 || err != nil || len(page.Partitions) != 2 || page.Total != 12 {
		t.Fatalf("partitions -json -after counter/k09: %d %v\n%s", code, err, out)
	}

	actortest.Eventually(t, 10*time.Second, func() error {
		if code, out, _ = legion(t, "stalls", "-addr", all); code != 0 || strings.Count(out, "no stalls") != 3 {
			return fmt.Errorf("stalls: %d\n%s", code, out)
		}
		return nil
	})

	code, out, _ = legion(t, "watch", "-addr", all, "-count", "2", "-interval", "20ms")
	if code != 0 || strings.Count(out, "--- ") != 2 || !strings.Contains(out, "FLUSHES/S") {
		t.Fatalf("watch: %d\n%s", code, out)
	}

	// Eject: refused without confirmation, and for a live peer; done for a crashed one.
	code, _, errs = legion(t, "eject", "-addr", addrs[0], peer(2))
	if code != 1 || !strings.Contains(errs, "not confirmed") {
		t.Fatalf("eject without -confirm: %d %s", code, errs)
	}
	code, _, errs = legion(t, "eject", "-addr", addrs[0], "-confirm", peer(2), peer(2))
	if code != 1 || !strings.Contains(errs, "live") {
		t.Fatalf("eject of a live peer: %d %s", code, errs)
	}
	c.Crash(2)
	c.WaitConverged()
	code, out, errs = legion(t, "eject", "-addr", addrs[0]+","+addrs[1], "-confirm", peer(2), peer(2))
	if code != 0 || strings.Count(out, "ejecting "+peer(2)) != 2 {
		t.Fatalf("eject of a crashed peer: %d\n%s%s", code, out, errs)
	}
	actortest.Eventually(t, 20*time.Second, func() error {
		code, out, _ = legion(t, "partitions", "-addr", addrs[0], "-all")
		if code != 0 || strings.Contains(out, peer(2)) || !strings.Contains(out, "12 partitions") {
			return fmt.Errorf("partitions after the eject still name %s:\n%s", peer(2), out)
		}
		return nil
	})

	// The crashed node's handler answers that it stopped; once it is gone, status says the
	// node is unreachable and fails.
	code, out, errs = legion(t, "status", "-addr", addrs[0]+","+addrs[2])
	if code != 0 || !strings.Contains(out, " stopped ") {
		t.Fatalf("status with node 2 crashed: %d\n%s%s", code, out, errs)
	}
	servers[2].Close()
	code, out, errs = legion(t, "status", "-addr", addrs[0]+","+addrs[2], "-timeout", "2s")
	if code != 1 || !strings.Contains(out, "unreachable") || !strings.Contains(errs, addrs[2]) {
		t.Fatalf("status with node 2's admin API down: %d\n%s%s", code, out, errs)
	}
}

// TestUsage: bad invocations exit 2 with a message.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"nothing"},
		{"eject"},
		{"eject", "a", "b"},
		{"status", "-addr", "ftp://x"},
		{"status", "-addr", ","},
		{"status", "extra"},
		{"partitions", "-limit", "0"},
		{"watch", "-interval", "0s"},
		{"members", "-nosuchflag"},
	} {
		if code, _, errs := legion(t, args...); code != exitUsage || errs == "" {
			t.Errorf("legion %q: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
	if code, _, errs := legion(t, "help"); code != 0 || !strings.Contains(errs, "commands:") {
		t.Errorf("legion help: %d %q", code, errs)
	}
}
