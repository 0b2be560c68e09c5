package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/discovery/consul"
	"github.com/legion-go/legion/examples/internal/nodeconf"
	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// nodeAttemptTimeout is Config.AttemptTimeout of the node subcommand.
const nodeAttemptTimeout = 2 * time.Second

// maxKeyBytes bounds a counter's name in the HTTP API.
const maxKeyBytes = 256

// envPrefix prefixes the environment variables of the node subcommand's flags
// (COUNTER_NAME for -name, COUNTER_GOSSIP_ADVERTISE for -gossip-advertise, ...).
const envPrefix = "COUNTER"

// runNode is the node subcommand: one node of a cluster of processes, serving the HTTP
// API until SIGINT or SIGTERM, then leaving the cluster gracefully. Every flag can also
// be set by its environment variable (envPrefix); a flag on the command line wins.
func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	var o nodeOptions
	o.Register(fs)
	fs.DurationVar(&o.ejectAfter, "eject-after", 0, "how long membership must report a peer gone before the replicas it shares with this node eject it (actor.Config.EjectAfter; 0: the runtime's default, 10s)")
	fs.DurationVar(&o.passivateAfter, "passivate-after", 0, "how long a replica with nothing pending stays in memory without messages before it is passivated (actor.Config.PassivateAfter; 0: the runtime's default, 1m)")
	fs.Int64Var(&o.memTableBytes, "memtable-bytes", 0, "the size in bytes of the store's memtable, flushed to a new file when full (storage.Options.MemTableSize; 0: 16 MiB)")
	fs.StringVar(&o.pprof, "pprof", "", "host:port to serve Go's profiles on, /debug/pprof/ (net/http/pprof; port 0: a free one; empty: off)")
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if err := nodeconf.FromEnv(fs, envPrefix, os.LookupEnv); err != nil {
		return usageError(stderr, "node: %v", err)
	}
	if err := o.Validate(); err != nil {
		return usageError(stderr, "node: %v", err)
	}
	logger := o.Logger(stderr)
	s, err := openServer(ctx, o, logger)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return exitFailed
	}
	if s.pprofLn != nil {
		fmt.Fprintf(stdout, "pprof http://%s/debug/pprof/\n", s.pprofLn.Addr())
	}
	if s.admin != nil {
		fmt.Fprintf(stdout, "admin http://%s/ (the dashboard; legion -addr %[1]s status)\n", s.admin.Addr())
	}
	fmt.Fprintf(stdout, "ready name=%s peer=%s http=%s membership=%s remoting=%s\n",
		o.Name, s.node.Peer(), s.ln.Addr(), s.membership.Addr(), s.node.Address())
	status := s.run(ctx, stderr)
	fmt.Fprintln(stdout, "stopped")
	return status
}

// nodeOptions are the node subcommand's flags.
type nodeOptions struct {
	nodeconf.Node
	ejectAfter     time.Duration
	passivateAfter time.Duration
	memTableBytes  int64
	pprof          string // -pprof: host:port of the profiling endpoint; empty: none
}

// server is a node with its store, its membership and its HTTP API.
type server struct {
	node       *actor.Node
	store      *pebblestore.Store // nil: the node keeps its replicas in memory
	membership nodeconf.Provider
	ln         net.Listener
	http       *http.Server
	// stopTimeout bounds run's shutdown (-stop-timeout).
	stopTimeout time.Duration
	// pprofLn and pprof serve net/http/pprof (-pprof); nil when off.
	pprofLn net.Listener
	pprof   *http.Server
	// adminLn and admin serve the admin API (-admin, package actor/admin); nil when off.
	adminLn net.Listener
	admin   *nodeconf.AdminServer
}

