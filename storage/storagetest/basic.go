package storagetest

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/legion-go/legion/storage"
)

// Tricky holds strings that break naive key layouts: separators, escape and
// terminator bytes, strings that are prefixes of one another, empty.
var Tricky = []string{
	"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "\xff", "\xff\xff",
	"a", "a\x00", "a\x00\x01", "a\x00\x01b", "a\x00b", "a\x01", "a/b", "a/", "/b",
	"ab", "b", "p", "é", "a~b", "a\x00\x02",
}

func d(id, data string) storage.Delta { return storage.Delta{ID: []byte(id), Data: []byte(data)} }

func testEmpty(t *testing.T, s storage.Store) {
	wantReplica(t, s, storage.Partition{Kind: "k", Key: "a"}, storage.Replica{})
	wantReplica(t, s, storage.Partition{}, storage.Replica{})
	if keys := keysOf(t, s, "k"); len(keys) != 0 {
		t.Fatalf("Partitions on an empty store = %q", keys)
	}
	if err := s.Commit(&storage.Batch{}); err != nil {
		t.Fatalf("Commit(empty batch): %v", err)
	}
	if err := s.Commit(nil); err != nil {
		t.Fatalf("Commit(nil): %v", err)
	}
}

func testPutLoad(t *testing.T, s storage.Store) {
	p := storage.Partition{Kind: "counter", Key: "a"}
	commit(t, s, func(b *storage.Batch) {
		b.PutSnapshot(p, []byte("s1"))
		b.PutDelta(p, []byte("1"), []byte("d1"))
		b.PutDelta(p, []byte("2"), []byte("d2"))
	})
	wantReplica(t, s, p, storage.Replica{Snapshot: []byte("s1"), Deltas: []storage.Delta{d("1", "d1"), d("2", "d2")}})

	commit(t, s, func(b *storage.Batch) {
		b.PutSnapshot(p, []byte("s2"))
		b.PutDelta(p, []byte("2"), []byte("d2'"))
	})
	wantReplica(t, s, p, storage.Replica{Snapshot: []byte("s2"), Deltas: []storage.Delta{d("1", "d1"), d("2", "d2'")}})

	// Only deltas, only a snapshot.
	q := storage.Partition{Kind: "counter", Key: "b"}
	commit(t, s, func(b *storage.Batch) { b.PutDelta(q, []byte("x"), []byte("y")) })
	wantReplica(t, s, q, storage.Replica{Deltas: []storage.Delta{d("x", "y")}})
	r := storage.Partition{Kind: "counter", Key: "c"}
	commit(t, s, func(b *storage.Batch) { b.PutSnapshot(r, []byte("only")) })
	wantReplica(t, s, r, storage.Replica{Snapshot: []byte("only")})
}

// testEmptyValues: an empty snapshot is a snapshot (non-nil, found), empty ids
// and data are values.
func testEmptyValues(t *testing.T, s storage.Store) {
	p := storage.Partition{}
	commit(t, s, func(b *storage.Batch) { b.PutSnapshot(p, nil) })
	got, found := load(t, s, p)
	if !found || got.Snapshot == nil || len(got.Snapshot) != 0 || got.Deltas != nil {
		t.Fatalf("after PutSnapshot(nil): Load = %s, found=%v; want empty non-nil snapshot", Format(got), found)
	}
	commit(t, s, func(b *storage.Batch) { b.PutDelta(p, nil, nil); b.PutDelta(p, []byte{0}, []byte{}) })
	got, _ = load(t, s, p)
	if len(got.Deltas) != 2 || len(got.Deltas[0].ID) != 0 || !bytes.Equal(got.Deltas[1].ID, []byte{0}) {
		t.Fatalf("Load = %s, want deltas with ids \"\" and \"\\x00\"", Format(got))
	}
	for _, dl := range got.Deltas {
		if dl.Data == nil || len(dl.Data) != 0 {
			t.Fatalf("delta %q: Data = %#v, want non-nil empty", dl.ID, dl.Data)
		}
	}
}

