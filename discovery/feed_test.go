package discovery_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/legion-go/legion/discovery"
)

// gen returns a view whose single member's Instance is the generation n.
func gen(n int) discovery.View {
	return discovery.NewView([]discovery.Member{mem("p", strconv.Itoa(n))})
}

func TestFeedLatestWins(t *testing.T) {
	f := discovery.NewFeed()
	for i := 1; i <= 3; i++ {
		if !f.Publish(gen(i)) {
			t.Fatalf("Publish(%d) = false", i)
		}
	}
	if v := <-f.C(); !v.Equal(gen(3)) {
		t.Errorf("slow reader got %v, want the newest %v", v, gen(3))
	}
	if f.Publish(gen(3)) {
		t.Error("republishing an equal view succeeded")
	}
	select {
	case v := <-f.C():
		t.Errorf("unexpected view %v", v)
	default:
	}
	if last, ok := f.Last(); !ok || !last.Equal(gen(3)) {
		t.Errorf("Last = %v, %v", last, ok)
	}
	f.Publish(gen(4))
	f.Close()
	f.Close()
	if f.Publish(gen(5)) {
		t.Error("Publish after Close succeeded")
	}
	if v, ok := <-f.C(); !ok || !v.Equal(gen(4)) {
		t.Errorf("view buffered before Close: %v, %v", v, ok)
	}
	if _, ok := <-f.C(); ok {
		t.Error("channel not closed")
	}
}

// TestFeedNeverGoesBack has concurrent publishers of increasing generations
// (serialised by a counter) and a reader that must see them in order.
func TestFeedNeverGoesBack(t *testing.T) {
	f := discovery.NewFeed()
	const n = 2000
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				mu.Lock()
				if next == n {
					mu.Unlock()
					return
				}
				next++
				f.Publish(gen(next)) // under mu: generations are published in order
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := 0
		for v := range f.C() {
			g, _ := strconv.Atoi(v.Members[0].Instance)
			if g <= last {
				t.Errorf("generation %d after %d", g, last)
			}
			last = g
		}
		if last != n {
			t.Errorf("last generation seen %d, want %d", last, n)
		}
	}()
	wg.Wait()
	f.Close()
	<-done
}
