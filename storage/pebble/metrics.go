package pebblestore

import (
	"github.com/cockroachdb/pebble/v2"
)

// Metrics is a snapshot of the store's counters, for exporters.
type Metrics struct {
	// Commits counts the non-empty batches committed since Open.
	Commits uint64
	// WALSyncs counts the fsyncs of pebble's write-ahead log files since
	// Open (counted by a file system wrapper under pebble). Commits/WALSyncs
	// is the mean group-commit size.
	WALSyncs uint64
	// WALBytes counts the bytes written to the write-ahead log since Open.
	WALBytes uint64
	// DiskBytes is the space the database occupies on disk.
	DiskBytes uint64
	// Pebble is pebble's full metrics snapshot.
	Pebble *pebble.Metrics
}

// Metrics returns a snapshot of the store's counters; storage.ErrClosed after
// Close.
func (s *Store) Metrics() (Metrics, error) {
	if err := s.enter(); err != nil {
		return Metrics{}, err
	}
	defer s.inflight.Done()
	pm := s.db.Metrics()
	m := Metrics{
		Commits:   s.commits.Load(),
		WALSyncs:  s.walSyncs.Load(),
		WALBytes:  pm.WAL.BytesWritten,
		DiskBytes: pm.DiskSpaceUsage(),
		Pebble:    pm,
	}
	return m, nil
}
