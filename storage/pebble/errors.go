package pebblestore

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/legion-go/legion/storage"
)

// isCorruption reports whether a pebble error means damaged data.
func isCorruption(err error) bool {
	return pebble.IsCorruptionError(err)
}

// wrapErr adds the operation to a pebble error, marking corruption with
// storage.ErrCorrupt.
func wrapErr(op string, err error) error {
	if isCorruption(err) {
		return fmt.Errorf("%w: %s: %w", storage.ErrCorrupt, op, err)
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}
