package storage

import (
	"bytes"
	"testing"
)

func TestBatchCopiesAndReuses(t *testing.T) {
	var b Batch
	p := Partition{Kind: "k", Key: "a"}
	big := bytes.Repeat([]byte("x"), 1000) // forces the arena to grow
	id := []byte("id")
	b.PutDelta(p, id, []byte("small"))
	b.PutSnapshot(p, big)
	b.DeleteDelta(p, []byte("old"))
	b.DeletePartition(Partition{Kind: "k", Key: "b"})
	id[0] = 'X'
	ops := b.Ops()
	if len(ops) != 4 || b.Len() != 4 || b.Empty() {
		t.Fatalf("Len=%d Empty=%v", b.Len(), b.Empty())
	}
	if string(ops[0].ID) != "id" || string(ops[0].Data) != "small" || !bytes.Equal(ops[1].Data, big) {
		t.Fatalf("ops do not hold copies: %q %q", ops[0].ID, ops[0].Data)
	}
	if ops[2].Data != nil || ops[3].ID != nil || ops[1].ID != nil {
		t.Fatal("unused Op fields are not nil")
	}
	if want := 2 + 5 + 1000 + 3; b.Size() != want {
		t.Fatalf("Size() = %d, want %d", b.Size(), want)
	}
	// Appending to a returned slice must not overwrite the next one.
	_ = append(ops[0].ID, 'Z')
	if string(ops[0].Data) != "small" {
		t.Fatal("append to an op's ID overwrote its Data")
	}
	b.Reset()
	if !b.Empty() || b.Size() != 0 {
		t.Fatal("not empty after Reset")
	}
	b.PutSnapshot(p, nil)
	if d := b.Ops()[0].Data; d == nil || len(d) != 0 {
		t.Fatalf("PutSnapshot(nil) recorded %#v, want non-nil empty", d)
	}
}

func TestBatchTruncate(t *testing.T) {
	var b Batch
	p := Partition{Kind: "k", Key: "a"}
	b.PutDelta(p, []byte("1"), []byte("one"))
	mark := b.Len()
	b.PutDelta(p, []byte("2"), []byte("two"))
	b.PutSnapshot(p, []byte("snap"))
	b.Truncate(mark)
	if b.Len() != 1 || b.Size() != 4 || string(b.Ops()[0].Data) != "one" {
		t.Fatalf("after Truncate(%d): Len=%d Size=%d ops=%v", mark, b.Len(), b.Size(), b.Ops())
	}
	b.PutDelta(p, []byte("3"), []byte("three")) // the batch goes on from there
	if b.Len() != 2 || b.Size() != 10 || string(b.Ops()[1].Data) != "three" {
		t.Fatalf("after a write: Len=%d Size=%d", b.Len(), b.Size())
	}
	b.Truncate(0)
	if !b.Empty() || b.Size() != 0 {
		t.Fatal("not empty after Truncate(0)")
	}
}

func TestOpKindString(t *testing.T) {
	for k, want := range map[OpKind]string{OpPutSnapshot: "put-snapshot", OpPutDelta: "put-delta",
		OpDeleteDelta: "delete-delta", OpDeletePartition: "delete-partition", 0: "unknown"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}

func TestIdentity(t *testing.T) {
	id := Identity{Node: "node~with~tilde?", Incarnation: NewIncarnation()}
	if !ValidIncarnation(id.Incarnation) {
		t.Fatalf("NewIncarnation() = %q, not valid", id.Incarnation)
	}
	if NewIncarnation() == id.Incarnation {
		t.Fatal("two incarnations equal")
	}
	got, err := ParsePeer(id.Peer())
	if err != nil || got != id {
		t.Fatalf("ParsePeer(%q) = %+v, %v", id.Peer(), got, err)
	}
	for _, bad := range []string{"", "n", "~abc", "n~"} {
		if _, err := ParsePeer(bad); err == nil {
			t.Errorf("ParsePeer(%q) succeeded", bad)
		}
	}
	for _, bad := range []string{"", "0123456789abcdeF", "0123456789abcde", "0123456789abcdefa", "0123456789abcdeg"} {
		if ValidIncarnation(bad) {
			t.Errorf("ValidIncarnation(%q) = true", bad)
		}
	}
}

func TestOptions(t *testing.T) {
	o := Options{Node: "n1"}.WithDefaults()
	if o.Logger == nil || o.CacheSize != DefaultCacheSize || o.MemTableSize != DefaultMemTableSize {
		t.Fatalf("WithDefaults() = %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Options{{}, {Node: "a~b"}, {Node: "\xff"}, {Node: "n", CacheSize: -1},
		{Node: "n", MemTableSize: -1}, {Node: "n", MemTableSize: 4 << 30}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
}

func TestPartitionString(t *testing.T) {
	if got := (Partition{Kind: "a/b", Key: "c\x00"}).String(); got != `"a/b"/"c\x00"` {
		t.Fatalf("String() = %s", got)
	}
}
