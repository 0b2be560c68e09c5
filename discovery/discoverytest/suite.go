package discoverytest

import (
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
)

// Factory makes the clusters of one provider implementation.
type Factory interface {
	// NewCluster returns an empty cluster for one test case, isolated from
	// every other cluster of the test binary. Its resources are released by
	// t.Cleanup.
	NewCluster(t *testing.T) Cluster
	// FromSpec returns an unstarted provider for a member of the cluster
	// described by spec (see [Cluster.Spec]). It runs in a member child
	// process, where no *testing.T exists.
	FromSpec(spec string) (discovery.Provider, error)
	// Options returns the suite's bounds for this implementation.
	Options() Options
}

// Cluster is the backend of one test case.
type Cluster interface {
	// Provider returns a new, unstarted provider for one more member.
	Provider(t *testing.T) discovery.Provider
	// Spec describes the cluster to [Factory.FromSpec] in a member child
	// process. A cluster that implements [Crasher] may return "".
	Spec() string
}

// Crasher is implemented by clusters whose members can crash inside the test
// process (the in-memory registry). Other clusters crash a member by running
// it in a child process and killing that with SIGKILL.
type Crasher interface {
	// Crash makes every instance of peer vanish without leaving.
	Crash(t *testing.T, peer string)
}

// Outage is implemented by clusters whose backend can be unreachable when a
// provider starts.
type Outage interface {
	// Down makes the backend unreachable for the providers made next (Consul:
	// the agent is stopped; gossip: their seed address has no listener yet).
	Down(t *testing.T)
	// Up makes it reachable again (Consul: the agent starts; gossip: the next
	// provider made listens on that seed address). Providers started while it
	// was down must join without being restarted.
	Up(t *testing.T)
}

// BackendRestarter is implemented by clusters whose backend can restart
// under running members and forget them (a Consul agent in dev mode).
type BackendRestarter interface {
	RestartBackend(t *testing.T)
}

// Options are the bounds the suite holds an implementation to. Zero fields
// take their defaults.
type Options struct {
	// Converge bounds how long a join or a graceful leave takes to reach
	// every member's view. Default 10s.
	Converge time.Duration
	// Crash bounds how long a killed member takes to leave every view.
	// Default 10s.
	Crash time.Duration
	// IgnoreGoroutines lists substrings of goroutine stacks that the leak
	// check ignores: goroutines of test helpers that outlive a case on
	// purpose (e.g. the process waiter of a restarted Consul agent).
	IgnoreGoroutines []string
}

func (o Options) withDefaults() Options {
	if o.Converge == 0 {
		o.Converge = 10 * time.Second
	}
	if o.Crash == 0 {
		o.Crash = 10 * time.Second
	}
	return o
}

// Run runs every conformance case against the implementation f makes, each
// as a subtest with its own cluster.
func Run(t *testing.T, f Factory) {
	s := &suite{f: f, opts: f.Options().withDefaults()}
	cases := []struct {
		name string
		run  func(*testing.T)
	}{
		{"Join", s.join},
		{"GracefulLeave", s.gracefulLeave},
		{"Crash", s.crash},
		{"Rejoin", s.rejoin},
		{"Metadata", s.metadata},
		{"StartWhileBackendDown", s.backendDown},
		{"BackendRestart", s.backendRestart},
		{"Shutdown", s.shutdown},
		{"Misuse", s.misuse},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkLeaks(t, s.opts.IgnoreGoroutines) // first: its cleanup runs last
			c.run(t)
		})
	}
}

type suite struct {
	f    Factory
	opts Options
}
