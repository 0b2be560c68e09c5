package pebblestore

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/internal/keys"
)

// Store is a storage.Store on a pebble database. Safe for concurrent use.
// Its goroutines are pebble's (commit pipeline, flushes, compactions, WAL
// syncing, disk-health checks); Close stops them and returns after they exit.
type Store struct {
	db      *pebble.DB
	dir     string
	id      storage.Identity
	log     *slog.Logger
	release func() error // stops disk-health checks, releases the directory lock
	unlock  func() error // releases the directory lock only (Close of a failed store)
	failed  *failure

	mu       sync.Mutex // guards closed; held only to enter a call
	closed   bool
	inflight sync.WaitGroup // calls running; Close waits for them

	closeOnce sync.Once
	closeErr  error

	commits  atomic.Uint64
	walSyncs *atomic.Uint64 // counted by the syncCountingFS under pebble
}

var _ storage.Store = (*Store)(nil)

func newStore(db *pebble.DB, dir string, id storage.Identity, log *slog.Logger, failed *failure, unlock, release func() error) *Store {
	return &Store{db: db, dir: dir, id: id, log: log, failed: failed, unlock: unlock, release: release}
}

// enter registers a call, failing once Close has begun or the store failed; the
// caller must call s.inflight.Done when it returns.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	if err := s.failed.Err(); err != nil {
		return err
	}
	s.inflight.Add(1)
	return nil
}

// Commit applies b atomically with pebble.Sync: it returns after the WAL is
// fsynced. pebble's commit pipeline shares one fsync among the commits queued
// while the previous one ran (group commit).
//
// If a write or fsync fails (or already failed), the store fails: Commit
// returns an error wrapping ErrFailed and the cause, and so does every later
// call (see the package doc). Whether b was applied is then unknown.
func (s *Store) Commit(b *storage.Batch) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	if b == nil || b.Empty() {
		return nil
	}
	pb := s.db.NewBatchWithSize(b.Size() + 48*b.Len())
	if err := fill(pb, b); err != nil {
		pb.Close()
		return fmt.Errorf("storage: commit: %w", err)
	}
	// pebble's commit runs on a goroutine of its own, which halts if the disk
	// fails under it (see failure): Commit then returns the failure.
	done := make(chan error, 1)
	go func() {
		err := pb.Commit(pebble.Sync)
		pb.Close()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			s.failed.fail(wrapErr("commit", err))
			return s.failed.Err()
		}
	case <-s.failed.done:
		return s.failed.Err()
	}
	s.commits.Add(1)
	return nil
}

// fill translates b's writes into pebble's batch, in order (pebble applies a
// batch's operations in order too, so a write after a range deletion
// survives it).
func fill(pb *pebble.Batch, b *storage.Batch) error {
	var key []byte
	for _, op := range b.Ops() {
		var err error
		switch op.Kind {
		case storage.OpPutSnapshot:
			key = keys.Snapshot(key[:0], op.Partition)
			err = pb.Set(key, op.Data, nil)
		case storage.OpPutDelta:
			key = keys.Delta(key[:0], op.Partition, op.ID)
			err = pb.Set(key, op.Data, nil)
		case storage.OpDeleteDelta:
			key = keys.Delta(key[:0], op.Partition, op.ID)
			err = pb.Delete(key, nil)
		case storage.OpDeletePartition:
			key = keys.PartitionPrefix(key[:0], op.Partition)
			err = pb.DeleteRange(key, keys.PrefixEnd(key), nil)
		case storage.OpMark:
			key = keys.Mark(key[:0], storage.Mark{Reason: op.Reason, Due: op.Due, Partition: op.Partition})
			err = pb.Set(key, nil, nil)
		case storage.OpUnmark:
			key = keys.Mark(key[:0], storage.Mark{Reason: op.Reason, Due: op.Due, Partition: op.Partition})
			err = pb.Delete(key, nil)
		default:
			panic("pebblestore: unknown batch op " + op.Kind.String())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Load reads p's keys with one bounded scan of a consistent view.
func (s *Store) Load(p storage.Partition) (r storage.Replica, found bool, err error) {
	if err := s.enter(); err != nil {
		return storage.Replica{}, false, err
	}
	defer s.inflight.Done()
	prefix := keys.PartitionPrefix(nil, p)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: keys.PrefixEnd(prefix)})
	if err != nil {
		return storage.Replica{}, false, wrapErr("load", err)
	}
	defer func() {
		if cerr := it.Close(); err == nil && cerr != nil {
			r, found, err = storage.Replica{}, false, wrapErr("load", cerr)
		}
	}()
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return storage.Replica{}, false, wrapErr("load", err)
		}
		k := it.Key()
		if len(k) == len(prefix) { // the bounds guarantee at least the prefix
			return storage.Replica{}, false, fmt.Errorf("%w: load %v: malformed key %q", storage.ErrCorrupt, p, k)
		}
		switch tag, rest := k[len(prefix)], k[len(prefix)+1:]; {
		case tag == keys.TagSnapshot && len(rest) == 0:
			r.Snapshot = clone(v)
		case tag == keys.TagDelta:
			r.Deltas = append(r.Deltas, storage.Delta{ID: clone(rest), Data: clone(v)})
		default:
			return storage.Replica{}, false, fmt.Errorf("%w: load %v: malformed key %q", storage.ErrCorrupt, p, k)
		}
		found = true
	}
	if err := it.Error(); err != nil {
		return storage.Replica{}, false, wrapErr("load", err)
	}
	return r, found, nil
}

