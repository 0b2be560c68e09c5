package pebblestore_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// Environment of the crash child process.
const (
	envCrashDir  = "LEGION_STORAGE_CRASH_DIR"  // set: this process is the crash child, writing to this directory
	envCrashSeed = "LEGION_STORAGE_CRASH_SEED" // set in the parent: the seed to use (default: the clock)
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// crashChild opens the store in dir and runs the crash workload until it is
// killed, printing each batch's number once Commit has returned. It exits
// when its stdin closes (the parent is gone).
func crashChild(dir string) int {
	s, err := pebblestore.Open(dir, storage.Options{Node: "crash"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	last, err := crashResume(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			var b storage.Batch
			n := last[w]
			if n == 0 {
				n = uint64(w)
			}
			for range 1_000_000 { // bounded, though the parent kills it much sooner
				n += crashWriters
				crashBatch(&b, n)
				if err := s.Commit(&b); err != nil {
					fmt.Fprintln(os.Stderr, "crash child:", err)
					os.Exit(2)
				}
				// One write per line: a pipe write under PIPE_BUF is atomic,
				// so the writers' lines do not interleave.
				_, _ = os.Stdout.Write(append(strconv.AppendUint(nil, n, 10), '\n'))
			}
		})
	}
	wg.Wait()
	return 0
}

// TestCrash kills a writer process with SIGKILL at a random moment, reopens
// its directory and checks that every batch it reported committed is there
// and that no batch is torn. Repeated on the same directory, so recovery also
// runs over the previous rounds' recovered state.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(envCrashSeed); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, envCrashSeed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := open(t, dir, "crash")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var acked [crashWriters]uint64
	for round := range 5 {
		killAfter := 1 + rng.IntN(1500) // reported commits before the kill
		reported := runCrashChild(t, exe, dir, killAfter, func() {
			// The child holds the directory: another process cannot open it.
			if err := openErr(t, dir, "crash", false); !errors.Is(err, storage.ErrLocked) {
				t.Errorf("Open while the child runs = %v, want ErrLocked", err)
			}
		})
		for _, n := range reported {
			acked[n%crashWriters] = max(acked[n%crashWriters], n)
		}
		s, err := pebblestore.Open(dir, storage.Options{Node: "crash", Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		durable := checkCrashState(t, s, acked)
		t.Logf("round %d: killed after %d reports; %d reported, %d batches durable in all",
			round, killAfter, len(reported), durable)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runCrashChild runs the crash child on dir, calls running after its first
// report, kills it with SIGKILL once it has reported killAfter commits, and
// returns every number it reported.
func runCrashChild(t *testing.T, exe, dir string, killAfter int, running func()) []uint64 {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var reported []uint64
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() { // after the kill, read what is left in the pipe too
		n, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		reported = append(reported, n)
		if len(reported) == 1 {
			running()
		}
		if !killed && len(reported) >= killAfter {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before the kill: %v", err)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.Success() || ee.ProcessState.ExitCode() != -1 {
		t.Fatalf("child: %v, want killed by a signal", err)
	}
	return reported
}

// testWriter forwards a child's stderr to the test log.
type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Logf("child: %s", p)
	return len(p), nil
}
