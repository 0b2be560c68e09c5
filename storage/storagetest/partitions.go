package storagetest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/legion-go/legion/storage"
)

func sortDeltas(ds []storage.Delta) {
	slices.SortFunc(ds, func(a, b storage.Delta) int { return bytes.Compare(a.ID, b.ID) })
}

// testPartitions lists partitions per kind over kinds and keys built from
// Tricky: each kind lists exactly its own keys, in bytewise order, once each,
// whether a partition holds a snapshot, deltas or both.
func testPartitions(t *testing.T, s storage.Store) {
	kinds := []string{"", "a", "a\x00", "a\x00\x01", "a\x00\x01b", "ab", "b"}
	want := map[string][]string{}
	var i int
	commit(t, s, func(b *storage.Batch) {
		for _, kind := range kinds {
			for _, key := range Tricky {
				p := storage.Partition{Kind: kind, Key: key}
				switch i % 3 {
				case 0:
					b.PutSnapshot(p, []byte("s"))
				case 1:
					b.PutDelta(p, []byte("1"), []byte("d"))
					b.PutDelta(p, []byte("2"), []byte("d"))
				case 2:
					b.PutSnapshot(p, []byte("s"))
					b.PutDelta(p, []byte("\xff"), []byte("d"))
				}
				i++
				want[kind] = append(want[kind], key)
			}
		}
	})
	check := func() {
		t.Helper()
		for _, kind := range append(kinds, "c", "a\x01", "\x00") {
			w := slices.Clone(want[kind])
			slices.Sort(w)
			if got := keysOf(t, s, kind); !slices.Equal(got, w) {
				t.Fatalf("Partitions(%q) = %q, want %q", kind, got, w)
			}
		}
	}
	check()
	// Deleted partitions disappear from the listing.
	commit(t, s, func(b *storage.Batch) {
		for _, kind := range kinds {
			b.DeletePartition(storage.Partition{Kind: kind, Key: "a\x00"})
			b.DeletePartition(storage.Partition{Kind: kind, Key: ""})
			want[kind] = slices.DeleteFunc(want[kind], func(k string) bool { return k == "a\x00" || k == "" })
		}
	})
	check()
}

func testPartitionsStop(t *testing.T, s storage.Store) {
	commit(t, s, func(b *storage.Batch) {
		for _, k := range []string{"a", "b", "c", "d"} {
			b.PutSnapshot(storage.Partition{Kind: "k", Key: k}, []byte("s"))
		}
	})
	var got []string
	err := s.Partitions("k", func(k string) bool { got = append(got, k); return len(got) < 2 })
	if err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Partitions stopping after 2 = %q, %v; want [a b]", got, err)
	}
}

// testPartitionsNested: fn may Load and Commit.
func testPartitionsNested(t *testing.T, s storage.Store) {
	commit(t, s, func(b *storage.Batch) {
		for _, k := range []string{"a", "b", "c"} {
			b.PutSnapshot(storage.Partition{Kind: "k", Key: k}, []byte(k))
		}
	})
	var got []string
	err := s.Partitions("k", func(k string) bool {
		p := storage.Partition{Kind: "k", Key: k}
		r, found := load(t, s, p)
		if !found || string(r.Snapshot) != k {
			t.Errorf("Load(%v) inside Partitions = %s, %v", p, Format(r), found)
		}
		commit(t, s, func(b *storage.Batch) { b.PutDelta(p, []byte("1"), []byte("seen")) })
		got = append(got, k)
		return true
	})
	if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Partitions = %q, %v", got, err)
	}
	wantReplica(t, s, storage.Partition{Kind: "k", Key: "b"},
		storage.Replica{Snapshot: []byte("b"), Deltas: []storage.Delta{d("1", "seen")}})
}
