package pebblestore

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/legion-go/legion/storage"
)

const lockName = "LOCK"

// openDirs holds the data directories open in this process, so that a second
// Open fails with ErrLocked: fcntl locks do not exclude the process holding
// them.
var openDirs sync.Map // dirKey -> struct{}

type dirKey struct {
	fs  vfs.FS
	dir string
}

// lockDir takes dir's lock, in this process and against other processes (an
// fcntl lock on dir/LOCK). unlock releases it.
func lockDir(fsys vfs.FS, dir string) (unlock func() error, err error) {
	key := dirKey{fs: fsys, dir: filepath.Clean(dir)}
	if fsys == vfs.Default { // one key per directory, however it is named
		if abs, err := filepath.Abs(dir); err == nil {
			key.dir = abs
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				key.dir = real
			}
		}
	}
	if _, loaded := openDirs.LoadOrStore(key, struct{}{}); loaded {
		return nil, fmt.Errorf("%w: %q is open in this process", storage.ErrLocked, dir)
	}
	l, err := fsys.Lock(fsys.PathJoin(dir, lockName))
	if err != nil {
		openDirs.Delete(key)
		var pathErr *fs.PathError // creating the lock file failed: not a lock conflict
		if !errors.As(err, &pathErr) && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES)) {
			return nil, fmt.Errorf("%w: %q is locked by another process: %w", storage.ErrLocked, dir, err)
		}
		return nil, fmt.Errorf("storage: lock %q: %w", dir, err)
	}
	return func() error {
		defer openDirs.Delete(key)
		return l.Close()
	}, nil
}
