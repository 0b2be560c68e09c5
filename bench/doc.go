// Package bench compares the counter example (examples/counter: three node processes,
// R = 3, pebble stores, gossip) with the architecture it replaces: a stateless Go
// service, three instances behind the same HTTP API, on PostgreSQL (a one-statement
// atomic upsert, and the naive read-then-write that loses updates) and on Redis (INCRBY,
// appendfsync always). One load generator drives every system with the same workloads,
// the systems alternate run by run, and [Table] prints the figures as ranges over the
// rounds: rate, p50, p99, and the acknowledged increments missing from the final counts.
//
// It is a module of its own (github.com/legion-go/legion/bench) so that the framework's
// go.mod never names a database driver. It does not import the framework: it builds
// examples/counter from the repository (the parent of this module's directory) and talks
// to it over HTTP, as a client would.
//
// The database servers are Debian's packages, installed by scripts/install.sh and run
// privately by scripts/start.sh (loopback, free ports, data under a temporary directory)
// and scripts/stop.sh. The command, in docs/performance.md:
//
//	cd bench && go run ./cmd/legion-bench -rounds 3 -duration 4s
//
// [Profile] measures where the time goes in the counter's nodes: CPU profiles and
// execution traces of every node (their -pprof endpoint), CPU time, replication messages
// and bytes per increment, and, with strace, fsyncs per increment.
//
// [Scale] is the benchmark at scale (issue #25): three nodes at each stored count of
// counters, their memory and disk once idle, a restart's time to ready, and loads on
// random and on hot counters (legion-bench scale; docs/performance.md, "At scale").
//
// Every node and service instance the package starts is its child, is stopped when the
// run ends (SIGTERM, then SIGKILL), and dies with it (Pdeathsig) if the harness itself is
// killed. The database servers run as daemons: stop.sh stops them when the run ends or
// is interrupted (SIGINT, SIGTERM); after a SIGKILL of the harness, run
// scripts/stop.sh on the directory it printed.
package bench
