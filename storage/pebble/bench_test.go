package pebblestore_test

import (
	"testing"

	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
	"github.com/legion-go/legion/storage/storagetest"
)

// BenchmarkCommit: see storagetest.BenchmarkCommit. syncs/commit below 1
// is group commit: one WAL fsync covering several goroutines' commits.
func BenchmarkCommit(b *testing.B) {
	storagetest.BenchmarkCommit(b,
		func(b *testing.B) storage.Store { return open(b, b.TempDir(), "bench") },
		func(s storage.Store) uint64 {
			m, err := s.(*pebblestore.Store).Metrics()
			if err != nil {
				b.Fatal(err)
			}
			return m.WALSyncs
		})
}
