package pebblestore_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"

	"github.com/legion-go/legion/storage"
)

// The crash workload: crashWriters goroutines each commit numbered batches
// one after another. Writer w's j-th batch (j = 1, 2, ...) has number
// n = j*crashWriters + w and writes, atomically:
//
//   - delta n of the shared log partition, with payload(n);
//   - snapshot n and delta n (payload(n)) of the writer's own partition,
//     deleting the writer's previous delta.
//
// So after any crash, for every writer: the log holds exactly its batches
// 1..J (a writer starts batch j+1 only once j is durable), and its partition
// holds snapshot n(J) and the single delta n(J). A torn batch breaks one of
// these; a lost acknowledged batch makes J smaller than acknowledged.
const crashWriters = 4

var crashLog = storage.Partition{Kind: "crash", Key: "log"}

func crashPartition(w int) storage.Partition {
	return storage.Partition{Kind: "crash", Key: "w" + strconv.Itoa(w)}
}

func crashID(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// payload is batch n's data: 100 bytes, 3000 every 16th batch (to cross
// WAL block boundaries), derived from n.
func payload(n uint64) []byte {
	size := 100
	if n%16 == 0 {
		size = 3000
	}
	p := make([]byte, 0, size+20)
	for len(p) < size {
		p = strconv.AppendUint(append(p, '#'), n, 10)
	}
	return p[:size]
}

// crashBatch fills b with batch number n.
func crashBatch(b *storage.Batch, n uint64) {
	w := int(n % crashWriters)
	p := crashPartition(w)
	b.Reset()
	b.PutDelta(crashLog, crashID(n), payload(n))
	b.PutSnapshot(p, crashID(n))
	if n >= 2*crashWriters {
		b.DeleteDelta(p, crashID(n-crashWriters))
	}
	b.PutDelta(p, crashID(n), payload(n))
}

// crashResume returns, per writer, the number of its last durable batch
// (0: none), read from the writers' partitions.
func crashResume(s storage.Store) ([crashWriters]uint64, error) {
	var last [crashWriters]uint64
	for w := range crashWriters {
		r, found, err := s.Load(crashPartition(w))
		if err != nil {
			return last, err
		}
		if found {
			last[w] = binary.BigEndian.Uint64(r.Snapshot)
		}
	}
	return last, nil
}

// checkCrashState checks the store after a crash against the workload's
// invariants, given the highest batch each writer had acknowledged (Commit
// returned) before the crash. It returns the number of durable batches.
func checkCrashState(t *testing.T, s storage.Store, acked [crashWriters]uint64) int {
	t.Helper()
	r, _, err := s.Load(crashLog)
	if err != nil {
		t.Fatalf("Load(log): %v", err)
	}
	var durable [crashWriters][]uint64 // per writer, the js in the log
	for _, d := range r.Deltas {
		n := binary.BigEndian.Uint64(d.ID)
		if !bytes.Equal(d.Data, payload(n)) {
			t.Fatalf("log delta %d: payload differs", n)
		}
		durable[n%crashWriters] = append(durable[n%crashWriters], n/crashWriters)
	}
	for w := range crashWriters {
		js := durable[w]
		for i, j := range js {
			if j != uint64(i+1) {
				t.Fatalf("writer %d: log holds batches %s: not a prefix 1..J", w, short(js))
			}
		}
		last := uint64(len(js))*crashWriters + uint64(w)
		if acked[w] > 0 && (len(js) == 0 || last < acked[w]) {
			t.Fatalf("writer %d: batch %d was acknowledged, but the log ends at batch %d", w, acked[w], last)
		}
		p := crashPartition(w)
		r, found, err := s.Load(p)
		if err != nil {
			t.Fatalf("Load(%v): %v", p, err)
		}
		if len(js) == 0 {
			if found {
				t.Fatalf("writer %d: no batch in the log, but %v holds %d deltas", w, p, len(r.Deltas))
			}
			continue
		}
		if !found || !bytes.Equal(r.Snapshot, crashID(last)) || len(r.Deltas) != 1 ||
			!bytes.Equal(r.Deltas[0].ID, crashID(last)) || !bytes.Equal(r.Deltas[0].Data, payload(last)) {
			t.Fatalf("writer %d: log ends at batch %d but %v holds snapshot %x and %d deltas (torn batch)",
				w, last, p, r.Snapshot, len(r.Deltas))
		}
	}
	var keys []string
	if err := s.Partitions("crash", func(k string) bool { keys = append(keys, k); return true }); err != nil {
		t.Fatalf("Partitions: %v", err)
	}
	if len(r.Deltas) > 0 && (len(keys) == 0 || keys[0] != "log") {
		t.Fatalf("Partitions(crash) = %q", keys)
	}
	return len(r.Deltas)
}

func short(js []uint64) string {
	if len(js) <= 8 {
		return fmt.Sprint(js)
	}
	return fmt.Sprintf("%v ... %v", js[:4], js[len(js)-4:])
}
