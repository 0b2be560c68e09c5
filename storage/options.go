package storage

import (
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// Defaults applied by Options.WithDefaults.
const (
	DefaultCacheSize    = 64 << 20 // bytes
	DefaultMemTableSize = 16 << 20 // bytes
	maxMemTableSize     = 4<<30 - 1
)

// Options configure opening a store's data directory. The zero value of every
// field but Node is valid and means the documented default.
type Options struct {
	// Node is this node's name; required. It is recorded in the data directory
	// at creation, and opening the directory under another name fails with
	// ErrWrongNode. Any valid UTF-8 without "~" (PeerSeparator).
	Node string

	// Create creates the data directory, with a new incarnation, when it does
	// not exist or is empty. false: a missing or empty directory is
	// ErrNotFound. An existing store is opened either way; a non-empty
	// directory that holds no store is never taken over (ErrCorrupt).
	Create bool

	// Logger receives the store's logs (and pebble's). nil discards them.
	Logger *slog.Logger

	// CacheSize is the block cache size in bytes. 0 means DefaultCacheSize
	// (64 MiB). Negative is invalid.
	CacheSize int64

	// MemTableSize is the size in bytes of one memtable, the in-memory write
	// buffer flushed to disk when full (two may exist at once). 0 means
	// DefaultMemTableSize (16 MiB). Must be below 4 GiB; negative is invalid.
	MemTableSize int64
}

// WithDefaults returns a copy of o with zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	return o
}

// Validate reports why o cannot be used, as an error wrapping
// ErrInvalidOptions, or nil. Zero fields are valid (they mean the default).
func (o Options) Validate() error {
	switch {
	case o.Node == "":
		return fmt.Errorf("%w: Node is required", ErrInvalidOptions)
	case !utf8.ValidString(o.Node):
		return fmt.Errorf("%w: Node %q is not valid UTF-8", ErrInvalidOptions, o.Node)
	case strings.Contains(o.Node, PeerSeparator):
		return fmt.Errorf("%w: Node %q contains %q", ErrInvalidOptions, o.Node, PeerSeparator)
	case o.CacheSize < 0:
		return fmt.Errorf("%w: CacheSize %d is negative", ErrInvalidOptions, o.CacheSize)
	case o.MemTableSize < 0 || o.MemTableSize > maxMemTableSize:
		return fmt.Errorf("%w: MemTableSize %d outside [0, 4 GiB)", ErrInvalidOptions, o.MemTableSize)
	}
	return nil
}
