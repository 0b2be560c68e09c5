package discovery

import "errors"

// Sentinel errors shared by all providers. Providers wrap them with %w; test
// with errors.Is.
var (
	// ErrInvalidMember reports a Member that cannot be announced (empty Peer
	// or Instance, bad Address, empty kind or meta key, ...).
	ErrInvalidMember = errors.New("discovery: invalid member")
	// ErrInvalidConfig reports a provider configuration that fails validation.
	ErrInvalidConfig = errors.New("discovery: invalid config")
	// ErrMetaTooLarge reports member metadata that does not fit the backend's
	// limits (memberlist node meta: 512 bytes; Consul service meta: 64 keys,
	// 128-byte keys, 512-byte values).
	ErrMetaTooLarge = errors.New("discovery: member metadata too large")
	// ErrBadMeta reports encoded metadata that cannot be decoded.
	ErrBadMeta = errors.New("discovery: malformed member metadata")
	// ErrStarted reports a second call to Provider.Start.
	ErrStarted = errors.New("discovery: provider already started")
	// ErrStopped reports a call to Provider.Start after Stop.
	ErrStopped = errors.New("discovery: provider stopped")
)