// openServer opens the store, binds the HTTP listener (the node publishes its address
// in its membership metadata) and starts the node.
func openServer(ctx context.Context, o nodeOptions, logger *slog.Logger) (_ *server, err error) {
	s := &server{stopTimeout: o.StopTimeout}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.membership, err = o.Membership(consul.DefaultService, logger); err != nil {
		return nil, err
	}
	cfg := actor.Config{
		Name:              o.Name,
		ListenAddr:        o.Listen,
		AdvertiseAddr:     o.Advertise,
		TLS:               o.TLS(),
		Kinds:             []actor.KindSpec{Counter},
		ReplicationFactor: replicationFactor,
		Membership:        s.membership,
		Logger:            logger,
		AttemptTimeout:    nodeAttemptTimeout,
		EjectAfter:        o.ejectAfter,
		PassivateAfter:    o.passivateAfter,
	}
	if o.Data != "" {
		if s.store, err = pebblestore.Open(o.Data, storage.Options{Node: o.Name, Create: o.Init, Logger: logger, MemTableSize: o.memTableBytes}); err != nil {
			return nil, err
		}
		cfg.Store = s.store
	}
	if s.ln, err = nodeconf.Listen(o.HTTP, o.MaxConns); err != nil {
		return nil, err
	}
	cfg.Meta = map[string]string{"http": s.ln.Addr().String()}
	if s.adminLn, err = o.ListenAdmin(); err != nil {
		return nil, err
	}
	registry := prometheus.NewRegistry() // the node's metrics, served on the admin API's /metrics
	if s.adminLn != nil {
		cfg.Meta[nodeconf.AdminMetaKey] = s.adminLn.Addr().String()
		cfg.Metrics = registry
	}
	if o.pprof != "" {
		if s.pprofLn, err = net.Listen("tcp", o.pprof); err != nil {
			return nil, fmt.Errorf("-pprof: %w", err)
		}
		s.pprof = &http.Server{Handler: pprofRoutes(), ReadHeaderTimeout: 10 * time.Second}
	}
	if s.node, err = actor.Start(ctx, cfg); err != nil {
		return nil, err
	}
	s.http = nodeconf.NewServer((&api{node: s.node}).routes())
	if s.adminLn != nil {
		if s.admin, err = o.ServeAdmin(s.adminLn, s.node, registry, logger); err != nil {
			return nil, err
		}
		s.adminLn = nil // the admin server owns it
	}
	return s, nil
}

// run serves HTTP until ctx ends, serving fails or the node fails (its store could not
// write: the node stops by itself), then shuts everything down: HTTP first (the requests
// in flight finish), then the node (it leaves the cluster), then the store. A failed
// node exits non-zero with the cause.
func (s *server) run(ctx context.Context, stderr io.Writer) int {
	status := exitOK
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(s.ln) }()
	if s.pprof != nil {
		profiled := make(chan struct{})
		go func() { defer close(profiled); s.pprof.Serve(s.pprofLn) }()
		defer func() { s.pprof.Close(); <-profiled }()
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "node: http: %v\n", err)
		status = exitFailed
	case <-s.node.Failed():
		fmt.Fprintf(stderr, "node: %v\n", s.node.Err())
		status = exitFailed
	}
	shutdown, cancel := context.WithTimeout(context.Background(), s.stopTimeout)
	defer cancel()
	s.http.Shutdown(shutdown)
	if err := s.node.Stop(shutdown); err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		status = exitFailed
	}
	if err := s.admin.Close(shutdown); err != nil { // last: it reports the node's departure
		fmt.Fprintf(stderr, "node: admin: %v\n", err)
	}
	s.admin = nil
	s.node = nil
	s.close()
	return status
}

// close releases what openServer acquired and run did not release.
func (s *server) close() {
	if s.node != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		s.node.Stop(ctx)
	}
	if s.ln != nil {
		s.ln.Close()
	}
	if s.pprofLn != nil {
		s.pprofLn.Close()
	}
	if s.adminLn != nil {
		s.adminLn.Close()
	}
	if s.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.admin.Close(ctx)
	}
	if s.store != nil {
		s.store.Close()
	}
}

