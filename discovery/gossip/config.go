package gossip

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/legion-go/legion/discovery"
)

// Config configures a gossip provider. The zero value of every field means
// its default; the defaults suit a LAN or loopback: a crashed member leaves
// the views within about 2 to 5 seconds.
type Config struct {
	// BindAddr is the IP address to listen on (UDP and TCP) and, without
	// AdvertiseAddr, to advertise. Default "127.0.0.1".
	BindAddr string
	// BindPort is the port to listen on; 0 picks a free port (see
	// [Provider.Addr]).
	BindPort int
	// AdvertiseAddr is the IP address other members reach this one at, when it
	// is not BindAddr: BindAddr 0.0.0.0, NAT, a container (in Kubernetes, the
	// pod IP from the downward API). An IP address, not a name: memberlist
	// publishes it as is. Default empty: BindAddr (for 0.0.0.0, memberlist
	// picks a private address of the host's).
	AdvertiseAddr string
	// AdvertisePort is the port other members reach this one at, with
	// AdvertiseAddr. Default 0: the port bound.
	AdvertisePort int
	// Seeds are host:port gossip addresses of members to join through. Empty
	// means this member starts a cluster alone and waits to be joined. The
	// member's own address is ignored.
	Seeds []string
	// ProbeInterval is how often each member probes one other member.
	// Default 500ms.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack before
	// indirect probes are tried; below ProbeInterval. Default 250ms.
	ProbeTimeout time.Duration
	// SuspicionMult scales the suspicion timeout: a member that failed its
	// probes is declared dead after at least SuspicionMult × ProbeInterval ×
	// max(1, log10(members)) unless it refutes. Default 4.
	SuspicionMult int
	// SuspicionMaxTimeoutMult bounds the suspicion timeout from above, as a
	// multiple of the minimum above; the timeout starts at that bound and
	// shrinks as other members confirm the suspicion. Default 2.
	SuspicionMaxTimeoutMult int
	// GossipInterval is how often a member gossips queued messages. Default 100ms.
	GossipInterval time.Duration
	// PushPullInterval is how often a member syncs its full state with a
	// random other member (repairs missed gossip). Default 10s.
	PushPullInterval time.Duration
	// TCPTimeout bounds a TCP exchange (join, push/pull, fallback probe).
	// Stop may wait this long for a join attempt in flight. Default 2s.
	TCPTimeout time.Duration
	// RejoinInterval is the longest pause between two attempts to join the
	// seeds while the member knows no other member. Default 1s.
	RejoinInterval time.Duration
	// LeaveTimeout bounds how long Stop waits for its leave message to go
	// out. Default 1s.
	LeaveTimeout time.Duration
	// SecretKey, if set, encrypts and authenticates every gossip message
	// (memberlist's AES-GCM keyring): 16, 24 or 32 bytes, the same on every
	// member. A member without it, or with another, can neither join nor be
	// read, and what it sends is dropped. Empty (the default): gossip is in the
	// clear, and anyone who reaches the port can read membership and forge it;
	// set a key whenever the port is reachable from beyond the cluster's hosts.
	SecretKey []byte
	// SecretKeyFile, if set, names a file holding SecretKey in base64 (as
	// `openssl rand -base64 32` prints it; surrounding white space is
	// ignored), read by [New]. At most one of SecretKey and SecretKeyFile.
	SecretKeyFile string
	// Label, if set, is sent with every gossip message, and a member drops
	// messages with another label or none: it keeps clusters that share a
	// network apart. It is no authentication (see SecretKey); with a key, it is
	// authenticated with each message. At most 255 bytes. Default empty.
	Label string
	// MaxMembers bounds the cluster's size as this member accepts it: a full state
	// exchange (push/pull, over TCP) announcing more node states, or more than 1 MiB
	// of user state (this provider sends none), is refused before memberlist
	// allocates for it, and memberlist reads at most MaxMembers KiB + 1 MiB from one
	// TCP stream. Default 4096.
	MaxMembers int
	// MaxInboundStreams bounds the inbound TCP streams (joins, push/pulls, fallback
	// probes) this member checks or handles at once; one more is closed at once.
	// Default 32.
	MaxInboundStreams int
	// Logger receives the provider's and memberlist's logs. Nil discards them.
	Logger *slog.Logger
}

