package pebblestore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// A failing disk fails the store, never the process: Commit returns the cause (no panic
// escapes, none kills the process from one of pebble's goroutines), every later Commit
// fails at once with it, Close returns, and reopening the still-broken directory fails at
// once with the cause. These tests mount file systems, so they need root; they skip
// otherwise. Each runs in a child process (inChild): a failed store leaves pebble's
// goroutines halted for good (see failure.go), which the process must not share with
// other tests.

// envDiskChild, set, says this process is the child running one disk-failure test.
const envDiskChild = "LEGION_STORAGE_DISK_CHILD"

// inChild reports whether this process is the child that runs the test; in the parent it
// runs the test binary for this test alone, with its output in the test's log, and fails
// or skips as the child did.
func inChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envDiskChild) != "" {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envDiskChild+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("child process:\n%s", out)
	switch {
	case err != nil:
		t.Fatalf("child process: %v", err)
	case strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Skip("skipped in the child process")
	case !strings.Contains(string(out), "--- PASS: "+t.Name()):
		t.Fatal("the child process did not run the test")
	}
	return false
}

// childLogger logs to stderr: pebble's halted goroutines may log after the test ended.
func childLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestFullDisk fills a tiny tmpfs with concurrent commits.
func TestFullDisk(t *testing.T) {
	if !inChild(t) {
		return
	}
	dir := t.TempDir()
	mountTmpfs(t, dir, "8m")
	s, err := pebblestore.Open(dir, storage.Options{Node: "n1", Create: true, MemTableSize: 1 << 20, Logger: childLogger()})
	if err != nil {
		t.Fatal(err)
	}
	first := commitUntilFailure(t, s, 32<<10)
	if !errors.Is(first, syscall.ENOSPC) {
		t.Errorf("the first failed Commit: %v, want one wrapping ENOSPC", first)
	}
	checkFailed(t, s, dir, syscall.ENOSPC)
}

// TestReadOnlyDir makes the data directory of an open store read-only (a read-only bind
// mount over it: files pebble holds open stay writable, new ones cannot be made), then
// commits until pebble needs a new file.
func TestReadOnlyDir(t *testing.T) {
	if !inChild(t) {
		return
	}
	dir := t.TempDir()
	mountTmpfs(t, dir, "64m") // its own mount, so that unmounting it undoes everything
	s, err := pebblestore.Open(dir, storage.Options{Node: "n1", Create: true, MemTableSize: 256 << 10, Logger: childLogger()})
	if err != nil {
		t.Fatal(err)
	}
	bindReadOnly(t, dir)
	first := commitUntilFailure(t, s, 16<<10)
	if !errors.Is(first, syscall.EROFS) {
		t.Errorf("the first failed Commit: %v, want one wrapping EROFS", first)
	}
	checkFailed(t, s, dir, syscall.EROFS)
}

// commitUntilFailure commits batches of size bytes from four goroutines until one fails,
// and returns the first error. It fails the test if none fails within a minute.
func commitUntilFailure(t *testing.T, s *pebblestore.Store, size int) error {
	t.Helper()
	var (
		once  sync.Once
		first error
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	deadline := time.Now().Add(time.Minute)
	for w := range 4 {
		wg.Go(func() {
			var b storage.Batch
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				b.Reset()
				b.PutSnapshot(storage.Partition{Kind: "k", Key: fmt.Sprintf("w%d-%d", w, i)}, make([]byte, size))
				if err := s.Commit(&b); err != nil {
					once.Do(func() { first = err; close(stop) })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		t.Fatal("no Commit failed within a minute")
	}
	t.Logf("first failed Commit: %v", first)
	return first
}

// checkFailed checks a store after a failed Commit: later Commits fail at once with the
// cause, Close returns, and Open of the still-broken directory fails at once with it.
func checkFailed(t *testing.T, s *pebblestore.Store, dir string, cause error) {
	t.Helper()
	var b storage.Batch
	b.PutSnapshot(storage.Partition{Kind: "k", Key: "after"}, []byte("x"))
	if err := within(t, 10*time.Second, "a Commit after the failure", func() error { return s.Commit(&b) }); !errors.Is(err, cause) {
		t.Errorf("a Commit after the failure: %v, want one wrapping %v", err, cause)
	}
	within(t, 30*time.Second, "Close of the failed store", s.Close)
	err := within(t, 30*time.Second, "Open of the still-broken directory", func() error {
		s, err := pebblestore.Open(dir, storage.Options{Node: "n1", Logger: childLogger()})
		if err == nil {
			s.Close()
		}
		return err
	})
	if !errors.Is(err, cause) {
		t.Errorf("Open of the still-broken directory: %v, want one wrapping %v", err, cause)
	}
	t.Logf("reopening: %v", err)
}

// within runs f and returns its error, failing the test if it has not returned after d.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s has not returned after %v", what, d)
		return nil
	}
}

// mountTmpfs mounts a tmpfs of the given size on dir until the test ends.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs (root needed): %v", err)
	}
	t.Cleanup(func() { unmount(t, dir) })
}

// bindReadOnly mounts a read-only view of dir over it until the test ends.
func bindReadOnly(t *testing.T, dir string) {
	t.Helper()
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount (root needed): %v", err)
	}
	t.Cleanup(func() { unmount(t, dir) })
	if err := syscall.Mount("", dir, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remounting the bind mount read-only: %v", err)
	}
}

func unmount(t *testing.T, dir string) {
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
		t.Errorf("unmount %s: %v", dir, err)
	}
}
