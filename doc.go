// Package legion is the root of Legion for Go, a framework for horizontally scalable,
// stateful services: each partition of a user-defined kind lives as a replicated virtual
// actor on the nodes that own it, and replicas converge by folding one event log.
//
// The packages, from the bottom up (imports point down only; deps_test.go checks it):
//
//	lattice    the event fold each replica holds: pure, generic, no I/O
//	gc         decisions about ejecting dead peers and handing partitions off: pure
//	discovery  membership (the vocabulary, an in-memory provider; consul/ and gossip/)
//	storage    the durable store behind a small interface (pebble/ and memory/)
//	actor      the runtime on Proto.Actor: grains, placement, replication, the client
//	examples/  what users write
//
// Start with README.md and docs/.
package legion
