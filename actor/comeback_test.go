package actor

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// TestEjectedNodeComesBack: a node is cut off and reported gone; the others eject it and
// move on. Meanwhile its own clients keep writing to it, and it acknowledges (its replicas
// accept fast calls alone). When it comes back on its data directory, its replicas learn
// they were ejected, propose those events again to the current replicas, and discard
// their copies: every increment acknowledged on either side ends on every replica, once.
func TestEjectedNodeComesBack(t *testing.T) { testComeback(t, true) }

// TestDroppedNodeRelisted: the same, but the node never stops: membership drops it while
// it runs (cut off, its clients still writing to it) and lists it again later. Seeing itself
// listed again, it resynchronises its replicas, which find they were ejected.
func TestDroppedNodeRelisted(t *testing.T) { testComeback(t, false) }

func testComeback(t *testing.T, restart bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	reg := memory.NewRegistry()
	dir := t.TempDir()
	cfg := func(name string) Config {
		return Config{Name: name, Membership: reg.Provider(), Kinds: []KindSpec{plusKind},
			AttemptTimeout: 300 * time.Millisecond, AntiEntropyInterval: 50 * time.Millisecond,
			EjectAfter: time.Second, GCInterval: 100 * time.Millisecond}
	}
	var nodes []*Node
	for i := range 3 {
		n, err := Start(ctx, cfg(fmt.Sprintf("s%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Stop(context.Background()) })
		nodes = append(nodes, n)
	}
	openStore := func() storage.Store {
		s, err := pebblestore.Open(dir, storage.Options{Node: "z", Create: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	zc := cfg("z")
	zc.Store = openStore()
	first := zc.Store
	t.Cleanup(func() { first.Close() })
	z, err := Start(ctx, zc)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append(nodes, z) {
		if err := n.WaitForMembers(ctx, "plus", 4); err != nil {
			t.Fatal(err)
		}
	}
	// Counters that z replicates.
	var keys []string
	for i := 0; len(keys) < 5; i++ {
		k := fmt.Sprintf("k%d", i)
		if slices.Contains(RefOf(z, plusKind, k).Replicas(), z.peer) {
			keys = append(keys, k)
		}
	}
	// Create them first with queries, retried until they answer (a query logs nothing,
	// so retrying it cannot count twice): a brand-new partition needs every replica to
	// answer within the short attempt timeout, which a loaded machine can miss.
	for _, k := range keys {
		for {
			if _, err := RefOf(nodes[0], plusKind, k).Query(ctx, wrapperspb.Int64(0), Projected); err == nil {
				break
			} else if ctx.Err() != nil {
				t.Fatal(err)
			}
		}
	}
	acked := map[string]int64{}
	for _, k := range keys {
		if _, err := RefOf(nodes[0], plusKind, k).Call(ctx, wrapperspb.Int64(1), Consistent); err != nil {
			t.Fatal(err)
		}
		acked[k]++
	}

	// z is cut off and reported gone; its own clients keep calling it directly.
	for _, n := range nodes {
		n.setLinkFilter(func(to lattice.Peer) bool { return to != z.peer })
	}
	z.setLinkFilter(func(to lattice.Peer) bool { return to == z.peer })
	if restart {
		reg.Kill(string(z.peer))
	} else {
		reg.Drop(string(z.peer))
	}
	ev, _ := proto.Marshal(wrapperspb.Int64(1))
	for round := range 3 {
		for _, k := range keys {
			set := peerStrings(RefOf(nodes[0], plusKind, k).Replicas())
			msg := &wire.Call{To: &wire.Target{Kind: "plus", Key: k, Peer: string(z.peer)}, Event: ev,
				Req: fmt.Sprintf("z-%s-%d", k, round), ReplicaSet: append(set, string(z.peer))}
			res, err := z.attempt(ctx, z.peer, msg)
			if err != nil {
				t.Fatalf("call to the cut-off node: %v", err)
			}
			if e := fromWire(res.(*wire.CallReply).GetError()); e != nil {
				t.Fatalf("call to the cut-off node: %v", e)
			}
			acked[k]++
		}
		for _, k := range keys { // and the others go on too
			if _, err := RefOf(nodes[round%3], plusKind, k).Call(ctx, wrapperspb.Int64(1), Fast); err != nil {
				t.Fatal(err)
			}
			acked[k]++
		}
	}
	// The others eject z: its replicas leave every partition's participants.
	waitFor(t, 30*time.Second, func() error {
		for _, n := range nodes {
			if len(n.Replicas()) < len(keys) {
				return fmt.Errorf("%s describes %d replicas", n.peer, len(n.Replicas()))
			}
			for _, r := range n.Replicas() {
				if slices.Contains(r.Participants, z.peer) || r.Pending > 0 {
					return fmt.Errorf("%s on %s: participants %v, pending %d", r.Key, n.peer, r.Participants, r.Pending)
				}
			}
		}
		return nil
	})

	// Every replica holds what the others acknowledged, not what z did alone.
	for _, k := range keys {
		ref := RefOf(nodes[0], plusKind, k)
		for _, p := range ref.Replicas() {
			out, err := ref.QueryReplica(ctx, p, wrapperspb.Int64(0), Stable)
			if err != nil || out.Value != acked[k]-3 {
				t.Fatalf("after the ejection, %s on %s: %v, %v; want %d", k, p, out, err, acked[k]-3)
			}
		}
	}
	z2 := z
	if restart {
		// z comes back on its data directory, as the same peer.
		z.Stop(ctx)
		zc.Store.Close()
		for _, n := range nodes { // the partition is over
			n.setLinkFilter(nil)
		}
		zc = cfg("z")
		zc.Store = openStore()
		t.Cleanup(func() { zc.Store.Close() })
		if z2, err = Start(ctx, zc); err != nil {
			t.Fatal(err)
		}
		if z2.peer != z.peer {
			t.Fatalf("came back as %s, was %s", z2.peer, z.peer)
		}
	} else {
		// The partition is over and membership lists z again.
		for _, n := range nodes {
			n.setLinkFilter(nil)
		}
		z.setLinkFilter(nil)
		reg.Restore(string(z.peer))
	}
	t.Cleanup(func() { z2.Stop(context.Background()) })
	waitFor(t, 30*time.Second, func() error {
		for _, k := range keys {
			ref := RefOf(nodes[0], plusKind, k)
			for _, p := range ref.Replicas() {
				out, err := ref.QueryReplica(ctx, p, wrapperspb.Int64(0), Stable)
				if err != nil {
					return err
				}
				if out.Value != acked[k] {
					var desc string
					for _, n := range append(slices.Clone(nodes), z2) {
						for _, r := range n.Replicas() {
							if r.Key == k {
								desc += fmt.Sprintf(" [%s: parts %v joining %v leaving %v pending %d owed %v]", n.peer, r.Participants, r.Joining, r.Leaving, r.Pending, r.Owed)
							}
						}
					}
					return fmt.Errorf("%s on %s: %d, want %d;%s", k, p, out.Value, acked[k], desc)
				}
			}
		}
		return nil
	})
}

func waitFor(t *testing.T, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
