package pebblestore

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// syncDir fsyncs a directory, making the creation, removal and renaming of
// its entries durable.
func syncDir(fsys vfs.FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirAllSynced creates dir and any missing parents, fsyncing the parent of
// each directory it creates so that the creation survives a crash.
func mkdirAllSynced(fsys vfs.FS, dir string) error {
	var missing []string // innermost first
	for d := dir; ; {
		_, err := fsys.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		parent := fsys.PathDir(d)
		if parent == d {
			break
		}
		d = parent
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := fsys.MkdirAll(missing[i], 0o755); err != nil {
			return err
		}
		if err := syncDir(fsys, fsys.PathDir(missing[i])); err != nil {
			return fmt.Errorf("sync parent of %q: %w", missing[i], err)
		}
	}
	return nil
}
