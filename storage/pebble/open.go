package pebblestore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/internal/keys"
)

const (
	// pebbleDirName is the subdirectory holding pebble's files.
	pebbleDirName = "pebble"
	// formatMajorVersion is pinned so that upgrading pebble does not silently
	// ratchet the on-disk format (which forbids downgrading): raising it is a
	// deliberate change. FormatValueSeparation is FormatNewest of pebble
	// v2.1.7 (value separation itself stays disabled).
	formatMajorVersion = pebble.FormatValueSeparation
	// diskSlowThreshold: a disk operation on pebble's files running longer
	// than this is logged ("pebble disk slow"); pebble's default.
	diskSlowThreshold = 5 * time.Second
)

// identityKey holds, inside pebble, the Peer id of the manifest that created
// it: a pebble directory moved under another node's manifest is caught.
var identityKey = keys.Meta("identity")

// Open opens the store in the data directory dir; see the package doc for the
// directory's layout and the errors.
func Open(dir string, opts storage.Options) (*Store, error) {
	return open(dir, opts, nil)
}

// open is Open on file system fsys; nil means the operating system's (with
// pebble's disk-health checks on pebble's files). Tests pass a crashable
// in-memory file system.
func open(dir string, opts storage.Options, fsys vfs.FS) (_ *Store, err error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	pebbleFS := fsys
	var healthChecks io.Closer = nopCloser{}
	if fsys == nil {
		fsys = vfs.Default
		// Ours rather than pebble's default: pebble does not stop its
		// ticker goroutine when Open fails.
		pebbleFS, healthChecks = vfs.WithDiskHealthChecks(vfs.Default, diskSlowThreshold, nil,
			func(info vfs.DiskSlowInfo) { opts.Logger.Warn("pebble disk slow", "info", info.String()) })
	}
	defer func() {
		if err != nil {
			_ = healthChecks.Close()
		}
	}()
	failed := newFailure(opts.Logger)
	counter := &syncCountingFS{FS: &guardFS{FS: pebbleFS, f: failed}}
	if err := ensureDir(fsys, dir, opts.Create); err != nil {
		return nil, err
	}
	unlock, err := lockDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	if err := probe(fsys, dir); err != nil {
		_ = unlock()
		return nil, err
	}
	m, create, err := readOrNewManifest(fsys, dir, opts)
	if err == nil {
		var db *pebble.DB
		if db, err = openDataGuarded(fsys, counter, dir, m, opts, create, failed); err == nil {
			opts.Logger.Info("storage opened", "dir", dir, "node", m.id.Node,
				"incarnation", m.id.Incarnation, "created", create)
			s := newStore(db, dir, m.id, opts.Logger, failed, unlock, func() error {
				_ = healthChecks.Close() // after pebble's Close: nothing uses the file system any more
				return unlock()
			})
			s.walSyncs = &counter.walSyncs
			return s, nil
		}
		err = fmt.Errorf("%w (data directory %q)", err, dir)
	}
	if failed.Err() != nil {
		healthChecks = nopCloser{} // pebble is stuck where it failed, on the file system
	}
	_ = unlock()
	return nil, err
}

