package pebblestore_test

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// TestPowerLoss simulates losing power: the store runs on pebble's crashable
// in-memory file system, and CrashClone keeps only what was fsynced (plus a
// random share of what was not). Unlike SIGKILL, which leaves the page cache
// intact, this checks the fsync discipline: of pebble's WAL, and of the data
// directory's creation (directories, manifest rename).
func TestPowerLoss(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(envCrashSeed); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, envCrashSeed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	const dir = "/var/lib/legion/data"
	opts := storage.Options{Node: "n1", Logger: testLogger(t)}

	fs := vfs.NewCrashableMem()
	create := opts
	create.Create = true
	s, err := pebblestore.OpenFS(dir, create, fs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Losing power right after creation keeps the created store.
	reopenClone := func(cfg vfs.CrashCloneCfg) *pebblestore.Store {
		t.Helper()
		cs, err := pebblestore.OpenFS(dir, opts, fs.CrashClone(cfg))
		if err != nil {
			t.Fatalf("open after power loss: %v", err)
		}
		if cs.Identity() != s.Identity() {
			t.Fatalf("identity after power loss %+v, want %+v", cs.Identity(), s.Identity())
		}
		return cs
	}
	if err := reopenClone(vfs.CrashCloneCfg{}).Close(); err != nil {
		t.Fatal(err)
	}

	// Writers run the crash workload; the test cuts power under them.
	var (
		mu       sync.Mutex
		acked    [crashWriters]uint64
		total    int
		progress = make(chan struct{}, 1)
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range crashWriters {
		wg.Go(func() {
			var b storage.Batch
			for n := uint64(w + crashWriters); ; n += crashWriters {
				select {
				case <-stop:
					return
				default:
				}
				crashBatch(&b, n)
				if err := s.Commit(&b); err != nil {
					t.Errorf("Commit: %v", err)
					return
				}
				mu.Lock()
				acked[w] = n
				total++
				mu.Unlock()
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	committed := func() int { mu.Lock(); defer mu.Unlock(); return total }
	for round := range 6 {
		target := committed() + 1 + rng.IntN(400)
		for committed() < target {
			<-progress
		}
		mu.Lock()
		a := acked
		mu.Unlock()
		cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101)}
		cfg.RNG = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		cs := reopenClone(cfg)
		durable := checkCrashState(t, cs, a)
		t.Logf("round %d: power lost after %d acknowledged commits (keeping %d%% of unsynced data): %d durable",
			round, target, cfg.UnsyncedDataPercent, durable)
		if err := cs.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
