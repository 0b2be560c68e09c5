package pebblestore

import (
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/legion-go/legion/storage"
)

// OpenFS is Open on file system fsys.
func OpenFS(dir string, opts storage.Options, fsys vfs.FS) (*Store, error) {
	return open(dir, opts, fsys)
}

// File names of the data directory's layout, for tests that damage it.
const (
	ManifestName  = manifestName
	PebbleDirName = pebbleDirName
	LockName      = lockName
)