// openDataGuarded is openData on a goroutine of its own, which it waits for unless the
// store fails first (a fatal pebble error or a failed write once pebble is open: that
// goroutine then halts, see failure).
func openDataGuarded(fsys, pebbleFS vfs.FS, dir string, m manifest, opts storage.Options, create bool, failed *failure) (*pebble.DB, error) {
	type result struct {
		db  *pebble.DB
		err error
	}
	done := make(chan result, 1)
	go func() {
		db, err := openData(fsys, pebbleFS, dir, m, opts, create, failed)
		done <- result{db, err}
	}()
	select {
	case r := <-done:
		return r.db, r.err
	case <-failed.done:
		return nil, failed.Err()
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// ensureDir checks that dir is a directory, creating it if missing and
// create is set.
func ensureDir(fsys vfs.FS, dir string, create bool) error {
	info, err := fsys.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !create:
		return fmt.Errorf("%w: %q does not exist", storage.ErrNotFound, dir)
	case errors.Is(err, fs.ErrNotExist):
		if err := mkdirAllSynced(fsys, dir); err != nil {
			return fmt.Errorf("storage: create %q: %w", dir, err)
		}
	case err != nil:
		return fmt.Errorf("storage: open %q: %w", dir, err)
	case !info.IsDir():
		return fmt.Errorf("storage: open %q: not a directory", dir)
	}
	return nil
}

// openData opens pebble in dir/pebble and checks it against the manifest; or,
// when create is set, creates it and then writes the manifest. A failed
// creation removes what it made.
func openData(fsys, pebbleFS vfs.FS, dir string, m manifest, opts storage.Options, create bool, failed *failure) (*pebble.DB, error) {
	pdir := fsys.PathJoin(dir, pebbleDirName)
	if !create {
		// pebble would create a missing directory before failing.
		if _, err := fsys.Stat(pdir); err != nil {
			return nil, fmt.Errorf("%w: the manifest is there but the %s directory is unreadable: %w",
				storage.ErrCorrupt, pebbleDirName, err)
		}
	}
	db, err := openPebble(pdir, opts, pebbleFS, create, failed)
	if err == nil {
		failed.live.Store(true) // from now on, a failed write halts where it fails
	}
	if err == nil && create {
		err = initialize(fsys, dir, db, m)
	} else if err == nil {
		err = checkIdentity(db, m.id)
	}
	if err != nil {
		if db != nil {
			_ = db.Close()
		}
		if create {
			_ = fsys.RemoveAll(pdir) // ours: the directory was empty
		}
		return nil, err
	}
	return db, nil
}

// readOrNewManifest returns dir's manifest, or a new one (create=true) when
// dir is empty and opts.Create is set.
func readOrNewManifest(fsys vfs.FS, dir string, opts storage.Options) (m manifest, create bool, err error) {
	m, err = readManifest(fsys, dir)
	switch {
	case err == nil:
		if m.id.Node != opts.Node {
			return manifest{}, false, fmt.Errorf("%w: %q was created for node %q, this is node %q",
				storage.ErrWrongNode, dir, m.id.Node, opts.Node)
		}
		return m, false, nil
	case !errors.Is(err, errNoManifest):
		return manifest{}, false, fmt.Errorf("%w (data directory %q)", err, dir)
	}
	names, err := fsys.List(dir)
	if err != nil {
		return manifest{}, false, fmt.Errorf("storage: list %q: %w", dir, err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == lockName || n == manifestTmpName || n == probeName })
	if len(names) > 0 {
		slices.Sort(names)
		return manifest{}, false, fmt.Errorf("%w: %q holds %q but no %s; not taking it over "+
			"(a crash while the directory was being created also leaves this: remove it to start afresh)",
			storage.ErrCorrupt, dir, names, manifestName)
	}
	if !opts.Create {
		return manifest{}, false, fmt.Errorf("%w: %q is empty", storage.ErrNotFound, dir)
	}
	_ = fsys.Remove(fsys.PathJoin(dir, manifestTmpName)) // a leftover of a crashed creation, if any
	id := storage.Identity{Node: opts.Node, Incarnation: storage.NewIncarnation()}
	return manifest{format: formatVersion, id: id}, true, nil
}

// initialize completes a new data directory: the identity record in pebble,
// then the manifest, whose presence marks the directory as created.
func initialize(fsys vfs.FS, dir string, db *pebble.DB, m manifest) error {
	if err := db.Set(identityKey, []byte(m.id.Peer()), pebble.Sync); err != nil {
		return fmt.Errorf("storage: write identity: %w", err)
	}
	return writeManifest(fsys, dir, m)
}

// checkIdentity checks that pebble's identity record matches the manifest.
func checkIdentity(db *pebble.DB, id storage.Identity) error {
	v, closer, err := db.Get(identityKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("%w: pebble data has no identity record", storage.ErrCorrupt)
	}
	if err != nil {
		return wrapErr("read identity", err)
	}
	got := string(v)
	_ = closer.Close()
	if got != id.Peer() {
		return fmt.Errorf("%w: pebble data belongs to %q but the manifest says %q", storage.ErrCorrupt, got, id.Peer())
	}
	return nil
}

// openPebble opens (create: creates) the pebble database in dir.
func openPebble(dir string, opts storage.Options, fsys vfs.FS, create bool, failed *failure) (*pebble.DB, error) {
	po := &pebble.Options{
		FS:                 fsys,
		CacheSize:          opts.CacheSize,
		MemTableSize:       uint64(opts.MemTableSize),
		Logger:             pebbleLogger{opts.Logger, failed},
		EventListener:      eventListener(opts.Logger),
		ErrorIfExists:      create,
		ErrorIfNotExists:   !create,
		FormatMajorVersion: formatMajorVersion,
	}
	db, err := pebble.Open(dir, po)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, pebble.ErrDBDoesNotExist):
		return nil, fmt.Errorf("%w: the manifest is there but pebble's data is missing: %w", storage.ErrCorrupt, err)
	case isCorruption(err):
		return nil, fmt.Errorf("%w: open pebble: %w", storage.ErrCorrupt, err)
	case strings.Contains(err.Error(), "format major version"):
		// pebble has no sentinel for "written in a format this build cannot
		// read" (too new, or too old); its messages all say this.
		return nil, fmt.Errorf("%w: open pebble: %w", storage.ErrVersion, err)
	}
	return nil, fmt.Errorf("storage: open pebble: %w", err)
}
