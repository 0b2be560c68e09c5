package nodeconf

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/consul"
	"github.com/legion-go/legion/discovery/gossip"
)

// Node is the configuration every node of the examples shares: identity and data
// directory, remoting, the HTTP API and membership. [Node.Register] defines a flag for
// each field; the field's default is the flag's.
type Node struct {
	Name string // -name: the node's name; required
	Data string // -data: the pebble store's directory; empty: in memory
	Init bool   // -init: create Data, with a new identity, when it does not exist

	Listen    string // -listen: host:port remoting binds
	Advertise string // -advertise: host:port peers dial for remoting (actor.Config.AdvertiseAddr)

	HTTP     string // -http: host:port of the HTTP API
	MaxConns int    // -max-conns: HTTP connections served at once ([Listen])

	// Admin is -admin: host:port of the node's admin API (package actor/admin: probes,
	// /metrics, the cluster view, the dashboard); loopback unless it names another host,
	// empty: off. AdminActions is -admin-actions: it accepts the operator's eject.
	Admin        string
	AdminActions bool

	Gossip          string // -gossip: IP:port gossip binds
	GossipAdvertise string // -gossip-advertise: IP[:port] other members reach gossip at
	Seeds           string // -seeds: comma-separated gossip addresses to join
	Consul          string // -consul: a Consul agent's address; membership through Consul instead of gossip

	// Security (issue #18): mutual TLS for remoting (actor.Config.TLS), gossip's
	// encryption key and label (gossip.Config.SecretKeyFile, Label), and the Consul
	// provider's ACL token and HTTPS to its agent (consul.Config.TokenFile, TLS). Every
	// secret is a file's path, never a value: a Secret mounted as files, not a flag in
	// the process list or a variable in the pod's spec.
	TLSCA, TLSCert, TLSKey string // -tls-ca, -tls-cert, -tls-key: PEM files; all three or none
	GossipKeyFile          string // -gossip-key-file: a file holding the base64 key
	GossipLabel            string // -gossip-label

	ConsulTokenFile       string // -consul-token-file: a file holding the ACL token
	ConsulCA              string // -consul-ca: PEM CA of the agent's HTTPS; turns HTTPS on
	ConsulCert, ConsulKey string // -consul-cert, -consul-key: a client certificate for the agent
	ConsulTLSServerName   string // -consul-tls-server-name: the name the agent's certificate carries

	// StopTimeout is -stop-timeout: how long a node told to stop (SIGTERM) may take to
	// finish the HTTP requests in flight, hand its replicas over (actor.Node.Stop) and
	// leave. An orchestrator's grace period before it kills the process must be longer.
	StopTimeout time.Duration

	Verbose bool // -v: log at info level
}

// DefaultAdmin is -admin's default: loopback, a free port (several nodes share a host in
// the examples' tests); the node publishes the address it bound in its membership
// metadata (AdminMetaKey), and `legion members` lists it.
const DefaultAdmin = "127.0.0.1:0"

// DefaultStopTimeout is -stop-timeout's default.
const DefaultStopTimeout = 15 * time.Second

// Register defines Node's flags on fs, with their defaults.
func (n *Node) Register(fs *flag.FlagSet) {
	fs.StringVar(&n.Name, "name", "", "the node's name (required; a data directory belongs to one name)")
	fs.StringVar(&n.Data, "data", "", "data directory of the node's pebble store (empty: in memory, nothing survives)")
	fs.BoolVar(&n.Init, "init", false, "create the data directory, with a new peer identity, when it does not exist (without it, a missing directory is an error: never a silent reset)")
	fs.StringVar(&n.Listen, "listen", "127.0.0.1:0", "host:port of the node's remoting (port 0: a free one; 0.0.0.0 needs -advertise)")
	fs.StringVar(&n.Advertise, "advertise", "", "host:port other nodes dial for remoting, a DNS name or an IP (empty: the address -listen bound)")
	fs.StringVar(&n.HTTP, "http", "127.0.0.1:8080", "host:port of the HTTP API (port 0: a free one)")
	fs.StringVar(&n.Admin, "admin", DefaultAdmin, "host:port of the admin API and dashboard (actor/admin; loopback unless a host is named, port 0: a free one, published in membership as meta \"admin\"; empty: off)")
	fs.BoolVar(&n.AdminActions, "admin-actions", false, "let the admin API eject a dead peer (POST /api/eject; default: read-only)")
	fs.IntVar(&n.MaxConns, "max-conns", DefaultMaxConns, "HTTP connections served at once; more wait in the listen backlog")
	fs.StringVar(&n.Gossip, "gossip", "127.0.0.1:7946", "IP:port the gossip membership binds, UDP and TCP (port 0: a free one)")
	fs.StringVar(&n.GossipAdvertise, "gossip-advertise", "", "IP[:port] other members reach gossip at, when not the bound one (empty: the bound address)")
	fs.StringVar(&n.Seeds, "seeds", "", "comma-separated gossip addresses (host:port; a DNS name stands for all its addresses) of members to join (empty: wait to be joined)")
	fs.StringVar(&n.Consul, "consul", "", "address of a Consul agent, for membership through Consul instead of gossip")
	fs.StringVar(&n.TLSCA, "tls-ca", "", "PEM file of the cluster's CA: remoting is mutual TLS, with -tls-cert and -tls-key (empty: plain text)")
	fs.StringVar(&n.TLSCert, "tls-cert", "", "PEM file of this node's certificate, naming the host of -advertise (or -listen)")
	fs.StringVar(&n.TLSKey, "tls-key", "", "PEM file of this node's private key")
	fs.StringVar(&n.GossipKeyFile, "gossip-key-file", "", "file holding the gossip encryption key, base64 of 16, 24 or 32 bytes (empty: gossip unencrypted)")
	fs.StringVar(&n.GossipLabel, "gossip-label", "", "label sent with every gossip message; members with another label are dropped")
	fs.StringVar(&n.ConsulTokenFile, "consul-token-file", "", "file holding the Consul ACL token, with -consul (empty: CONSUL_HTTP_TOKEN_FILE or CONSUL_HTTP_TOKEN, else the agent's default token)")
	fs.StringVar(&n.ConsulCA, "consul-ca", "", "PEM file of the CA of the Consul agent's certificate, with -consul: the agent is spoken to over HTTPS")
	fs.StringVar(&n.ConsulCert, "consul-cert", "", "PEM file of a client certificate for a Consul agent that verifies clients, with -consul-key")
	fs.StringVar(&n.ConsulKey, "consul-key", "", "PEM file of the key of -consul-cert")
	fs.StringVar(&n.ConsulTLSServerName, "consul-tls-server-name", "", "the name the Consul agent's certificate carries (empty: the host of -consul)")
	fs.DurationVar(&n.StopTimeout, "stop-timeout", DefaultStopTimeout, "how long a stopping node (SIGTERM) may take to finish requests, hand its replicas over and leave; keep an orchestrator's grace period longer")
	fs.BoolVar(&n.Verbose, "v", false, "log at info level (default: warnings and errors only)")
}

// Validate reports the flag values no node can start with; the runtime and the
// providers check the rest, each naming what it refuses.
func (n Node) Validate() error {
	switch {
	case n.Name == "":
		return errors.New("-name is required")
	case n.MaxConns < 1:
		return fmt.Errorf("-max-conns %d: want at least 1", n.MaxConns)
	case n.StopTimeout <= 0:
		return fmt.Errorf("-stop-timeout %v: want a positive duration", n.StopTimeout)
	case n.Consul != "" && (n.Seeds != "" || n.GossipAdvertise != "" || n.GossipKeyFile != "" || n.GossipLabel != ""):
		return errors.New("-consul: membership through Consul takes no -seeds, -gossip-advertise, -gossip-key-file or -gossip-label")
	case (n.TLSCA != "" || n.TLSCert != "" || n.TLSKey != "") && (n.TLSCA == "" || n.TLSCert == "" || n.TLSKey == ""):
		return errors.New("-tls-ca, -tls-cert and -tls-key go together")
	case n.Consul == "" && (n.ConsulTokenFile != "" || n.ConsulCA != "" || n.ConsulCert != "" || n.ConsulKey != "" || n.ConsulTLSServerName != ""):
		return errors.New("-consul-token-file, -consul-ca, -consul-cert, -consul-key and -consul-tls-server-name need -consul")
	case (n.ConsulCert == "") != (n.ConsulKey == ""):
		return errors.New("-consul-cert and -consul-key go together")
	}
	return nil
}

// Logger is the node's logger on w: info level with -v, else warnings and errors.
func (n Node) Logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if n.Verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// TLS is remoting's mutual TLS configuration, nil without -tls-ca.
func (n Node) TLS() *actor.TLSFiles {
	if n.TLSCA == "" {
		return nil
	}
	return &actor.TLSFiles{CAFile: n.TLSCA, CertFile: n.TLSCert, KeyFile: n.TLSKey}
}

// Provider is a membership provider that knows its own address.
type Provider interface {
	discovery.Provider
	Addr() string
}

// Membership returns the Consul provider, under service, when -consul is set, else
// the gossip one.
func (n Node) Membership(service string, logger *slog.Logger) (Provider, error) {
	if n.Consul != "" {
		cfg := consul.Config{Address: n.Consul, Service: service, Logger: logger, TokenFile: n.ConsulTokenFile}
		if n.ConsulCA != "" || n.ConsulCert != "" || n.ConsulTLSServerName != "" {
			cfg.TLS = &consul.TLS{CAFile: n.ConsulCA, CertFile: n.ConsulCert, KeyFile: n.ConsulKey, ServerName: n.ConsulTLSServerName}
		}
		return consul.New(cfg)
	}
	cfg := gossip.Config{Logger: logger, SecretKeyFile: n.GossipKeyFile, Label: n.GossipLabel}
	var err error
	if cfg.BindAddr, cfg.BindPort, err = ipPort(n.Gossip, false); err != nil {
		return nil, fmt.Errorf("-gossip %q: %w", n.Gossip, err)
	}
	if n.GossipAdvertise != "" {
		if cfg.AdvertiseAddr, cfg.AdvertisePort, err = ipPort(n.GossipAdvertise, true); err != nil {
			return nil, fmt.Errorf("-gossip-advertise %q: %w", n.GossipAdvertise, err)
		}
	}
	for _, s := range strings.Split(n.Seeds, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.Seeds = append(cfg.Seeds, s)
		}
	}
	return gossip.New(cfg)
}

// ipPort splits host:port, or a lone host when portOptional (port 0).
func ipPort(s string, portOptional bool) (string, int, error) {
	if portOptional && net.ParseIP(s) != nil {
		return s, 0, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", port)
	}
	return host, p, nil
}
