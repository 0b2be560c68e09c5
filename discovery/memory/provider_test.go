package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/memory"
)

// TestDropRestore: a dropped member leaves the others' views but goes on receiving views
// (which no longer list it); restored, it is listed again.
func TestDropRestore(t *testing.T) {
	ctx := context.Background()
	reg := memory.NewRegistry()
	a, b := reg.Provider(), reg.Provider()
	ma := discovery.Member{Peer: "a~1", Name: "a", Instance: "i", Address: "127.0.0.1:1"}
	mb := discovery.Member{Peer: "b~1", Name: "b", Instance: "i", Address: "127.0.0.1:2"}
	if err := a.Start(ctx, ma); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx, mb); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	defer b.Stop(ctx)
	latest := func(p *memory.Provider, want int) discovery.View {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case v := <-p.Views():
				if len(v.Members) == want {
					return v
				}
			case <-deadline:
				t.Fatalf("no view of %d members", want)
			}
		}
	}
	latest(a, 2)
	if !reg.Drop("b~1") {
		t.Fatal("Drop found no member")
	}
	if v := latest(b, 1); v.Members[0].Peer != "a~1" {
		t.Fatalf("the dropped member sees %v", v)
	}
	latest(a, 1)
	if !reg.Restore("b~1") {
		t.Fatal("Restore found nothing to restore")
	}
	latest(a, 2)
	latest(b, 2)
}
