// Package memory is an in-memory storage.Store with the semantics of the
// durable one, for unit tests and benchmarks. Nothing survives the process:
// Commit is atomic and isolated but "durable" only in memory.
//
// It is deliberately simple (one read-write mutex, a map per partition), so it
// also serves as the reference the conformance suite (storagetest) holds the
// pebble store to.
package memory
