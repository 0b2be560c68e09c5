package pebblestore_test

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// TestCloseStopsGoroutines: once Close returns, every goroutine of the store
// (pebble's included) has been stopped. A goroutine joined with a WaitGroup
// may still be between its Done and its return, and pebble signals its
// disk-health ticker without joining it (see docs/storage.md); so the check
// yields the processor (runtime.Gosched, no sleep) a bounded number of times
// for such goroutines to return; none is blocked, they only need CPU.
func TestCloseStopsGoroutines(t *testing.T) {
	noStoreGoroutines(t, "before the test (another test leaked)")

	// A failed Open leaves nothing running either.
	dir := created(t)
	for _, p := range glob(t, filepath.Join(dir, pebblestore.PebbleDirName, "MANIFEST-*")) {
		write(t, p, "garbage")
	}
	if _, err := pebblestore.Open(dir, storage.Options{Node: "n1"}); err == nil {
		t.Fatal("Open of a damaged store succeeded")
	}
	noStoreGoroutines(t, "after a failed Open")

	dir = t.TempDir()
	s, err := pebblestore.Open(dir, storage.Options{Node: "n1", Create: true, MemTableSize: 1 << 20, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var b storage.Batch
	for i := range 300 { // enough to rotate a memtable and flush
		b.Reset()
		b.PutSnapshot(storage.Partition{Kind: "k", Key: string(rune('a' + i%26))}, make([]byte, 8<<10))
		if err := s.Commit(&b); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := s.Metrics(); err != nil || m.Pebble.Flush.Count == 0 {
		t.Fatalf("no flush before Close (%v): the test would not cover flush goroutines", err)
	}
	if got := storeGoroutines(); len(got) == 0 {
		t.Fatal("no pebble goroutine while open: the check below would prove nothing")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	noStoreGoroutines(t, "after Close")
}

// noStoreGoroutines fails the test if store goroutines are still running
// after yielding to them a bounded number of times.
func noStoreGoroutines(t *testing.T, when string) {
	t.Helper()
	got := storeGoroutines()
	for i := 0; i < 10000 && len(got) > 0; i++ {
		runtime.Gosched()
		got = storeGoroutines()
	}
	if len(got) > 0 {
		t.Fatalf("goroutines left %s:\n%s", when, strings.Join(got, "\n\n"))
	}
}

// storeGoroutines returns the stacks of running goroutines that are inside
// pebble or this package's non-test code.
func storeGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "cockroachdb/pebble") || strings.Contains(g, "legion/storage/pebble.") {
			out = append(out, g)
		}
	}
	return out
}
