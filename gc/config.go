package gc

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on.
var (
	// ErrInvalidConfig: Config.Validate rejected a field.
	ErrInvalidConfig = errors.New("gc: invalid config")
	// ErrNoMajority (in Plan.Held): this node does not see a strict majority of the known
	// members live, so Decide planned nothing.
	ErrNoMajority = errors.New("gc: no majority of members live")
	// ErrSelfNotLive (in Plan.Held): membership does not report this node itself live, so
	// Decide planned nothing.
	ErrSelfNotLive = errors.New("gc: self not live in membership")
)

// Defaults of Config's fields.
const (
	DefaultReplicationFactor = 3
	DefaultEjectAfter        = 10 * time.Second
	DefaultMaxHandoffs       = 4
)

// Config tunes Decide. The zero value means every default. Every node of a cluster must use
// the same ReplicationFactor (it decides placement); the other fields may differ per node.
type Config struct {
	// ReplicationFactor is R: how many peers hold each partition (fewer when fewer live
	// peers host the kind). Default (zero): 3. Negative is invalid.
	ReplicationFactor int
	// EjectAfter is how long membership must report a participant gone before it is
	// ejected from its partitions. Longer rides out restarts and false suspicions; shorter
	// unblocks garbage collection sooner. Default (zero): 10s. Negative is invalid.
	EjectAfter time.Duration
	// MaxHandoffs bounds the joins in flight that this node wrote (handoffs: each one sends
	// a full state). Default (zero): 4. Negative is invalid.
	MaxHandoffs int
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = DefaultReplicationFactor
	}
	if c.EjectAfter == 0 {
		c.EjectAfter = DefaultEjectAfter
	}
	if c.MaxHandoffs == 0 {
		c.MaxHandoffs = DefaultMaxHandoffs
	}
	return c
}

// Validate reports a field that is invalid even after WithDefaults (a negative value). The
// error wraps ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.ReplicationFactor < 0:
		return fmt.Errorf("%w: ReplicationFactor %d is negative", ErrInvalidConfig, c.ReplicationFactor)
	case c.EjectAfter < 0:
		return fmt.Errorf("%w: EjectAfter %v is negative", ErrInvalidConfig, c.EjectAfter)
	case c.MaxHandoffs < 0:
		return fmt.Errorf("%w: MaxHandoffs %d is negative", ErrInvalidConfig, c.MaxHandoffs)
	}
	return nil
}