// pprofRoutes serves Go's runtime profiles (CPU, execution trace, heap, goroutines, ...)
// under /debug/pprof/, as net/http/pprof does on the default mux.
func pprofRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// api is a node's HTTP API. Its handlers run concurrently, and block for at most
// callTimeout.
type api struct{ node *actor.Node }

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /counters/{key}/increment", a.increment)
	mux.HandleFunc("GET /counters/{key}", a.read)
	mux.HandleFunc("DELETE /counters/{key}", a.delete)
	mux.HandleFunc("GET /counters/{key}/replicas", a.replicas)
	mux.HandleFunc("GET /members", a.members)
	mux.HandleFunc("GET /stalls", a.stalls)
	mux.HandleFunc("GET /stats", a.stats)
	nodeconf.HandleHealth(mux, a.node)
	return mux
}

// counterJSON answers an increment or a read.
type counterJSON struct {
	Key   string `json:"key"`
	Value int64  `json:"value"`
	// Uncertain, for an increment, is how many more times it may have been logged: by
	// replicas tried before the one that answered, whose attempts timed out.
	Uncertain int64 `json:"uncertain,omitempty"`
	// AppliedBefore, for an increment with an Idempotency-Key, says that an earlier
	// request with that key was applied and this one was not, and that the replica that
	// answered does not know its output: Value is not set.
	AppliedBefore bool `json:"applied_before,omitempty"`
}

// errorJSON answers a request that failed.
type errorJSON struct {
	Error string `json:"error"`
	// Uncertain, for an increment, is how many times it may have been logged anyway
	// (set for increments only).
	Uncertain *int64 `json:"uncertain,omitempty"`
}

// increment serves POST /counters/{key}/increment?by=N&consistency=fast|consistent, with an
// optional Idempotency-Key header.
func (a *api) increment(w http.ResponseWriter, r *http.Request) {
	key, ok := counterKey(w, r)
	if !ok {
		return
	}
	by := int64(1)
	if s := r.URL.Query().Get("by"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorJSON{Error: fmt.Sprintf("by=%q: want an integer", s)})
			return
		}
		by = v
	}
	level, ok := levelOf(w, r)
	if !ok {
		return
	}
	opts := requestKeyOf(r)
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	out, err := actor.RefOf(a.node, Counter, key).Call(ctx, wrapperspb.Int64(by), level, opts...)
	n := int64(1) // a call is applied at most once (request keys), so a failed one at most once
	switch {
	case errors.Is(err, actor.ErrInvalidRequestKey):
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "Idempotency-Key: " + err.Error()})
		return
	case errors.Is(err, actor.ErrOutputUnknown):
		// A retry of an increment the counter holds already, answered by a replica that
		// does not know its output: applied, once.
		writeJSON(w, http.StatusOK, counterJSON{Key: key, AppliedBefore: true})
		return
	}
	switch classify(err) {
	case logged:
		writeJSON(w, http.StatusOK, counterJSON{Key: key, Value: out.GetValue()})
	case refused:
		none := int64(0)
		writeJSON(w, statusOf(err), errorJSON{Error: err.Error(), Uncertain: &none})
	default:
		writeJSON(w, http.StatusServiceUnavailable, errorJSON{Error: err.Error(), Uncertain: &n})
	}
}

// levelOf reads the consistency parameter (fast by default); it answers 400 and
// reports false for another value.
func levelOf(w http.ResponseWriter, r *http.Request) (actor.Consistency, bool) {
	switch c := r.URL.Query().Get("consistency"); c {
	case "", "fast":
		return actor.Fast, true
	case "consistent":
		return actor.Consistent, true
	default:
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: fmt.Sprintf("consistency=%q: want fast or consistent", c)})
		return actor.Fast, false
	}
}

