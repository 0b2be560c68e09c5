package discoverytest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
)

func (s *suite) join(t *testing.T) {
	cl := s.f.NewCluster(t)
	a := start(t, cl, NewMember("a"))
	waitAll(t, s.opts.Converge, "a sees itself", []*node{a}, members(a))
	b := start(t, cl, NewMember("b"))
	c := start(t, cl, NewMember("c"))
	all := []*node{a, b, c}
	d := waitAll(t, s.opts.Converge, "join", all, members(all...))
	t.Logf("3 members converged %v after the last start", d)

	v := a.view()
	for _, n := range all {
		got, ok := v.Lookup(n.m.Peer)
		if !ok || !got.Equal(n.m) {
			t.Errorf("Lookup(%q) = %v, %v; want %v", n.m.Peer, got, ok, n.m)
		}
	}
	if _, ok := v.Lookup("nobody~000000"); ok {
		t.Errorf("Lookup of an unknown peer succeeded")
	}
}

func (s *suite) gracefulLeave(t *testing.T) {
	cl := s.f.NewCluster(t)
	a, b, c := start(t, cl, NewMember("a")), start(t, cl, NewMember("b")), start(t, cl, NewMember("c"))
	waitAll(t, s.opts.Converge, "join", []*node{a, b, c}, members(a, b, c))
	c.stop(t)
	if c.view(); !c.closed {
		t.Errorf("Views of a stopped provider is not closed")
	}
	d := waitAll(t, s.opts.Converge, "leave", []*node{a, b}, members(a, b))
	t.Logf("graceful leave seen by all in %v", d)
}

// victim is a member the suite crashes: in process if the cluster is a
// Crasher, else in a child process killed with SIGKILL.
type victim struct {
	m    discovery.Member
	proc *Process
}

func startVictim(t *testing.T, cl Cluster, m discovery.Member) *victim {
	t.Helper()
	if _, ok := cl.(Crasher); ok {
		start(t, cl, m)
		return &victim{m: m}
	}
	return &victim{m: m, proc: Spawn(t, cl.Spec(), m)}
}

func (v *victim) kill(t *testing.T, cl Cluster) {
	t.Helper()
	if v.proc != nil {
		v.proc.Kill(t)
		return
	}
	cl.(Crasher).Crash(t, v.m.Peer)
}

func (s *suite) crash(t *testing.T) {
	cl := s.f.NewCluster(t)
	a, b := start(t, cl, NewMember("a")), start(t, cl, NewMember("b"))
	c := startVictim(t, cl, NewMember("c"))
	waitAll(t, s.opts.Converge, "join", []*node{a, b}, append(members(a, b), c.m))
	c.kill(t, cl)
	d := waitAll(t, s.opts.Crash, "crash detection", []*node{a, b}, members(a, b))
	t.Logf("crash detected by all in %v", d)
}

func (s *suite) rejoin(t *testing.T) {
	cl := s.f.NewCluster(t)
	a, b := start(t, cl, NewMember("a")), start(t, cl, NewMember("b"))
	c := startVictim(t, cl, NewMember("c"))
	waitAll(t, s.opts.Converge, "join", []*node{a, b}, append(members(a, b), c.m))
	c.kill(t, cl)
	c2 := start(t, cl, Restarted(c.m))
	d := waitAll(t, s.opts.Crash+s.opts.Converge, "rejoin", []*node{a, b, c2}, members(a, b, c2))
	t.Logf("restarted member replaced its old instance everywhere in %v", d)
	if got, _ := a.view().Lookup(c.m.Peer); got.Instance != c2.m.Instance {
		t.Errorf("Lookup(%q).Instance = %q, want the new %q", c.m.Peer, got.Instance, c2.m.Instance)
	}
}

// OddMember returns a member whose kinds and metadata hold characters that
// naive encodings lose: separators, escapes, spaces, newlines, non-ASCII,
// empty values, and keys that look like the encoding's own.
func OddMember(name string) discovery.Member {
	m := NewMember(name)
	m.Kinds = []string{"counter", "a,b%2C", "ünï/cødé", "with space", "%"}
	m.Meta = map[string]string{
		"http":               "127.0.0.1:8080",
		"odd key/=,%_":       "välue = & % , / \"quoted\"\nsecond line",
		"empty":              "",
		"m-prefix":           "looks encoded",
		"kinds":              "not the kinds",
		"_41":                "looks escaped",
		"日本":                 "語",
		"UPPER-lower_123.45": "x",
	}
	return m
}

