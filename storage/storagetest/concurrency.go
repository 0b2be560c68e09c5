package storagetest

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/legion-go/legion/storage"
)

// testAtomicVisibility: a reader never sees part of a batch. Each batch
// rewrites generation g of two partitions: snapshot "g" and deltas exactly
// {g} (deleting g-1). A reader must always find the snapshot and the single
// delta of a partition at the same generation.
func testAtomicVisibility(t *testing.T, s storage.Store) {
	parts := []storage.Partition{{Kind: "atomic", Key: "x"}, {Kind: "atomic", Key: "y"}}
	const gens = 300
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		var b storage.Batch
		for g := 1; g <= gens; g++ {
			b.Reset()
			for _, p := range parts {
				b.PutSnapshot(p, []byte(strconv.Itoa(g)))
				b.DeleteDelta(p, []byte(strconv.Itoa(g-1)))
				b.PutDelta(p, []byte(strconv.Itoa(g)), []byte(strconv.Itoa(g)))
			}
			if err := s.Commit(&b); err != nil {
				t.Errorf("Commit: %v", err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, p := range parts {
					r, found, err := s.Load(p)
					if err != nil {
						t.Errorf("Load: %v", err)
						return
					}
					if !found {
						continue
					}
					if len(r.Deltas) != 1 || string(r.Deltas[0].ID) != string(r.Snapshot) || string(r.Deltas[0].Data) != string(r.Snapshot) {
						t.Errorf("Load(%v) saw a torn batch: %s", p, Format(r))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, p := range parts {
		g := strconv.Itoa(gens)
		wantReplica(t, s, p, storage.Replica{Snapshot: []byte(g), Deltas: []storage.Delta{d(g, g)}})
	}
}

// testConcurrency: many goroutines commit to their own partitions and to a
// shared one while others load and list; at the end every write is there.
func testConcurrency(t *testing.T, s storage.Store) {
	const writers, perWriter = 16, 50
	shared := storage.Partition{Kind: "conc", Key: "shared"}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			p := storage.Partition{Kind: "conc", Key: fmt.Sprintf("w%02d", w)}
			var b storage.Batch
			for i := range perWriter {
				b.Reset()
				id := binary.BigEndian.AppendUint32(nil, uint32(i))
				b.PutDelta(p, id, []byte{byte(w)})
				b.PutSnapshot(p, id)
				b.PutDelta(shared, binary.BigEndian.AppendUint32(nil, uint32(w*perWriter+i)), []byte{byte(w)})
				if err := s.Commit(&b); err != nil {
					t.Errorf("Commit: %v", err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := s.Load(shared); err != nil {
					t.Errorf("Load: %v", err)
					return
				}
				if err := s.Partitions("conc", func(string) bool { return true }); err != nil {
					t.Errorf("Partitions: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	r, _ := load(t, s, shared)
	if len(r.Deltas) != writers*perWriter {
		t.Fatalf("shared partition holds %d deltas, want %d", len(r.Deltas), writers*perWriter)
	}
	for i, dl := range r.Deltas {
		if binary.BigEndian.Uint32(dl.ID) != uint32(i) || int(dl.Data[0]) != i/perWriter {
			t.Fatalf("shared delta %d = %x:%x", i, dl.ID, dl.Data)
		}
	}
	if keys := keysOf(t, s, "conc"); len(keys) != writers+1 {
		t.Fatalf("Partitions(conc) lists %d partitions, want %d", len(keys), writers+1)
	}
	for w := range writers {
		p := storage.Partition{Kind: "conc", Key: fmt.Sprintf("w%02d", w)}
		r, _ := load(t, s, p)
		if len(r.Deltas) != perWriter || binary.BigEndian.Uint32(r.Snapshot) != perWriter-1 {
			t.Fatalf("%v holds %d deltas, snapshot %x", p, len(r.Deltas), r.Snapshot)
		}
	}
}
