package storage

import "errors"

// Sentinel errors. Implementations wrap them with %w and context (the data
// directory, the cause), so test with errors.Is.
var (
	// ErrNotFound: the data directory does not exist (or holds no store) and
	// Options.Create is false.
	ErrNotFound = errors.New("storage: data directory not found")
	// ErrWrongNode: the data directory was created for another node. The error
	// message names both nodes.
	ErrWrongNode = errors.New("storage: data directory belongs to another node")
	// ErrVersion: the data directory was written in a format this build does not
	// know (typically by a newer build).
	ErrVersion = errors.New("storage: unknown format version")
	// ErrCorrupt: the data directory or a record in it is damaged. The store
	// never resets itself over corrupt data; an operator has to decide.
	ErrCorrupt = errors.New("storage: corrupt data")
	// ErrLocked: the data directory is already open, in this process or in
	// another one.
	ErrLocked = errors.New("storage: data directory in use")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("storage: store closed")
	// ErrInvalidOptions: Options.Validate rejected the options.
	ErrInvalidOptions = errors.New("storage: invalid options")
)
