package discoverytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
)

// startTimeout bounds a call to Provider.Start, which must not wait for the
// backend.
const startTimeout = 5 * time.Second

var nextPort atomic.Int32

// NewMember returns a member with a fresh Peer ("name~" + 6 hex digits), a
// fresh Instance, a unique loopback Address (nothing listens there: the
// suite never dials members) and one kind.
func NewMember(name string) discovery.Member {
	return discovery.Member{
		Peer:     name + "~" + randHex(3),
		Name:     name,
		Instance: randHex(8),
		Address:  "127.0.0.1:" + strconv.Itoa(20000+int(nextPort.Add(1))%40000),
		Kinds:    []string{"counter"},
	}
}

// Restarted returns m as it looks after its node restarted: same Peer and
// Name, new Instance.
func Restarted(m discovery.Member) discovery.Member {
	r := m.Clone()
	r.Instance = randHex(8)
	return r
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// node is a member run by the test process and the last view it received.
// Only the test goroutine uses it: views are read by draining the provider's
// latest-wins channel, so no reader goroutine is needed.
type node struct {
	m      discovery.Member
	p      discovery.Provider
	last   discovery.View
	closed bool // Views was closed
}

// start makes a provider in cl, starts it as m and stops it in t.Cleanup.
func start(t *testing.T, cl Cluster, m discovery.Member) *node {
	t.Helper()
	n := &node{m: m, p: cl.Provider(t)}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	t0 := time.Now()
	if err := n.p.Start(ctx, m); err != nil {
		t.Fatalf("start %s: %v", m.ID(), err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("start %s took %v: Start must not wait for the backend", m.ID(), d)
	}
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop stops the provider (again, harmlessly, if already stopped).
func (n *node) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := n.p.Stop(ctx); err != nil {
		t.Logf("stop %s: %v", n.m.ID(), err)
	}
}

// view returns the newest view received so far.
func (n *node) view() discovery.View {
	for {
		select {
		case v, ok := <-n.p.Views():
			if !ok {
				n.closed = true
				return n.last
			}
			n.last = v
		default:
			return n.last
		}
	}
}

// sees reports whether n's newest view holds exactly want.
func (n *node) sees(want ...discovery.Member) bool {
	return n.view().Equal(discovery.NewView(want))
}

func members(ns ...*node) []discovery.Member {
	out := make([]discovery.Member, len(ns))
	for i, n := range ns {
		out[i] = n.m
	}
	return out
}

// waitAll polls until every node of ns sees exactly want, or fails t after
// timeout. It returns how long it took.
func waitAll(t *testing.T, timeout time.Duration, what string, ns []*node, want []discovery.Member) time.Duration {
	t.Helper()
	return waitFor(t, timeout, what, func() (bool, string) {
		for _, n := range ns {
			if !n.sees(want...) {
				return false, fmt.Sprintf("%s sees %v, want %v", n.m.ID(), n.last, discovery.NewView(want))
			}
		}
		return true, ""
	})
}

// waitFor polls cond every 10ms until it holds, or fails t after timeout
// with cond's last explanation. It returns how long it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	t0 := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return time.Since(t0)
		}
		if time.Since(t0) > timeout {
			t.Fatalf("%s: not within %v: %s", what, timeout, why)
		}
		<-tick.C
	}
}