// Partitions walks the keys of kind, seeking past each partition's snapshot
// and deltas, so its cost grows with the number of partitions, not deltas.
func (s *Store) Partitions(kind string, fn func(key string) bool) (err error) {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	prefix := keys.KindPrefix(nil, kind)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: keys.PrefixEnd(prefix)})
	if err != nil {
		return wrapErr("partitions", err)
	}
	defer func() {
		if cerr := it.Close(); err == nil && cerr != nil {
			err = wrapErr("partitions", cerr)
		}
	}()
	for valid := it.First(); valid; {
		k := it.Key()
		key, n, derr := keys.DecodeString(k[len(prefix):])
		if derr != nil {
			return fmt.Errorf("%w: partitions of %q: malformed key %q", storage.ErrCorrupt, kind, k)
		}
		next := keys.PrefixEnd(k[:len(prefix)+n]) // copies: k dies with the next move
		if !fn(key) {
			return nil
		}
		valid = it.SeekGE(next)
	}
	if err := it.Error(); err != nil {
		return wrapErr("partitions", err)
	}
	return nil
}

// Marked walks the keys of reason's marks up to until: one bounded scan.
func (s *Store) Marked(reason storage.Reason, until int64, fn func(m storage.Mark) bool) (err error) {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: keys.MarkPrefix(nil, reason), UpperBound: keys.MarkUntil(reason, until)})
	if err != nil {
		return wrapErr("marked", err)
	}
	defer func() {
		if cerr := it.Close(); err == nil && cerr != nil {
			err = wrapErr("marked", cerr)
		}
	}()
	for valid := it.First(); valid; valid = it.Next() {
		m, perr := keys.ParseMark(it.Key())
		if perr != nil {
			return fmt.Errorf("%w: marks of %d: malformed key %q", storage.ErrCorrupt, reason, it.Key())
		}
		if !fn(m) {
			return nil
		}
	}
	if err := it.Error(); err != nil {
		return wrapErr("marked", err)
	}
	return nil
}

// Identity returns the identity recorded in the data directory's manifest.
func (s *Store) Identity() storage.Identity { return s.id }

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Close waits for running calls, closes pebble (which waits for its flushes
// and compactions) and releases the directory lock. Later calls return nil.
//
// Close of a failed store returns its failure at once: it releases the
// directory lock but leaves pebble where it halted (closing it could wait
// forever); pebble's own lock on its files stays held until the process
// exits, which it should.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		if err := s.failed.Err(); err != nil {
			s.closeErr = err
			_ = s.unlock()
			s.log.Info("storage closed after failing: pebble is left where it halted", "dir", s.dir)
			return
		}
		s.inflight.Wait()
		if err := s.db.Close(); err != nil {
			s.closeErr = wrapErr("close", err)
		}
		if err := s.release(); err != nil && s.closeErr == nil {
			s.closeErr = fmt.Errorf("storage: release: %w", err)
		}
		s.log.Info("storage closed", "dir", s.dir, "err", s.closeErr)
	})
	if !first {
		return nil
	}
	return s.closeErr
}

// clone returns a non-nil copy of b.
func clone(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }
