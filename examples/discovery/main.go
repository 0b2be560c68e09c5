// Command discovery is Legion's service-registry example: an HTTP service registry whose
// services are partitions of a Legion cluster. Instances ping to register; lookups find
// the live instances of a service (optionally within a semantic-version range); the
// registry lists every known service and the graph of who looks up whom.
//
//	discovery -name n1 [-data DIR [-init]] [-listen HOST:PORT [-advertise HOST:PORT]] [-http HOST:PORT]
//	          [-ttl 30s] [-gossip IP:PORT [-gossip-advertise IP[:PORT]] -seeds A,B | -consul ADDR [-consul-service NAME]] [-v]
//
// Every flag can also be set by an environment variable, DISCOVERY_ and the flag's name
// in upper case with '_' for '-' (DISCOVERY_GOSSIP_ADVERTISE); a flag on the command
// line wins. See README.md and docs/operations.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/examples/internal/nodeconf"
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

// envPrefix prefixes the environment variables of the flags (DISCOVERY_NAME for -name,
// DISCOVERY_CONSUL_SERVICE for -consul-service, ...).
const envPrefix = "DISCOVERY"

// options are the command's flags.
type options struct {
	nodeconf.Node
	consulService string
	ttl           time.Duration
}

// parseOptions parses args, then the environment (lookup) for the flags args did not
// set.
func parseOptions(args []string, lookup func(string) (string, bool), stderr io.Writer) (options, int, bool) {
	var o options
	fs := flag.NewFlagSet("discovery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.Register(fs)
	fs.StringVar(&o.consulService, "consul-service", "legion-discovery", "the Consul service name the cluster's nodes register under")
	fs.DurationVar(&o.ttl, "ttl", 30*time.Second, "how long a registration lives after its last ping")
	usage := func(format string, args ...any) (options, int, bool) {
		fmt.Fprintf(stderr, "discovery: "+format+"\n", args...)
		return o, exitUsage, true
	}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return o, exitOK, true
	case err != nil:
		return o, exitUsage, true
	case fs.NArg() > 0:
		return usage("unexpected arguments %q", fs.Args())
	}
	if err := nodeconf.FromEnv(fs, envPrefix, lookup); err != nil {
		return usage("%v", err)
	}
	if err := o.Validate(); err != nil {
		return usage("%v", err)
	}
	if o.ttl <= 0 {
		return usage("-ttl must be positive")
	}
	return o, 0, false
}

// run runs a node with args (without the program name) until SIGINT or SIGTERM, then
// leaves the cluster gracefully, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, code, done := parseOptions(args, os.LookupEnv, stderr)
	if done {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := o.Logger(stderr)
	fail := func(err error) int {
		fmt.Fprintf(stderr, "discovery: %v\n", err)
		return exitFailed
	}

	membership, err := o.Membership(o.consulService, logger)
	if err != nil {
		return fail(err)
	}
	var store storage.Store // nil: in memory
	if o.Data != "" {
		s, err := pebblestore.Open(o.Data, storage.Options{Node: o.Name, Create: o.Init, Logger: logger})
		if err != nil {
			return fail(err)
		}
		defer s.Close() // after the node stopped: the node does not close a store it was given
		store = s
	}
	ln, err := nodeconf.Listen(o.HTTP, o.MaxConns)
	if err != nil {
		return fail(err)
	}
	defer ln.Close() // Serve closed it already, unless the node did not start
	meta := map[string]string{"http": ln.Addr().String()}
	adminLn, err := o.ListenAdmin()
	if err != nil {
		return fail(err)
	}
	var registry *prometheus.Registry // the node's metrics, served on the admin API's /metrics
	if adminLn != nil {
		defer adminLn.Close() // the admin server closed it already, unless the node did not start
		meta[nodeconf.AdminMetaKey] = adminLn.Addr().String()
		registry = prometheus.NewRegistry()
	}
	cfg := actor.Config{
		Name:              o.Name,
		ListenAddr:        o.Listen,
		AdvertiseAddr:     o.Advertise,
		TLS:               o.TLS(),
		Kinds:             []actor.KindSpec{Service, Index},
		ReplicationFactor: replicationFactor,
		Membership:        membership,
		Store:             store,
		Logger:            logger,
		AttemptTimeout:    attemptTimeout,
		Meta:              meta,
	}
	if registry != nil {
		cfg.Metrics = registry
	}
	node, err := actor.Start(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	var adminSrv *nodeconf.AdminServer
	if adminLn != nil {
		if adminSrv, err = o.ServeAdmin(adminLn, node, registry, logger); err != nil {
			node.Stop(ctx)
			return fail(err)
		}
		fmt.Fprintf(stdout, "admin http://%s/ (the dashboard; legion -addr %[1]s status)\n", adminSrv.Addr())
	}
	mux := http.NewServeMux()
	mux.Handle("/", newRegistry(node, o.ttl, time.Now, logger).routes())
	nodeconf.HandleHealth(mux, node)
	srv := nodeconf.NewServer(mux)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "ready name=%s peer=%s http=%s membership=%s remoting=%s\n",
		o.Name, node.Peer(), ln.Addr(), membership.Addr(), node.Address())

	status := exitOK
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "discovery: http: %v\n", err)
		status = exitFailed
	case <-node.Failed(): // its store could not write: the node stops by itself
		fmt.Fprintf(stderr, "discovery: %v\n", node.Err())
		status = exitFailed
	}
	fmt.Fprintln(stdout, "shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), o.StopTimeout)
	defer cancel()
	srv.Shutdown(shutdown) // lets the requests in flight finish; Serve returns
	stopErr := node.Stop(shutdown)
	if err := adminSrv.Close(shutdown); err != nil { // last: it reports the node's departure
		fmt.Fprintf(stderr, "discovery: admin: %v\n", err)
	}
	if stopErr != nil {
		return fail(stopErr)
	}
	return status
}
