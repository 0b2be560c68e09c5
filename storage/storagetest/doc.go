// Package storagetest is the conformance suite every storage.Store
// implementation passes: Run for the semantics any store must have,
// RunReopen for persistence across Close and reopen, BenchmarkCommit for the
// commit throughput figures.
//
// The memory store is the reference: a behaviour the suite checks is one both
// stores share.
package storagetest
