package memory

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/legion-go/legion/storage"
)

// Store is an in-memory storage.Store. Safe for concurrent use; it starts no
// goroutine.
type Store struct {
	id storage.Identity

	mu     sync.RWMutex
	closed bool
	parts  map[storage.Partition]*replica
	marks  map[storage.Mark]struct{}
}

type replica struct {
	snapshot []byte // nil: none
	deltas   map[string][]byte
}

func (r *replica) empty() bool { return r.snapshot == nil && len(r.deltas) == 0 }

var _ storage.Store = (*Store)(nil)

// New returns an empty store with identity id.
func New(id storage.Identity) *Store {
	return &Store{id: id, parts: make(map[storage.Partition]*replica), marks: make(map[storage.Mark]struct{})}
}

// Commit applies b atomically: readers see all of it or none.
func (s *Store) Commit(b *storage.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	if b == nil {
		return nil
	}
	for _, op := range b.Ops() {
		s.apply(op)
	}
	return nil
}

func (s *Store) apply(op storage.Op) {
	switch op.Kind {
	case storage.OpMark:
		s.marks[storage.Mark{Reason: op.Reason, Due: op.Due, Partition: op.Partition}] = struct{}{}
		return
	case storage.OpUnmark:
		delete(s.marks, storage.Mark{Reason: op.Reason, Due: op.Due, Partition: op.Partition})
		return
	}
	r := s.parts[op.Partition]
	if r == nil {
		if op.Kind == storage.OpDeleteDelta || op.Kind == storage.OpDeletePartition {
			return
		}
		r = &replica{deltas: make(map[string][]byte)}
		s.parts[op.Partition] = r
	}
	switch op.Kind {
	case storage.OpPutSnapshot:
		r.snapshot = clone(op.Data)
	case storage.OpPutDelta:
		r.deltas[string(op.ID)] = clone(op.Data)
	case storage.OpDeleteDelta:
		delete(r.deltas, string(op.ID))
	case storage.OpDeletePartition:
		delete(s.parts, op.Partition)
		return
	default:
		panic("memory: unknown batch op " + op.Kind.String())
	}
	if r.empty() {
		delete(s.parts, op.Partition)
	}
}

// Load returns a copy of p's replica.
func (s *Store) Load(p storage.Partition) (storage.Replica, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return storage.Replica{}, false, storage.ErrClosed
	}
	r := s.parts[p]
	if r == nil {
		return storage.Replica{}, false, nil
	}
	var out storage.Replica
	if len(r.deltas) > 0 {
		out.Deltas = make([]storage.Delta, 0, len(r.deltas))
	}
	if r.snapshot != nil {
		out.Snapshot = clone(r.snapshot)
	}
	for id, data := range r.deltas {
		out.Deltas = append(out.Deltas, storage.Delta{ID: []byte(id), Data: clone(data)})
	}
	slices.SortFunc(out.Deltas, func(a, b storage.Delta) int { return bytes.Compare(a.ID, b.ID) })
	return out, true, nil
}

// Partitions calls fn for the keys of kind in bytewise order. The keys are
// collected first, so fn runs without the store's lock held.
func (s *Store) Partitions(kind string, fn func(key string) bool) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return storage.ErrClosed
	}
	var keys []string
	for p := range s.parts {
		if p.Kind == kind {
			keys = append(keys, p.Key)
		}
	}
	s.mu.RUnlock()
	slices.Sort(keys)
	for _, k := range keys {
		if !fn(k) {
			break
		}
	}
	return nil
}

// Marked calls fn for the marks of reason due by until, in order. The marks
// are collected first, so fn runs without the store's lock held.
func (s *Store) Marked(reason storage.Reason, until int64, fn func(m storage.Mark) bool) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return storage.ErrClosed
	}
	var list []storage.Mark
	for m := range s.marks {
		if m.Reason == reason && m.Due <= until {
			list = append(list, m)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(list, func(a, b storage.Mark) int {
		if c := cmp.Compare(a.Due, b.Due); c != 0 {
			return c
		}
		if c := strings.Compare(a.Partition.Kind, b.Partition.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Partition.Key, b.Partition.Key)
	})
	for _, m := range list {
		if !fn(m) {
			break
		}
	}
	return nil
}

// Identity returns the identity given to New.
func (s *Store) Identity() storage.Identity { return s.id }

// Close drops the contents. Further calls return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.parts, s.marks = nil, nil
	return nil
}

// clone returns a non-nil copy of b.
func clone(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }
