package actor

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of what names a partition. Keys and kind names travel in every call and
// replication message and in the store's keys.
const (
	// MaxKeyBytes bounds a partition key, in bytes.
	MaxKeyBytes = 1024
	// MaxKindBytes bounds a kind's name, in bytes.
	MaxKindBytes = 128
)

// ErrInvalidKey: a partition key is empty, not valid UTF-8, or longer than MaxKeyBytes.
// Call, Query and QueryReplica return it (wrapped, saying which) before sending anything;
// a node answers a message naming such a key with ErrBadPayload.
var ErrInvalidKey = errors.New("actor: invalid key")

// validateKey checks a partition key.
func validateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidKey, len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: %.40q is not UTF-8", ErrInvalidKey, key)
	}
	return nil
}

// validateKindName checks a kind's name: non-empty UTF-8 of at most MaxKindBytes, without
// '/' (a partition's origin is kind + "/" + key, which must name one partition only).
func validateKindName(name string) error {
	switch {
	case name == "":
		return errors.New("actor: kind without a name")
	case len(name) > MaxKindBytes:
		return fmt.Errorf("actor: kind name of %d bytes, limit %d", len(name), MaxKindBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("actor: kind name %.40q is not UTF-8", name)
	case strings.Contains(name, "/"):
		return fmt.Errorf("actor: kind name %q contains '/'", name)
	}
	return nil
}

// ValidateKey reports whether key can name a partition: nil, or an error wrapping
// ErrInvalidKey that says why not. For an application's API edge (an HTTP handler answers
// 400 with it).
func ValidateKey(key string) error { return validateKey(key) }
