package pebblestore_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/legion-go/legion/storage"
)

// TestGroupCommit: 64 goroutines committing at once cost far fewer WAL fsyncs
// than commits (pebble's commit pipeline syncs the WAL once for every commit
// queued behind the running fsync). Each Commit still returns only after an
// fsync covering it: TestPowerLoss checks that part.
func TestGroupCommit(t *testing.T) {
	s := open(t, t.TempDir(), "n1")
	defer s.Close()
	m0, err := s.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 64, 20
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			p := storage.Partition{Kind: "group", Key: fmt.Sprint(g)}
			var b storage.Batch
			<-start
			for i := range each {
				b.Reset()
				b.PutDelta(p, []byte{byte(i)}, make([]byte, 100))
				b.PutSnapshot(p, make([]byte, 100))
				if err := s.Commit(&b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	m, err := s.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	commits, syncs := m.Commits-m0.Commits, m.WALSyncs-m0.WALSyncs
	t.Logf("%d commits, %d WAL fsyncs (%.1f commits per fsync)", commits, syncs, float64(commits)/float64(syncs))
	if commits != goroutines*each {
		t.Fatalf("Metrics counted %d commits, want %d", commits, goroutines*each)
	}
	if syncs == 0 || syncs > commits/4 {
		t.Fatalf("%d fsyncs for %d concurrent commits: no group commit", syncs, commits)
	}
}