// testDeltaOrder: deltas come back in bytewise ID order whatever the order of
// writes, including ids that are prefixes of one another and big-endian
// event numbers.
func testDeltaOrder(t *testing.T, s storage.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := storage.Partition{Kind: "k", Key: "order"}
	var ids [][]byte
	for _, id := range Tricky {
		ids = append(ids, []byte(id))
	}
	for i := range 200 {
		ids = append(ids, binary.BigEndian.AppendUint64(nil, uint64(i)*7919))
	}
	var want []storage.Delta
	for _, id := range ids {
		want = append(want, storage.Delta{ID: id, Data: append([]byte("data-"), id...)})
	}
	shuffled := append([]storage.Delta(nil), want...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	// Several batches, to mix memtable and batch order.
	for chunk := range 4 {
		commit(t, s, func(b *storage.Batch) {
			for i := chunk; i < len(shuffled); i += 4 {
				b.PutDelta(p, shuffled[i].ID, shuffled[i].Data)
			}
		})
	}
	sortDeltas(want)
	wantReplica(t, s, p, storage.Replica{Deltas: want})
}

func testDeleteDelta(t *testing.T, s storage.Store) {
	p := storage.Partition{Kind: "k", Key: "a"}
	commit(t, s, func(b *storage.Batch) {
		b.PutDelta(p, []byte("1"), []byte("a"))
		b.PutDelta(p, []byte("2"), []byte("b"))
		b.PutDelta(p, []byte("3"), []byte("c"))
	})
	commit(t, s, func(b *storage.Batch) {
		b.DeleteDelta(p, []byte("2"))
		b.DeleteDelta(p, []byte("nope")) // absent: no error
		b.DeleteDelta(storage.Partition{Kind: "k", Key: "absent"}, []byte("1"))
	})
	wantReplica(t, s, p, storage.Replica{Deltas: []storage.Delta{d("1", "a"), d("3", "c")}})
	// Folding: delete deltas and rewrite the snapshot in one batch.
	commit(t, s, func(b *storage.Batch) {
		b.DeleteDelta(p, []byte("1"))
		b.PutSnapshot(p, []byte("folded 1"))
	})
	wantReplica(t, s, p, storage.Replica{Snapshot: []byte("folded 1"), Deltas: []storage.Delta{d("3", "c")}})
	// Deleting the last delta of a partition without a snapshot empties it.
	q := storage.Partition{Kind: "k", Key: "b"}
	commit(t, s, func(b *storage.Batch) { b.PutDelta(q, []byte("1"), []byte("x")) })
	commit(t, s, func(b *storage.Batch) { b.DeleteDelta(q, []byte("1")) })
	wantReplica(t, s, q, storage.Replica{})
	if keys := keysOf(t, s, "k"); len(keys) != 1 || keys[0] != "a" {
		t.Fatalf("Partitions(k) = %q, want [a]", keys)
	}
}

// testDeletePartition deletes partitions next to neighbours whose kind or key
// extends, or is extended by, theirs; only the deleted ones may go.
func testDeletePartition(t *testing.T, s storage.Store) {
	var all []storage.Partition
	for _, kind := range []string{"a", "a\x00", "ab", ""} {
		for _, key := range Tricky {
			all = append(all, storage.Partition{Kind: kind, Key: key})
		}
	}
	content := func(p storage.Partition) storage.Replica {
		return storage.Replica{
			Snapshot: []byte("snap " + p.String()),
			Deltas:   []storage.Delta{d("1", "one "+p.String()), d("2", "two "+p.String())},
		}
	}
	commit(t, s, func(b *storage.Batch) {
		for _, p := range all {
			r := content(p)
			b.PutSnapshot(p, r.Snapshot)
			for _, dl := range r.Deltas {
				b.PutDelta(p, dl.ID, dl.Data)
			}
		}
	})
	deleted := map[storage.Partition]bool{}
	commit(t, s, func(b *storage.Batch) {
		for i, p := range all {
			if i%3 == 0 {
				b.DeletePartition(p)
				deleted[p] = true
			}
		}
		b.DeletePartition(storage.Partition{Kind: "absent", Key: "x"})
	})
	for _, p := range all {
		want := content(p)
		if deleted[p] {
			want = storage.Replica{}
		}
		wantReplica(t, s, p, want)
	}
}

// testOrderWithinBatch: writes of one batch apply in order.
func testOrderWithinBatch(t *testing.T, s storage.Store) {
	p := storage.Partition{Kind: "k", Key: "a"}
	commit(t, s, func(b *storage.Batch) {
		b.PutSnapshot(p, []byte("old"))
		b.PutDelta(p, []byte("1"), []byte("old"))
		b.PutDelta(p, []byte("2"), []byte("x"))
	})
	commit(t, s, func(b *storage.Batch) {
		b.DeletePartition(p)
		b.PutDelta(p, []byte("3"), []byte("after delete"))
		b.PutDelta(p, []byte("4"), []byte("put"))
		b.DeleteDelta(p, []byte("4"))
		b.PutSnapshot(p, []byte("s1"))
		b.PutSnapshot(p, []byte("s2"))
		b.PutDelta(p, []byte("5"), []byte("v1"))
		b.PutDelta(p, []byte("5"), []byte("v2"))
	})
	wantReplica(t, s, p, storage.Replica{
		Snapshot: []byte("s2"),
		Deltas:   []storage.Delta{d("3", "after delete"), d("5", "v2")},
	})
	commit(t, s, func(b *storage.Batch) {
		b.PutSnapshot(p, []byte("gone"))
		b.DeletePartition(p)
	})
	wantReplica(t, s, p, storage.Replica{})
}

// testBatchCopies: a Batch copies what it is given, survives Commit, and can
// be reset and reused.
func testBatchCopies(t *testing.T, s storage.Store) {
	p := storage.Partition{Kind: "k", Key: "a"}
	id, data := []byte("1"), []byte("data")
	var b storage.Batch
	if !b.Empty() {
		t.Fatal("zero Batch not Empty")
	}
	b.PutDelta(p, id, data)
	b.PutSnapshot(p, data)
	id[0], data[0] = 'X', 'X' // the batch must not see this
	if b.Empty() || b.Len() != 2 {
		t.Fatalf("Empty=%v Len=%d after two writes", b.Empty(), b.Len())
	}
	if err := s.Commit(&b); err != nil {
		t.Fatal(err)
	}
	wantReplica(t, s, p, storage.Replica{Snapshot: []byte("data"), Deltas: []storage.Delta{d("1", "data")}})
	b.Reset()
	if !b.Empty() {
		t.Fatal("Batch not Empty after Reset")
	}
	b.PutDelta(p, []byte("2"), []byte("again"))
	if err := s.Commit(&b); err != nil {
		t.Fatal(err)
	}
	wantReplica(t, s, p, storage.Replica{Snapshot: []byte("data"), Deltas: []storage.Delta{d("1", "data"), d("2", "again")}})
}

// testLoadCopies: the caller owns what Load returns.
func testLoadCopies(t *testing.T, s storage.Store) {
	p := storage.Partition{Kind: "k", Key: "a"}
	commit(t, s, func(b *storage.Batch) { b.PutSnapshot(p, []byte("snap")); b.PutDelta(p, []byte("1"), []byte("one")) })
	r, _ := load(t, s, p)
	r.Snapshot[0], r.Deltas[0].ID[0], r.Deltas[0].Data[0] = 'X', 'X', 'X'
	wantReplica(t, s, p, storage.Replica{Snapshot: []byte("snap"), Deltas: []storage.Delta{d("1", "one")}})
}

func testIdentity(t *testing.T, s storage.Store) {
	id := s.Identity()
	if id.Node == "" || id.Incarnation == "" {
		t.Fatalf("Identity() = %+v, want Node and Incarnation set", id)
	}
	if got, want := id.Peer(), id.Node+"~"+id.Incarnation; got != want {
		t.Fatalf("Peer() = %q, want %q", got, want)
	}
	if s.Identity() != id {
		t.Fatal("Identity() changed between calls")
	}
}
