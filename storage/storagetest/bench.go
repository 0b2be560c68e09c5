package storagetest

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/legion-go/legion/storage"
)

// CommitConcurrency are the numbers of committing goroutines BenchmarkCommit
// measures.
var CommitConcurrency = []int{1, 8, 64}

// BenchmarkCommit measures Commit of a small batch (one 100-byte delta and a
// 100-byte snapshot put, the shape of persisting one event) with 1, 8 and 64
// goroutines committing at once, each to its own partition. It reports
// commits/s; when syncs is not nil (it returns the store's fsync count so
// far), also syncs/commit, which shows group commit at work.
//
// newStore returns a new, empty, open store; the benchmark closes it.
func BenchmarkCommit(b *testing.B, newStore func(b *testing.B) storage.Store, syncs func(storage.Store) uint64) {
	for _, g := range CommitConcurrency {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			s := newStore(b)
			defer func() {
				if err := s.Close(); err != nil {
					b.Error(err)
				}
			}()
			benchCommit(b, s, g, syncs)
		})
	}
}

func benchCommit(b *testing.B, s storage.Store, goroutines int, syncs func(storage.Store) uint64) {
	payload := make([]byte, 100)
	for i := range payload {
		payload[i] = byte(i)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var syncs0 uint64
	if syncs != nil {
		syncs0 = syncs(s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for w := range goroutines {
		wg.Go(func() {
			p := storage.Partition{Kind: "bench", Key: fmt.Sprintf("p%03d", w)}
			var batch storage.Batch
			id := make([]byte, 8)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				binary.BigEndian.PutUint64(id, uint64(i))
				batch.Reset()
				batch.PutDelta(p, id, payload)
				batch.PutSnapshot(p, payload)
				if err := s.Commit(&batch); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
	if syncs != nil {
		b.ReportMetric(float64(syncs(s)-syncs0)/float64(b.N), "syncs/commit")
	}
}
