package storagetest

import (
	"fmt"
	"testing"

	"github.com/legion-go/legion/storage"
)

// RunReopen checks persistence: what was committed before Close is loaded
// after reopening, with the same identity. newStore returns a new, empty,
// open store; reopen closes the store it is given and opens the same data
// again. The suite closes the store it ends with.
func RunReopen(t *testing.T, newStore func(t *testing.T) storage.Store, reopen func(t *testing.T, s storage.Store) storage.Store) {
	s := newStore(t)
	defer func() { _ = s.Close() }()
	id := s.Identity()

	want := map[storage.Partition]storage.Replica{}
	put := func(p storage.Partition, r storage.Replica) {
		commit(t, s, func(b *storage.Batch) {
			b.DeletePartition(p)
			if r.Snapshot != nil {
				b.PutSnapshot(p, r.Snapshot)
			}
			for _, dl := range r.Deltas {
				b.PutDelta(p, dl.ID, dl.Data)
			}
		})
		want[p] = r
	}
	for i, key := range Tricky {
		r := storage.Replica{Deltas: []storage.Delta{d("1", "one"), d(key, "tricky id")}}
		sortDeltas(r.Deltas)
		if i%2 == 0 {
			r.Snapshot = []byte(fmt.Sprintf("snap %d", i))
		}
		put(storage.Partition{Kind: "reopen", Key: key}, r)
	}
	put(storage.Partition{Kind: "reopen", Key: "deleted"}, storage.Replica{Snapshot: []byte("x")})
	put(storage.Partition{Kind: "reopen", Key: "deleted"}, storage.Replica{})
	delete(want, storage.Partition{Kind: "reopen", Key: "deleted"})

	mark := storage.Mark{Reason: 9, Due: -5, Partition: storage.Partition{Kind: "reopen", Key: "\x00marked"}}
	commit(t, s, func(b *storage.Batch) { b.Mark(mark.Reason, mark.Due, mark.Partition) })
	check := func() {
		t.Helper()
		if got := marksOf(t, s, mark.Reason, 0); len(got) != 1 || got[0] != mark {
			t.Fatalf("Marked after reopen = %v, want %v", got, mark)
		}
		if got := s.Identity(); got != id {
			t.Fatalf("Identity after reopen = %+v, want %+v", got, id)
		}
		for p, r := range want {
			wantReplica(t, s, p, r)
		}
		if keys := keysOf(t, s, "reopen"); len(keys) != len(want) {
			t.Fatalf("Partitions(reopen) after reopen lists %d, want %d", len(keys), len(want))
		}
	}
	for round := range 3 {
		s = reopen(t, s)
		check()
		// Keep writing after reopening.
		p := storage.Partition{Kind: "reopen", Key: fmt.Sprintf("round %d", round)}
		put(p, storage.Replica{Snapshot: []byte("r"), Deltas: []storage.Delta{d("1", "x")}})
	}
}
