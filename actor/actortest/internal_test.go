package actortest

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/lattice"
)

// recorder is a testing.TB that records what is logged and the cleanups registered; any
// other method panics (the embedded TB is nil).
type recorder struct {
	testing.TB
	mu       sync.Mutex
	lines    []string
	cleanups []func()
}

func (r *recorder) Log(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, a := range args {
		b.WriteString(a.(string))
	}
	r.lines = append(r.lines, b.String())
}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recorder) logged() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

// TestLogSink: a node logger writes each record at its level or above as one line of the
// test's log, prefixed with the node's name, and nothing once the test's cleanup ran (when
// t.Log would panic), even from goroutines still logging.
func TestLogSink(t *testing.T) {
	rec := &recorder{}
	sink := newLogSink(rec)
	log := sink.logger("n7", slog.LevelInfo)
	log.Debug("hidden")
	log.With("peer", "n7~x").Warn("something", "n", 3)
	got := rec.logged()
	if len(got) != 1 || !strings.HasPrefix(got[0], "n7: time=") ||
		!strings.Contains(got[0], `level=WARN msg=something peer=n7~x n=3`) || strings.Contains(got[0], "\n") {
		t.Fatalf("logged %q", got)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					log.Info("busy")
				}
			}
		})
	}
	for _, f := range slices.Backward(rec.cleanups) {
		f()
	}
	after := len(rec.logged())
	time.Sleep(10 * time.Millisecond) // let the loggers run on after the close
	close(stop)
	wg.Wait()
	if n := len(rec.logged()); n != after {
		t.Fatalf("%d lines logged after the test's cleanup", n-after)
	}
}

// TestViewProviderFilters: the provider forwards the registry's views through its
// filter, from the first view on, again at each registry change and at each refresh
// (latest wins), and Stop closes its views after its goroutine exited. Run under -race
// with refreshes racing registry changes.
func TestViewProviderFilters(t *testing.T) {
	ctx := context.Background()
	reg := memory.NewRegistry()
	member := func(name string) discovery.Member {
		return discovery.Member{Peer: name + "~1", Name: name, Instance: "i", Address: "127.0.0.1:1", Kinds: []string{"k"}}
	}
	other := reg.Provider()
	if err := other.Start(ctx, member("b")); err != nil {
		t.Fatal(err)
	}
	defer other.Stop(ctx)
	var mu sync.Mutex
	hide := map[string]bool{"b": true}
	p := newViewProvider(reg.Provider(), func(v discovery.View) discovery.View {
		mu.Lock()
		defer mu.Unlock()
		var out []discovery.Member
		for _, m := range v.Members {
			if !hide[m.Name] {
				out = append(out, m)
			}
		}
		return discovery.View{Members: out}
	})
	if err := p.Start(ctx, member("a")); err != nil {
		t.Fatal(err)
	}
	next := func(want ...string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case v := <-p.Views():
				var names []string
				for _, m := range v.Members {
					names = append(names, m.Name)
				}
				if slices.Equal(names, want) {
					return
				}
				if slices.Contains(names, "b") && hide["b"] {
					t.Fatalf("a view listed a hidden member: %v", names)
				}
			case <-deadline:
				t.Fatalf("no view of %v", want)
			}
		}
	}
	next("a") // the first view already filtered
	third := reg.Provider()
	if err := third.Start(ctx, member("c")); err != nil {
		t.Fatal(err)
	}
	next("a", "c")
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 100 {
			p.refresh()
		}
	})
	wg.Go(func() {
		for range 20 {
			reg.Drop("c~1")
			reg.Restore("c~1")
		}
	})
	wg.Wait()
	mu.Lock()
	hide = map[string]bool{}
	mu.Unlock()
	p.refresh()
	next("a", "b", "c")
	third.Stop(ctx)
	next("a", "b")
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for range p.Views() { // drains, then ends: closed
	}
}

// TestSplitCutsLinks: under a Split, every message between nodes of different groups is
// dropped, both ways, and none within a group; nodes named in no group are a group; a
// cut link stays cut after HealSplit, and a crashed node's messages are all dropped.
func TestSplitCutsLinks(t *testing.T) {
	c := &Cluster{t: t, links: map[[2]lattice.Peer]link{}, byPeer: map[lattice.Peer]int{}}
	peer := func(i int) lattice.Peer { return lattice.Peer(string(rune('a'+i)) + "~1") }
	for i := range 6 {
		c.slots = append(c.slots, &slot{pos: i})
		c.byPeer[peer(i)] = i
	}
	dropped := func(i, j int) bool { return c.decide(i, peer(i), peer(j)).Drop }
	c.Split([]int{0, 1, 2}, []int{3})
	group := func(i int) int { // 4 and 5: named in no group
		switch {
		case i < 3:
			return 0
		case i == 3:
			return 1
		}
		return 2
	}
	for i := range 6 {
		for j := range 6 {
			if i != j && dropped(i, j) != (group(i) != group(j)) {
				t.Fatalf("%d to %d: dropped %v under the split", i, j, dropped(i, j))
			}
		}
	}
	c.links[[2]lattice.Peer{peer(0), peer(1)}] = link{cut: true}
	c.HealSplit()
	for i := range 6 {
		for j := range 6 {
			if i != j && dropped(i, j) != (i == 0 && j == 1) {
				t.Fatalf("%d to %d: dropped %v after the heal", i, j, dropped(i, j))
			}
		}
	}
	c.slots[2].down = true
	if !dropped(2, 3) || !dropped(3, 2) || dropped(3, 4) {
		t.Fatal("a crashed node's links are not all cut")
	}
}
