package pebblestore_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// TestGroupCommit: 64 goroutines committing at once cost far fewer WAL fsyncs
// than commits (pebble's commit pipeline syncs the WAL once for every commit
// queued behind the running fsync). Each Commit still returns only after an
// fsync covering it: TestPowerLoss checks that part.
//
// The WAL's fsync takes a millisecond here, as on a real disk: on tmpfs or a
// write-back cache it returns at once and, with 2 cores under the race
// detector, the committers rarely find one running to queue behind, so the
// count measured the scheduler rather than the pipeline.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	s, err := pebblestore.OpenFS(dir, storage.Options{Node: "n1", Create: true, Logger: testLogger(t)},
		slowSyncFS{FS: vfs.Default, latency: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
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

// slowSyncFS is a disk whose WAL fsync takes latency.
type slowSyncFS struct {
	vfs.FS
	latency time.Duration
}

func (fs slowSyncFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrap(name, f, err)
}

func (fs slowSyncFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrap(newname, f, err)
}

func (fs slowSyncFS) Unwrap() vfs.FS { return fs.FS }

func (fs slowSyncFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return slowSyncFile{File: f, latency: fs.latency}, nil
}

type slowSyncFile struct {
	vfs.File
	latency time.Duration
}

func (f slowSyncFile) Sync() error {
	time.Sleep(f.latency)
	return f.File.Sync()
}

func (f slowSyncFile) SyncData() error {
	time.Sleep(f.latency)
	return f.File.SyncData()
}

func (f slowSyncFile) SyncTo(length int64) (bool, error) {
	time.Sleep(f.latency)
	return f.File.SyncTo(length)
}