// requestKeyOf returns the call option of the request's Idempotency-Key header, if any:
// a retry with it (after a timeout, a 503, a crash) is applied once, within the dedup
// horizon (docs/calls.md).
func requestKeyOf(r *http.Request) []actor.CallOption {
	if ks := r.Header.Values("Idempotency-Key"); len(ks) > 0 {
		return []actor.CallOption{actor.WithRequestKey(ks[0])}
	}
	return nil
}

// deletedJSON answers a delete.
type deletedJSON struct {
	Key     string `json:"key"`
	Deleted bool   `json:"deleted"`
}

// delete serves DELETE /counters/{key}?consistency=fast|consistent, with an optional
// Idempotency-Key header: the counter is deleted (ref.Delete), and the next increment
// starts it again from 0. A retry with the same key is applied once.
func (a *api) delete(w http.ResponseWriter, r *http.Request) {
	key, ok := counterKey(w, r)
	if !ok {
		return
	}
	level, ok := levelOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	err := actor.RefOf(a.node, Counter, key).Delete(ctx, level, requestKeyOf(r)...)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, deletedJSON{Key: key, Deleted: true})
	case errors.Is(err, actor.ErrInvalidRequestKey):
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "Idempotency-Key: " + err.Error()})
	case classify(err) == refused:
		none := int64(0)
		writeJSON(w, statusOf(err), errorJSON{Error: err.Error(), Uncertain: &none})
	default: // it may have been applied: retry with the same Idempotency-Key
		one := int64(1)
		writeJSON(w, http.StatusServiceUnavailable, errorJSON{Error: err.Error(), Uncertain: &one})
	}
}

// read serves GET /counters/{key}: a fast read of one replica's projected value.
func (a *api) read(w http.ResponseWriter, r *http.Request) {
	key, ok := counterKey(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	v, err := actor.RefOf(a.node, Counter, key).Query(ctx, &wrapperspb.Int64Value{}, actor.Projected)
	if err != nil {
		writeJSON(w, statusOf(err), errorJSON{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, counterJSON{Key: key, Value: v.GetValue()})
}

// replicas serves GET /counters/{key}/replicas: each replica's value, at both levels.
func (a *api) replicas(w http.ResponseWriter, r *http.Request) {
	key, ok := counterKey(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	rs := replicaValues(ctx, a.node, key)
	if rs == nil {
		rs = []replicaValue{}
	}
	writeJSON(w, http.StatusOK, rs)
}

// memberJSON is one member in GET /members.
type memberJSON struct {
	Name    string `json:"name"`
	Peer    string `json:"peer"`
	Address string `json:"address"`
	HTTP    string `json:"http"`
}

// members serves GET /members: the node's membership view.
func (a *api) members(w http.ResponseWriter, _ *http.Request) {
	out := []memberJSON{}
	for _, m := range a.node.View().Members {
		out = append(out, memberJSON{Name: m.Name, Peer: m.Peer, Address: m.Address, HTTP: m.Meta["http"]})
	}
	writeJSON(w, http.StatusOK, out)
}

// stalls serves GET /stalls: which partitions have deltas pending and since when, and
// which peers hold them back (the active replicas of this node, as of their last gc tick).
func (a *api) stalls(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, a.node.Stalls().String())
}

// stats serves GET /stats: the node's replication counters since it started (messages
// sent and received, the envelopes they shared, flushes), as JSON.
func (a *api) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.node.Stats())
}

// counterKey returns the request's counter name, or answers 400.
func counterKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.PathValue("key")
	if key == "" || len(key) > maxKeyBytes {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: fmt.Sprintf("a counter's name has 1 to %d bytes", maxKeyBytes)})
		return "", false
	}
	return key, true
}

// statusOf maps an error of a call or query to an HTTP status.
func statusOf(err error) int {
	var rej *actor.RejectedError
	switch {
	case errors.Is(err, actor.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.As(err, &rej):
		return http.StatusUnprocessableEntity
	case errors.Is(err, actor.ErrTooLarge), errors.Is(err, actor.ErrBadPayload):
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
