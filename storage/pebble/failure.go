package pebblestore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrFailed: the store hit a disk failure (a failed write, fsync or file creation: a
// full disk, an I/O error, a read-only or unwritable directory) or a fatal pebble error.
// It refuses every call from then on; the error wraps the cause (test it with errors.Is,
// e.g. syscall.ENOSPC, syscall.EROFS).
var ErrFailed = errors.New("storage: store failed")

// failure is a store's failure state. It is set once, by the first disk failure, after
// which every call of the store fails at once with it.
//
// Why a failure is final and stops pebble where it stands: after a failed fsync the
// process cannot know what is durable (retrying is unsafe: the kernel may have dropped
// the dirty pages and report success next time). And pebble cannot be trusted to unwind:
// it panics on some I/O errors with its mutex released (rotateWAL: "fatal error: sync:
// unlock of unlocked mutex", which no recover catches), and on others it waits forever
// (a flush that fails on a full disk leaves writers in a write stall). So the goroutine
// that meets the failure, pebble's or a commit's, blocks for good (halt), and calls
// waiting on pebble return the failure instead (Commit waits for either).
type failure struct {
	log  *slog.Logger
	once sync.Once
	err  error         // set before done is closed
	done chan struct{} // closed once the store failed
	// live is set once Open has opened pebble: until then, failed file operations
	// return their errors to pebble.Open, which returns them.
	live atomic.Bool
}

func newFailure(log *slog.Logger) *failure {
	return &failure{log: log, done: make(chan struct{})}
}

// fail records err as the store's failure (the first one wins) and logs it, once.
func (f *failure) fail(err error) {
	f.once.Do(func() {
		f.err = fmt.Errorf("%w: %w", ErrFailed, err)
		f.log.Error("storage failed: it refuses every call from now on", "err", err.Error()) // one line: pebble's errors format with stack traces
		close(f.done)
	})
}

// Err returns the store's failure, or nil.
func (f *failure) Err() error {
	select {
	case <-f.done:
		return f.err
	default:
		return nil
	}
}

// halt fails the store with err and blocks the calling goroutine for good (see failure).
func (f *failure) halt(err error) {
	f.fail(err)
	select {}
}

// check halts on err, once the store is live; otherwise it returns err.
func (f *failure) check(err error) error {
	if err != nil && f.live.Load() {
		f.halt(err)
	}
	return err
}

// fatalError is the failure a pebble Fatalf reports: its text, wrapping the first
// error among its arguments.
type fatalError struct {
	text  string
	cause error
}

func (e *fatalError) Error() string { return "pebble fatal error: " + e.text }
func (e *fatalError) Unwrap() error { return e.cause }

func newFatalError(text string, args []any) error {
	e := &fatalError{text: text}
	for _, a := range args {
		if err, ok := a.(error); ok {
			e.cause = err
			break
		}
	}
	return e
}

// guardFS is the file system under pebble that turns every failed write, sync, file
// creation or rename, once the store is live, into the store's failure: the goroutine
// halts there, before pebble sees the error. Reads and removals pass through (pebble
// handles their errors). Safe for concurrent use, as the file system it wraps.
type guardFS struct {
	vfs.FS
	f *failure
}

func (g *guardFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := g.FS.Create(name, category)
	return g.wrap(file, g.f.check(err))
}

func (g *guardFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := g.FS.ReuseForWrite(oldname, newname, category)
	return g.wrap(file, g.f.check(err))
}

func (g *guardFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := g.FS.OpenReadWrite(name, category, opts...)
	return g.wrap(file, g.f.check(err))
}

func (g *guardFS) OpenDir(name string) (vfs.File, error) {
	file, err := g.FS.OpenDir(name)
	return g.wrap(file, err) // a directory is opened to be synced: its Sync is guarded
}

func (g *guardFS) Link(oldname, newname string) error {
	return g.f.check(g.FS.Link(oldname, newname))
}

func (g *guardFS) Rename(oldname, newname string) error {
	return g.f.check(g.FS.Rename(oldname, newname))
}

func (g *guardFS) MkdirAll(dir string, perm os.FileMode) error {
	return g.f.check(g.FS.MkdirAll(dir, perm))
}

// Unwrap returns the wrapped file system (see vfs.Root).
func (g *guardFS) Unwrap() vfs.FS { return g.FS }

func (g *guardFS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return file, err
	}
	return &guardFile{File: file, f: g.f}, nil
}

// guardFile is a file of guardFS: a failed write or sync halts.
type guardFile struct {
	vfs.File
	f *failure
}

func (g *guardFile) Write(p []byte) (int, error) {
	n, err := g.File.Write(p)
	return n, g.f.check(err)
}

func (g *guardFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := g.File.WriteAt(p, off)
	return n, g.f.check(err)
}

func (g *guardFile) Sync() error     { return g.f.check(g.File.Sync()) }
func (g *guardFile) SyncData() error { return g.f.check(g.File.SyncData()) }

func (g *guardFile) SyncTo(length int64) (bool, error) {
	full, err := g.File.SyncTo(length)
	return full, g.f.check(err)
}

// probeName is the file Open writes and removes to check that the data directory takes
// writes; probeBytes, how much it writes (a directory with less room left cannot hold a
// store that starts, which writes a WAL, a MANIFEST and flushes what the WAL held).
const (
	probeName  = "legion.probe"
	probeBytes = 1 << 20
)

// probe checks that dir takes a write of probeBytes and its fsync: a restart on a full,
// read-only or unwritable data directory fails at once, with the cause, rather than
// inside pebble.
func probe(fsys vfs.FS, dir string) error {
	name := fsys.PathJoin(dir, probeName)
	f, err := fsys.Create(name, vfs.WriteCategoryUnspecified)
	if err == nil {
		_, err = f.Write(make([]byte, probeBytes))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if rerr := fsys.Remove(name); err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("storage: data directory %q does not take writes: %w", dir, err)
	}
	return nil
}