// Defaults of [Config].
const (
	DefaultBindAddr                = "127.0.0.1"
	DefaultProbeInterval           = 500 * time.Millisecond
	DefaultProbeTimeout            = 250 * time.Millisecond
	DefaultSuspicionMult           = 4
	DefaultSuspicionMaxTimeoutMult = 2
	DefaultGossipInterval          = 100 * time.Millisecond
	DefaultPushPullInterval        = 10 * time.Second
	DefaultTCPTimeout              = 2 * time.Second
	DefaultRejoinInterval          = time.Second
	DefaultLeaveTimeout            = time.Second
	DefaultMaxMembers              = 4096
	DefaultMaxInboundStreams       = 32
)

func (c Config) withDefaults() Config {
	setD := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	setI := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	if c.BindAddr == "" {
		c.BindAddr = DefaultBindAddr
	}
	setD(&c.ProbeInterval, DefaultProbeInterval)
	setD(&c.ProbeTimeout, DefaultProbeTimeout)
	setI(&c.SuspicionMult, DefaultSuspicionMult)
	setI(&c.SuspicionMaxTimeoutMult, DefaultSuspicionMaxTimeoutMult)
	setD(&c.GossipInterval, DefaultGossipInterval)
	setD(&c.PushPullInterval, DefaultPushPullInterval)
	setD(&c.TCPTimeout, DefaultTCPTimeout)
	setD(&c.RejoinInterval, DefaultRejoinInterval)
	setD(&c.LeaveTimeout, DefaultLeaveTimeout)
	setI(&c.MaxMembers, DefaultMaxMembers)
	setI(&c.MaxInboundStreams, DefaultMaxInboundStreams)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: gossip: "+format, append([]any{discovery.ErrInvalidConfig}, args...)...)
	}
	if net.ParseIP(c.BindAddr) == nil {
		return bad("BindAddr %q is not an IP address", c.BindAddr)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return bad("BindPort %d out of range", c.BindPort)
	}
	if ip := net.ParseIP(c.AdvertiseAddr); c.AdvertiseAddr != "" && (ip == nil || ip.IsUnspecified()) {
		return bad("AdvertiseAddr %q is not an IP address other members can reach", c.AdvertiseAddr)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 || c.AdvertisePort != 0 && c.AdvertiseAddr == "" {
		return bad("AdvertisePort %d: want 1 to 65535, with AdvertiseAddr", c.AdvertisePort)
	}
	for _, s := range c.Seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return bad("seed %q: %v", s, err)
		}
	}
	if c.SecretKeyFile != "" && len(c.SecretKey) > 0 {
		return bad("both SecretKey and SecretKeyFile are set")
	}
	if n := len(c.SecretKey); n != 0 && n != 16 && n != 24 && n != 32 {
		return bad("SecretKey is %d bytes, want 16, 24 or 32", n)
	}
	if len(c.Label) > 255 {
		return bad("Label is %d bytes, at most 255", len(c.Label))
	}
	switch {
	case c.ProbeInterval <= 0 || c.GossipInterval <= 0 || c.PushPullInterval <= 0 ||
		c.TCPTimeout <= 0 || c.RejoinInterval <= 0 || c.LeaveTimeout <= 0:
		return bad("intervals and timeouts must be positive")
	case c.ProbeTimeout <= 0 || c.ProbeTimeout >= c.ProbeInterval:
		return bad("ProbeTimeout %v must be in (0, ProbeInterval %v)", c.ProbeTimeout, c.ProbeInterval)
	case c.SuspicionMult < 1 || c.SuspicionMaxTimeoutMult < 1:
		return bad("SuspicionMult and SuspicionMaxTimeoutMult must be at least 1")
	case c.MaxMembers < 1 || c.MaxMembers > 1<<20:
		return bad("MaxMembers %d: want 1 to %d", c.MaxMembers, 1<<20)
	case c.MaxInboundStreams < 1:
		return bad("MaxInboundStreams %d: want at least 1", c.MaxInboundStreams)
	}
	return nil
}

// readKey returns the key SecretKeyFile holds.
func readKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: gossip: SecretKeyFile: %v", discovery.ErrInvalidConfig, err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: gossip: SecretKeyFile %s: not base64: %v", discovery.ErrInvalidConfig, path, err)
	}
	return key, nil
}
