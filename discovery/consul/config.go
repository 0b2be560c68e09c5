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
	// TokenFile names a file holding the ACL token (surrounding white space is
	// ignored), read by [New]: a token kept out of the command line and the
	// environment. At most one of Token and TokenFile.
	TokenFile string
	// TLS, if set, makes the provider talk HTTPS to the agent with these
	// files. Nil: HTTPS only if Address says "https://"; then consul/api reads
	// CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY and
	// CONSUL_TLS_SERVER_NAME (CONSUL_HTTP_SSL=true also turns HTTPS on).
	TLS *TLS
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

// TLS holds the files of the provider's HTTPS connection to the agent (PEM).
type TLS struct {
	// CAFile holds the CA certificates the agent's certificate must chain to.
	// Empty: the system's roots.
	CAFile string
	// CertFile and KeyFile hold the client certificate and key the provider
	// presents, for an agent that verifies clients (verify_incoming). Empty:
	// none.
	CertFile, KeyFile string
	// ServerName is the name the agent's certificate must carry. Empty: the
	// host of Address.
	ServerName string
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
	case c.Token != "" && c.TokenFile != "":
		return fmt.Errorf("%w: consul: both Token and TokenFile are set", discovery.ErrInvalidConfig)
	case c.TLS != nil && (c.TLS.CertFile == "") != (c.TLS.KeyFile == ""):
		return fmt.Errorf("%w: consul: TLS needs both CertFile and KeyFile, or neither", discovery.ErrInvalidConfig)
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
