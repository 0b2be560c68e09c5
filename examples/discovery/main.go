// Command discovery is Legion's service-registry example: an HTTP service registry whose
// services are partitions of a Legion cluster. Instances ping to register; lookups find
// the live instances of a service (optionally within a semantic-version range); the
// registry lists every known service and the graph of who looks up whom.
//
//	discovery -name n1 [-data DIR] [-listen HOST:PORT] [-http HOST:PORT] [-ttl 30s]
//	          [-gossip HOST:PORT -seeds A,B | -consul ADDR [-consul-service NAME]] [-v]
//
// See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/consul"
	"github.com/legion-go/legion/discovery/gossip"
	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// Settings every node of a cluster shares.
const (
	replicationFactor = 3
	attemptTimeout    = 2 * time.Second
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options are the command's flags.
type options struct {
	name, data, listen, http string
	init                     bool
	gossip, seeds            string
	consul, consulService    string
	ttl                      time.Duration
	verbose                  bool
}

func parseOptions(args []string, stderr io.Writer) (options, int, bool) {
	var o options
	fs := flag.NewFlagSet("discovery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.name, "name", "", "the node's name (required; a data directory belongs to one name)")
	fs.StringVar(&o.data, "data", "", "data directory of the node's pebble store (empty: in memory, nothing survives)")
	fs.BoolVar(&o.init, "init", false, "create the data directory, with a new peer identity, when it does not exist (without it, a missing directory is an error: never a silent reset)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "host:port of the node's remoting (port 0: a free one)")
	fs.StringVar(&o.http, "http", "127.0.0.1:8080", "host:port of the HTTP API (port 0: a free one)")
	fs.StringVar(&o.gossip, "gossip", "127.0.0.1:7946", "host:port the embedded gossip membership binds (port 0: a free one)")
	fs.StringVar(&o.seeds, "seeds", "", "comma-separated gossip addresses of members to join (empty: wait to be joined)")
	fs.StringVar(&o.consul, "consul", "", "address of a Consul agent: membership through Consul instead of gossip")
	fs.StringVar(&o.consulService, "consul-service", "legion-discovery", "the Consul service name the cluster's nodes register under")
	fs.DurationVar(&o.ttl, "ttl", 30*time.Second, "how long a registration lives after its last ping")
	fs.BoolVar(&o.verbose, "v", false, "log at info level (default: warnings and errors only)")
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return o, exitOK, true
	case err != nil:
		return o, exitUsage, true
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "discovery: unexpected arguments %q\n", fs.Args())
		return o, exitUsage, true
	case o.name == "":
		fmt.Fprintln(stderr, "discovery: -name is required")
		return o, exitUsage, true
	case o.ttl <= 0:
		fmt.Fprintln(stderr, "discovery: -ttl must be positive")
		return o, exitUsage, true
	}
	return o, 0, false
}

// run runs a node with args (without the program name) until SIGINT or SIGTERM, then
// leaves the cluster gracefully, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, code, done := parseOptions(args, stderr)
	if done {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	fail := func(err error) int {
		fmt.Fprintf(stderr, "discovery: %v\n", err)
		return exitFailed
	}

	membership, err := newMembership(o, logger)
	if err != nil {
		return fail(err)
	}
	var store storage.Store // nil: in memory
	if o.data != "" {
		s, err := pebblestore.Open(o.data, storage.Options{Node: o.name, Create: o.init, Logger: logger})
		if err != nil {
			return fail(err)
		}
		defer s.Close() // after the node stopped: the node does not close a store it was given
		store = s
	}
	ln, err := net.Listen("tcp", o.http)
	if err != nil {
		return fail(err)
	}
	node, err := actor.Start(ctx, actor.Config{
		Name:              o.name,
		ListenAddr:        o.listen,
		Kinds:             []actor.KindSpec{Service, Index},
		ReplicationFactor: replicationFactor,
		Membership:        membership,
		Store:             store,
		Logger:            logger,
		AttemptTimeout:    attemptTimeout,
		Meta:              map[string]string{"http": ln.Addr().String()},
	})
	if err != nil {
		ln.Close()
		return fail(err)
	}
	srv := &http.Server{Handler: newRegistry(node, o.ttl, time.Now, logger).routes(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "ready name=%s peer=%s http=%s membership=%s remoting=%s\n",
		o.name, node.Peer(), ln.Addr(), membership.Addr(), node.Address())

	status := exitOK
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "discovery: http: %v\n", err)
		status = exitFailed
	}
	fmt.Fprintln(stdout, "shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	srv.Shutdown(shutdown) // lets the requests in flight finish; Serve returns
	if err := node.Stop(shutdown); err != nil {
		return fail(err)
	}
	return status
}

// addressedProvider is a membership provider that knows its own address.
type addressedProvider interface {
	discovery.Provider
	Addr() string
}

// newMembership returns the Consul provider when -consul is set, else the gossip one.
func newMembership(o options, logger *slog.Logger) (addressedProvider, error) {
	if o.consul != "" {
		return consul.New(consul.Config{Address: o.consul, Service: o.consulService, Logger: logger})
	}
	host, port, err := net.SplitHostPort(o.gossip)
	if err != nil {
		return nil, fmt.Errorf("-gossip: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("-gossip: port %q: %w", port, err)
	}
	cfg := gossip.Config{BindAddr: host, BindPort: p, Logger: logger}
	if o.seeds != "" {
		cfg.Seeds = strings.Split(o.seeds, ",")
	}
	return gossip.New(cfg)
}
