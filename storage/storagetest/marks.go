package storagetest

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/legion-go/legion/storage"
)

// marksOf lists the marks of reason due by until.
func marksOf(t testing.TB, s storage.Store, reason storage.Reason, until int64) []storage.Mark {
	t.Helper()
	var out []storage.Mark
	if err := s.Marked(reason, until, func(m storage.Mark) bool { out = append(out, m); return true }); err != nil {
		t.Fatalf("Marked(%d, %d): %v", reason, until, err)
	}
	return out
}

func markOrder(a, b storage.Mark) int {
	if c := cmp.Compare(a.Due, b.Due); c != 0 {
		return c
	}
	if c := strings.Compare(a.Partition.Kind, b.Partition.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.Partition.Key, b.Partition.Key)
}

// testMarks: marks are a set of (reason, due, partition) listed per reason in
// order of due then partition, up to a due time; Unmark removes one triple;
// reasons and partitions (whatever their bytes) stay apart; a partition's data
// and its marks are independent.
func testMarks(t *testing.T, s storage.Store) {
	dues := []int64{math.MinInt64, -1, 0, 1, 1 << 40, math.MaxInt64}
	var want []storage.Mark
	commit(t, s, func(b *storage.Batch) {
		for i, key := range Tricky {
			for j, kind := range []string{"", "a", "a\x00"} {
				p := storage.Partition{Kind: kind, Key: key}
				m := storage.Mark{Reason: 1, Due: dues[(i+j)%len(dues)], Partition: p}
				b.Mark(m.Reason, m.Due, p)
				b.Mark(m.Reason, m.Due, p) // a set: once
				b.Mark(2, 7, p)            // another reason
				want = append(want, m)
				if i%2 == 0 {
					b.PutSnapshot(p, []byte("s"))
				}
			}
		}
		b.Mark(0, 0, storage.Partition{Kind: "z"})
		b.Mark(255, 0, storage.Partition{Kind: "z"})
	})
	slices.SortFunc(want, markOrder)
	partitions := len(want) // each holds one mark of reason 2
	check := func() {
		t.Helper()
		for _, until := range dues {
			var w []storage.Mark
			for _, m := range want {
				if m.Due <= until {
					w = append(w, m)
				}
			}
			if got := marksOf(t, s, 1, until); !slices.Equal(got, w) {
				t.Fatalf("Marked(1, %d) = %v, want %v", until, got, w)
			}
		}
		if got := marksOf(t, s, 2, 6); len(got) != 0 {
			t.Fatalf("Marked(2, 6) = %v, want none (all are due at 7)", got)
		}
		if got := marksOf(t, s, 2, 7); len(got) != partitions {
			t.Fatalf("Marked(2, 7) lists %d, want %d", len(got), partitions)
		}
		for _, r := range []storage.Reason{0, 255} {
			if got := marksOf(t, s, r, math.MaxInt64); len(got) != 1 || got[0].Reason != r || got[0].Partition.Kind != "z" {
				t.Fatalf("Marked(%d) = %v, want the one mark of z", r, got)
			}
		}
	}
	check()

	// Deleting partitions leaves their marks; unmarking removes exactly one triple,
	// and unmarking what is not there is no error.
	commit(t, s, func(b *storage.Batch) {
		for _, m := range want {
			b.DeletePartition(m.Partition)
		}
		b.Unmark(1, 12345, want[0].Partition)
		b.Unmark(3, 0, want[0].Partition)
	})
	check()
	commit(t, s, func(b *storage.Batch) {
		for i, m := range want {
			if i%3 == 0 {
				b.Unmark(m.Reason, m.Due, m.Partition)
			}
		}
	})
	var kept []storage.Mark
	for i, m := range want {
		if i%3 != 0 {
			kept = append(kept, m)
		}
	}
	want = kept
	check()

	// A mark added after its removal within one batch survives it, and the reverse.
	p := storage.Partition{Kind: "order", Key: "x"}
	commit(t, s, func(b *storage.Batch) {
		b.Mark(4, 1, p)
		b.Unmark(4, 1, p)
		b.Mark(4, 2, p)
		b.Unmark(4, 2, p)
		b.Mark(4, 2, p)
	})
	if got := marksOf(t, s, 4, math.MaxInt64); !slices.Equal(got, []storage.Mark{{Reason: 4, Due: 2, Partition: p}}) {
		t.Fatalf("Marked(4) = %v, want only due 2", got)
	}
	if len(keysOf(t, s, "order")) != 0 {
		t.Fatal("a mark made a partition appear in Partitions")
	}

	// fn returning false stops the walk.
	calls := 0
	if err := s.Marked(1, math.MaxInt64, func(storage.Mark) bool { calls++; return false }); err != nil || calls != 1 {
		t.Fatalf("Marked stopped after %d calls (err %v), want 1", calls, err)
	}
}
