package consul

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/legion-go/legion/discovery"
)

// Config configures a Consul provider. The zero value of every field means
// its default.
type Config struct {
	// Address is the Consul agent's HTTP API, "host:port" or
	// "http(s)://host:port". Default "127.0.0.1:8500".
	Address string
	// Token is the ACL token sent with every request (registration,
	// heartbeat, watch, deregistration). Empty means none is set here; the
	// consul/api client then falls back to CONSUL_HTTP_TOKEN(_FILE) if set,
	// else the agent's default token applies.
	Token string
	// Service is the Consul service name of the cluster: every member of one
	// cluster registers under it. Default "legion".
	Service string
	// TTL is the health check's time to live. A member that stops
	// refreshing it (crash, partition) leaves the views TTL after its last
	// refresh. The provider refreshes every TTL/3. Default 3s, minimum 100ms.
	TTL time.Duration
	// DeregisterCriticalAfter is how long Consul keeps a registration whose
	// check is critical before removing it (cleanup of crashed members; a
	// critical member is out of the views long before). Default 1m; Consul
	// enforces at least 1m and reaps every 30s. Negative disables it.
	DeregisterCriticalAfter time.Duration
	// WaitTime is the longest a blocking query waits for a change. Default
	// 30s; Stop cancels a waiting query at once.
	WaitTime time.Duration
	// BackoffMin and BackoffMax bound the retry delay while Consul is
	// unreachable: it doubles from BackoffMin up to BackoffMax, with jitter.
	// Defaults 100ms and 5s.
	BackoffMin, BackoffMax time.Duration
	// Logger receives the provider's logs. Nil discards them.
	Logger *slog.Logger
}

// Defaults of [Config].
const (
	DefaultAddress                 = "127.0.0.1:8500"
	DefaultService                 = "legion"
	DefaultTTL                     = 3 * time.Second
	DefaultDeregisterCriticalAfter = time.Minute
	DefaultWaitTime                = 30 * time.Second
	DefaultBackoffMin              = 100 * time.Millisecond
	DefaultBackoffMax              = 5 * time.Second
	minTTL                         = 100 * time.Millisecond
)

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if c.Service == "" {
		c.Service = DefaultService
	}
	set(&c.TTL, DefaultTTL)
	set(&c.DeregisterCriticalAfter, DefaultDeregisterCriticalAfter)
	set(&c.WaitTime, DefaultWaitTime)
	set(&c.BackoffMin, DefaultBackoffMin)
	set(&c.BackoffMax, DefaultBackoffMax)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks a config that has its defaults applied.
func (c Config) validate() error {
	switch {
	case c.TTL < minTTL:
		return fmt.Errorf("%w: consul: TTL %v below %v", discovery.ErrInvalidConfig, c.TTL, minTTL)
	case c.WaitTime < time.Second:
		return fmt.Errorf("%w: consul: WaitTime %v below 1s", discovery.ErrInvalidConfig, c.WaitTime)
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("%w: consul: backoff must satisfy 0 < BackoffMin <= BackoffMax (got %v, %v)",
			discovery.ErrInvalidConfig, c.BackoffMin, c.BackoffMax)
	}
	return nil
}
