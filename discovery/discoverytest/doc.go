// Package discoverytest is the conformance suite of membership providers:
// every [discovery.Provider] implementation runs the same cases through
// [Run].
//
// A provider's test package supplies a [Factory] that makes isolated
// clusters (a registry, a Consul service name, a set of gossip seeds) and
// wires [Main] into its TestMain, so that the suite can run a member in a
// separate process and kill it with SIGKILL:
//
//	func TestMain(m *testing.M) { discoverytest.Main(m, factory{}) }
//
//	func TestConformance(t *testing.T) { discoverytest.Run(t, factory{...}) }
//
// The cases: join, graceful leave, crash (detected within
// [Options.Crash]), rejoin of a restarted node (same Peer, new Instance),
// metadata round trip, a provider started while its backend is down
// ([Outage]), a backend restarted under a running cluster
// ([BackendRestarter]), and clean shutdown. Every case checks that no
// goroutine outlives it.
//
// The suite waits for states by polling with a deadline, never by sleeping
// for a fixed time, and logs the measured join, leave and crash-detection
// times.
package discoverytest
