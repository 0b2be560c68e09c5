package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/legion-go/legion/storage"
)

// Run runs the conformance suite. newStore must return a new, empty, open
// store each call; the suite closes it (possibly more than once: Close must be
// idempotent).
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	open := func(t *testing.T) storage.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"Empty", testEmpty},
		{"PutLoad", testPutLoad},
		{"EmptyValues", testEmptyValues},
		{"DeltaOrder", testDeltaOrder},
		{"DeleteDelta", testDeleteDelta},
		{"DeletePartition", testDeletePartition},
		{"OrderWithinBatch", testOrderWithinBatch},
		{"BatchCopies", testBatchCopies},
		{"LoadCopies", testLoadCopies},
		{"Partitions", testPartitions},
		{"PartitionsStop", testPartitionsStop},
		{"PartitionsNested", testPartitionsNested},
		{"Marks", testMarks},
		{"Identity", testIdentity},
		{"AtomicVisibility", testAtomicVisibility},
		{"Concurrency", testConcurrency},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
	t.Run("Closed", func(t *testing.T) { testClosed(t, newStore(t)) })
}

// commit builds a batch with fill and commits it.
func commit(t testing.TB, s storage.Store, fill func(b *storage.Batch)) {
	t.Helper()
	var b storage.Batch
	fill(&b)
	if err := s.Commit(&b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// load loads p, failing the test on error.
func load(t testing.TB, s storage.Store, p storage.Partition) (storage.Replica, bool) {
	t.Helper()
	r, found, err := s.Load(p)
	if err != nil {
		t.Fatalf("Load(%v): %v", p, err)
	}
	return r, found
}

// keysOf lists the partitions of kind.
func keysOf(t testing.TB, s storage.Store, kind string) []string {
	t.Helper()
	var keys []string
	if err := s.Partitions(kind, func(k string) bool { keys = append(keys, k); return true }); err != nil {
		t.Fatalf("Partitions(%q): %v", kind, err)
	}
	return keys
}

// Format renders a replica deterministically, for comparisons and failure
// messages: snapshot=<quoted or none> then one "id=data" per delta.
func Format(r storage.Replica) string {
	var buf bytes.Buffer
	if r.Snapshot == nil {
		buf.WriteString("snapshot=none")
	} else {
		fmt.Fprintf(&buf, "snapshot=%q", r.Snapshot)
	}
	for _, d := range r.Deltas {
		fmt.Fprintf(&buf, " %q=%q", d.ID, d.Data)
	}
	return buf.String()
}

// wantReplica fails unless p holds exactly want (found=false for a zero want).
func wantReplica(t testing.TB, s storage.Store, p storage.Partition, want storage.Replica) {
	t.Helper()
	got, found := load(t, s, p)
	wantFound := want.Snapshot != nil || len(want.Deltas) > 0
	if found != wantFound || Format(got) != Format(want) {
		t.Fatalf("Load(%v) = %s (found=%v), want %s (found=%v)", p, Format(got), found, Format(want), wantFound)
	}
	if !sortedIDs(got.Deltas) {
		t.Fatalf("Load(%v): deltas not in ascending ID order: %s", p, Format(got))
	}
	if !found && (got.Snapshot != nil || got.Deltas != nil) {
		t.Fatalf("Load(%v): found=false with a non-zero replica", p)
	}
}

func sortedIDs(ds []storage.Delta) bool {
	return slices.IsSortedFunc(ds, func(a, b storage.Delta) int { return bytes.Compare(a.ID, b.ID) }) &&
		len(slices.CompactFunc(slices.Clone(ds), func(a, b storage.Delta) bool { return bytes.Equal(a.ID, b.ID) })) == len(ds)
}

func testClosed(t *testing.T, s storage.Store) {
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var b storage.Batch
	b.PutSnapshot(storage.Partition{Kind: "k", Key: "a"}, []byte("x"))
	if err := s.Commit(&b); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if _, _, err := s.Load(storage.Partition{Kind: "k", Key: "a"}); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Load after Close = %v, want ErrClosed", err)
	}
	if err := s.Partitions("k", func(string) bool { return true }); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Partitions after Close = %v, want ErrClosed", err)
	}
	if err := s.Marked(0, 0, func(storage.Mark) bool { return true }); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Marked after Close = %v, want ErrClosed", err)
	}
}
