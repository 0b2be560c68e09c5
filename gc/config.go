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
	// ErrNoMajority (in Plan.Held): this node does not see a strict majority of the members
	// that count live (see Decide), so Decide planned nothing.
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
	// DefaultTombstoneTTLFactor: TombstoneTTL defaults to this many times EjectAfter
	// (5 minutes with the default EjectAfter).
	DefaultTombstoneTTLFactor = 30
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
	// TombstoneTTL is how long a tombstone (a member listed with Live false) counts towards
	// the majority after its Since; an older one may still be ejected, but no longer
	// counts. It bounds how long peers that left without being ejected (a majority lost to
	// churn) can hold garbage collection up, and it is the longest network split during
	// which a node cut off in a minority keeps counting the peers it cannot see (docs/gc.md,
	// "Majority"). Default (zero): DefaultTombstoneTTLFactor times EjectAfter. Negative is
	// invalid, and so is a value not above EjectAfter: a gone peer must still count when it
	// becomes ejectable, or a node in a minority would not count the peers it ejects.
	TombstoneTTL time.Duration
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
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = DefaultTombstoneTTLFactor * c.EjectAfter
		if c.EjectAfter > maxDuration/DefaultTombstoneTTLFactor {
			c.TombstoneTTL = maxDuration
		}
	}
	return c
}

const maxDuration = time.Duration(1<<63 - 1)

// Validate reports a field that is invalid even after WithDefaults (a negative value, or a
// TombstoneTTL not above EjectAfter). The error wraps ErrInvalidConfig.
func (c Config) Validate() error {
	d := c.WithDefaults()
	switch {
	case c.ReplicationFactor < 0:
		return fmt.Errorf("%w: ReplicationFactor %d is negative", ErrInvalidConfig, c.ReplicationFactor)
	case c.EjectAfter < 0:
		return fmt.Errorf("%w: EjectAfter %v is negative", ErrInvalidConfig, c.EjectAfter)
	case c.MaxHandoffs < 0:
		return fmt.Errorf("%w: MaxHandoffs %d is negative", ErrInvalidConfig, c.MaxHandoffs)
	case c.TombstoneTTL < 0:
		return fmt.Errorf("%w: TombstoneTTL %v is negative", ErrInvalidConfig, c.TombstoneTTL)
	case d.TombstoneTTL <= d.EjectAfter:
		return fmt.Errorf("%w: TombstoneTTL %v is not above EjectAfter %v", ErrInvalidConfig, d.TombstoneTTL, d.EjectAfter)
	}
	return nil
}
