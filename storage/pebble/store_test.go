package pebblestore_test

import (
	"testing"

	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
	"github.com/legion-go/legion/storage/storagetest"
)

// open opens (creating) a store in dir for node, failing the test on error.
func open(t testing.TB, dir, node string) *pebblestore.Store {
	t.Helper()
	s, err := pebblestore.Open(dir, storage.Options{Node: node, Create: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t, t.TempDir(), "n1") })
}

func TestReopen(t *testing.T) {
	storagetest.RunReopen(t,
		func(t *testing.T) storage.Store { return open(t, t.TempDir(), "n1") },
		func(t *testing.T, s storage.Store) storage.Store {
			dir := s.(*pebblestore.Store).Dir()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			s2, err := pebblestore.Open(dir, storage.Options{Node: "n1", Logger: testLogger(t)})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			return s2
		})
}

// TestLargeBatch: a batch larger than half a memtable (which pebble commits
// as a flushable batch of its own) is atomic and durable like any other.
func TestLargeBatch(t *testing.T) {
	dir := t.TempDir()
	s, err := pebblestore.Open(dir, storage.Options{Node: "n1", Create: true, MemTableSize: 1 << 20, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	p := storage.Partition{Kind: "k", Key: "large"}
	var b storage.Batch
	value := make([]byte, 64<<10)
	for i := range 64 { // 4 MiB
		value[0] = byte(i)
		b.PutDelta(p, []byte{byte(i)}, value)
	}
	b.PutSnapshot(p, []byte("s"))
	if err := s.Commit(&b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = pebblestore.Open(dir, storage.Options{Node: "n1", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, _, err := s.Load(p)
	if err != nil || len(r.Deltas) != 64 || string(r.Snapshot) != "s" || r.Deltas[63].Data[0] != 63 {
		t.Fatalf("Load = %d deltas, snapshot %q, %v", len(r.Deltas), r.Snapshot, err)
	}
}
