package pebblestore

import (
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walCategory is the write category pebble gives its WAL files.
const walCategory vfs.DiskWriteCategory = "pebble-wal"

// syncCountingFS counts the full syncs of pebble's WAL files: the fsyncs
// that group commit shares (Metrics.WALSyncs). Everything else passes
// through.
type syncCountingFS struct {
	vfs.FS
	walSyncs atomic.Uint64
}

func (fs *syncCountingFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrap(f, category, err)
}

func (fs *syncCountingFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrap(f, category, err)
}

// Unwrap returns the wrapped file system (see vfs.Root).
func (fs *syncCountingFS) Unwrap() vfs.FS { return fs.FS }

func (fs *syncCountingFS) wrap(f vfs.File, category vfs.DiskWriteCategory, err error) (vfs.File, error) {
	if err != nil || category != walCategory {
		return f, err
	}
	return &syncCountingFile{File: f, syncs: &fs.walSyncs}, nil
}

type syncCountingFile struct {
	vfs.File
	syncs *atomic.Uint64
}

func (f *syncCountingFile) Sync() error {
	f.syncs.Add(1)
	return f.File.Sync()
}

func (f *syncCountingFile) SyncData() error {
	f.syncs.Add(1)
	return f.File.SyncData()
}

// SyncTo counts only when it performed a full sync (otherwise it merely
// started writeback of a prefix: no durability).
func (f *syncCountingFile) SyncTo(length int64) (fullSync bool, err error) {
	fullSync, err = f.File.SyncTo(length)
	if fullSync {
		f.syncs.Add(1)
	}
	return fullSync, err
}