func (s *suite) metadata(t *testing.T) {
	cl := s.f.NewCluster(t)
	a := start(t, cl, OddMember("odd"))
	plain := NewMember("plain")
	plain.Kinds, plain.Meta = nil, nil // a client-only member
	b := start(t, cl, plain)
	waitAll(t, s.opts.Converge, "metadata round trip", []*node{a, b}, members(a, b))
}

func (s *suite) backendDown(t *testing.T) {
	cl := s.f.NewCluster(t)
	o, ok := cl.(Outage)
	if !ok {
		t.Skip("this provider has no backend that can be down")
	}
	o.Down(t)
	a := start(t, cl, NewMember("early")) // start checks that Start does not wait
	o.Up(t)
	b := start(t, cl, NewMember("late"))
	d := waitAll(t, s.opts.Converge, "join after the backend came up", []*node{a, b}, members(a, b))
	t.Logf("member started while the backend was down joined %v after it came up", d)
}

func (s *suite) backendRestart(t *testing.T) {
	cl := s.f.NewCluster(t)
	r, ok := cl.(BackendRestarter)
	if !ok {
		t.Skip("this provider has no backend to restart")
	}
	a, b, c := start(t, cl, NewMember("a")), start(t, cl, NewMember("b")), start(t, cl, NewMember("c"))
	waitAll(t, s.opts.Converge, "join", []*node{a, b, c}, members(a, b, c))
	t0 := time.Now()
	r.RestartBackend(t)
	t.Logf("backend restarted in %v", time.Since(t0))
	// d knows only what the restarted backend knows: seeing a, b and c
	// proves they registered again; their seeing d proves their watches
	// resumed.
	d := start(t, cl, NewMember("d"))
	took := waitAll(t, s.opts.Converge, "members re-registered", []*node{a, b, c, d}, members(a, b, c, d))
	t.Logf("cluster whole again %v after the backend restart", took)
}

func (s *suite) shutdown(t *testing.T) {
	cl := s.f.NewCluster(t)
	ns := []*node{start(t, cl, NewMember("a")), start(t, cl, NewMember("b")), start(t, cl, NewMember("c"))}
	waitAll(t, s.opts.Converge, "join", ns, members(ns...))
	// Stop every provider twice, all concurrently, while a reader drains its views.
	var wg sync.WaitGroup
	for _, n := range ns {
		ch := n.p.Views()
		wg.Go(func() {
			for range ch { // ends when Stop closes the channel
			}
		})
		for range 2 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				if err := n.p.Stop(ctx); err != nil {
					t.Errorf("stop %s: %v", n.m.ID(), err)
				}
			})
		}
	}
	wg.Wait()
	for _, n := range ns {
		if err := n.p.Stop(context.Background()); err != nil {
			t.Errorf("second stop of %s: %v", n.m.ID(), err)
		}
	}
}

func (s *suite) misuse(t *testing.T) {
	cl := s.f.NewCluster(t)
	ctx := context.Background()
	bad := []discovery.Member{{}, NewMember("x"), NewMember("y"), NewMember("z")}
	bad[1].Peer = "a/b"
	bad[2].Address = "no-port"
	bad[3].Kinds = []string{""}
	for _, m := range bad {
		p := cl.Provider(t)
		if err := p.Start(ctx, m); !errors.Is(err, discovery.ErrInvalidMember) {
			t.Errorf("Start(%+v) = %v, want ErrInvalidMember", m, err)
		}
		mustStop(t, p)
	}

	p := cl.Provider(t)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Start(canceled, NewMember("c")); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a canceled context = %v, want context.Canceled", err)
	}
	mustStop(t, p)

	n := start(t, cl, NewMember("twice"))
	if err := n.p.Start(ctx, n.m); !errors.Is(err, discovery.ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	mustStop(t, n.p)
	if err := n.p.Start(ctx, n.m); !errors.Is(err, discovery.ErrStopped) {
		t.Errorf("Start after Stop = %v, want ErrStopped", err)
	}
}

// mustStop stops p and checks that its Views channel is closed.
func mustStop(t *testing.T, p discovery.Provider) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	for range p.Views() { // a view may still be buffered; then it must close
	}
}
