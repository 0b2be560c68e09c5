package pebblestore_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// TestCorruptTable damages an sstable's data block: Load reports ErrCorrupt
// (pebble's block checksum) rather than wrong data or a crash.
func TestCorruptTable(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, "n1")
	p := storage.Partition{Kind: "k", Key: "a"}
	var b storage.Batch
	rng := rand.NewChaCha8([32]byte{1})
	filler, snap := make([]byte, 8192), make([]byte, 4096)
	_, _ = rng.Read(filler) // incompressible: the table holds them whole
	_, _ = rng.Read(snap)
	// The filler sorts between the store's identity record and p, so that p
	// sits in a data block of its own and Open does not read it.
	b.PutSnapshot(storage.Partition{Kind: "k", Key: "0"}, filler)
	b.PutSnapshot(p, snap)
	if err := s.Commit(&b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening replays the WAL into an sstable.
	s = open(t, dir, "n1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tables := glob(t, filepath.Join(dir, pebblestore.PebbleDirName, "*.sst"))
	for _, path := range tables {
		data := read(t, path)
		i := bytes.Index(data, snap[:64])
		if i < 0 {
			t.Fatalf("%s does not hold the snapshot's bytes", path)
		}
		data[i+100] ^= 0xFF
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := pebblestore.Open(dir, storage.Options{Node: "n1", Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	_, _, err = s.Load(p)
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("Load from a damaged table = %v, want ErrCorrupt", err)
	}
	t.Logf("Load: %v", err)
}
