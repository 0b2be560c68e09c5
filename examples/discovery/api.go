package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/legion-go/legion/actor"
	pb "github.com/legion-go/legion/examples/discovery/registrypb"
)

// Limits of the HTTP API.
const (
	// maxBodyBytes bounds a ping's body; a longer one is answered 413.
	maxBodyBytes = 16 << 10
	// maxAddressBytes bounds a service address.
	maxAddressBytes = 2048
	// callTimeout bounds the cluster calls of one request.
	callTimeout = 10 * time.Second
	// indexTimeout bounds adding a service to the index during a ping.
	indexTimeout = 2 * time.Second
	// recordTimeout bounds recording a caller→callee edge after a lookup was answered.
	recordTimeout = 5 * time.Second
)

// registry is a node's HTTP API. Its handlers run concurrently; each blocks for at most
// callTimeout (a lookup that records a new edge, recordTimeout more).
type registry struct {
	node *actor.Node
	// ttl is how long a registration lives after its last ping; it travels in the ping
	// event, so every replica expires the instance at the same time.
	ttl time.Duration
	// now is the node's clock, the one its actor.Config.Clock reads: lookups ask for the
	// instances live at now().
	now func() time.Time
	log *slog.Logger
	// calls remembers the edges this node recorded, so that a lookup logs an event only
	// the first time a caller looks a service up (through this node).
	calls callCache
}

func newRegistry(node *actor.Node, ttl time.Duration, now func() time.Time, log *slog.Logger) *registry {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &registry{node: node, ttl: ttl, now: now, log: log}
}

func (a *registry) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/ping", a.ping)
	mux.HandleFunc("GET /v1/services", a.services)
	mux.HandleFunc("GET /v1/services/{service}", a.lookup)
	mux.HandleFunc("GET /v1/services/{service}/{versionRange}", a.lookup)
	mux.HandleFunc("GET /v1/graph", a.graph)
	mux.HandleFunc("GET /v1/members", a.members)
	return mux
}

// pingJSON is a ping's body.
type pingJSON struct {
	ServiceAddress *string `json:"serviceAddress"`
}

// instanceJSON is one instance in a lookup's answer, keyed by its address.
type instanceJSON struct {
	Version string `json:"version"`
}

// errorJSON answers a request that failed.
type errorJSON struct {
	Error string `json:"error"`
}

// ping serves POST /v1/ping: register or refresh the instance the User-Agent names at
// the body's serviceAddress. A new service is also added to its index shard, until the
// service's partition records that the shard lists it.
func (a *registry) ping(w http.ResponseWriter, r *http.Request) {
	name, ver, err := parseUserAgent(r.UserAgent())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	addr, status, err := readPing(w, r)
	if err != nil {
		writeError(w, status, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	svc := actor.RefOf(a.node, Service, name)
	out, err := svc.Call(ctx, &pb.ServiceEvent{Kind: &pb.ServiceEvent_Ping{Ping: &pb.Ping{
		Address: addr, Version: ver.String(), TtlNanos: int64(a.ttl)}}}, actor.Fast)
	if err != nil {
		writeError(w, statusOf(err), fmt.Errorf("ping: %w", err))
		return
	}
	if out.GetRegistered() {
		a.log.Info("instance registered", "service", name, "address", addr, "version", ver.String())
	}
	if !out.GetIndexed() {
		if err := a.addToIndex(ctx, svc, name); err != nil {
			// The ping is logged; the next one retries.
			a.log.Warn("adding a service to the index", "service", name, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// addToIndex adds the service to its index shard, then records in the service's
// partition that the shard lists it. The add is consistent: Indexed is recorded only once
// every replica of the shard holds the service, so that no crash can lose it afterwards.
// While a replica of the shard is down, the add waits at most indexTimeout and the next
// ping tries again.
func (a *registry) addToIndex(ctx context.Context, svc actor.Ref[*pb.Service, *pb.ServiceEvent, *pb.ServiceOutput], name string) error {
	add := &pb.IndexEvent{Kind: &pb.IndexEvent_AddService{AddService: &pb.AddService{Name: name}}}
	actx, cancel := context.WithTimeout(ctx, indexTimeout)
	defer cancel()
	if _, err := actor.RefOf(a.node, Index, indexShard(name)).Call(actx, add, actor.Consistent); err != nil {
		return err
	}
	_, err := svc.Call(ctx, &pb.ServiceEvent{Kind: &pb.ServiceEvent_Indexed{Indexed: &pb.Indexed{}}}, actor.Fast)
	return err
}

// readPing reads and checks a ping's body; on error it returns the status to answer.
func readPing(w http.ResponseWriter, r *http.Request) (string, int, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var body pingJSON
	err := dec.Decode(&body)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("trailing data after the JSON object")
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return "", http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", maxBodyBytes)
	case errors.Is(err, io.EOF):
		return "", http.StatusBadRequest, errors.New(`empty body: want {"serviceAddress": "https://host:port"}`)
	case err != nil:
		return "", http.StatusBadRequest, fmt.Errorf(`body: %v: want {"serviceAddress": "https://host:port"}`, err)
	case body.ServiceAddress == nil:
		return "", http.StatusBadRequest, errors.New(`body: missing serviceAddress: want {"serviceAddress": "https://host:port"}`)
	}
	if err := checkAddress(*body.ServiceAddress); err != nil {
		return "", http.StatusBadRequest, err
	}
	return *body.ServiceAddress, 0, nil
}

// checkAddress checks a service address: an absolute URL with a scheme and a host.
func checkAddress(s string) error {
	bad := fmt.Errorf("serviceAddress %q: want an absolute URL with a scheme and a host, like https://host:port", s)
	if len(s) > maxAddressBytes {
		return fmt.Errorf("serviceAddress: longer than %d bytes", maxAddressBytes)
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Hostname() == "" || strings.ContainsAny(s, " \t\r\n") {
		return bad
	}
	return nil
}

// lookup serves GET /v1/services/{service} and GET /v1/services/{service}/{versionRange}:
// the service's live instances (those whose version satisfies the range). A service no
// instance registered with, or whose instances all expired, has none: 200 and {}. A
// lookup whose User-Agent names a service (name/version) records the edge caller→service
// in the graph.
func (a *registry) lookup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("service")
	if err := checkName(name); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var rng versionRange
	if s := r.PathValue("versionRange"); s != "" {
		var err error
		if rng, err = parseRange(s); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	q := &pb.ServiceEvent{Kind: &pb.ServiceEvent_Lookup{Lookup: &pb.Lookup{NowNanos: a.now().UnixNano()}}}
	out, err := actor.RefOf(a.node, Service, name).Query(ctx, q, actor.Projected)
	if err != nil {
		writeError(w, statusOf(err), fmt.Errorf("lookup: %w", err))
		return
	}
	res := map[string]instanceJSON{}
	for addr, in := range out.GetInstances() {
		v, err := parseVersion(in.GetVersion())
		if err != nil || rng != nil && !rng.contains(v) {
			continue
		}
		res[addr] = instanceJSON{Version: in.GetVersion()}
	}
	writeJSON(w, http.StatusOK, res)
	if caller, _, err := parseUserAgent(r.UserAgent()); err == nil {
		a.recordCall(r.Context(), caller, name)
	}
}

// recordCall records the edge caller→callee in the callee's index shard, unless this
// node did already. The call is consistent: the edge is remembered only once every
// replica of the shard holds it; until then later lookups try again.
func (a *registry) recordCall(ctx context.Context, caller, callee string) {
	if a.calls.has(caller, callee) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	ev := &pb.IndexEvent{Kind: &pb.IndexEvent_AddCall{AddCall: &pb.AddCall{Caller: caller, Callee: callee}}}
	if _, err := actor.RefOf(a.node, Index, indexShard(callee)).Call(ctx, ev, actor.Consistent); err != nil {
		a.log.Warn("recording a call", "caller", caller, "callee", callee, "err", err)
		return
	}
	a.calls.add(caller, callee)
}

// services serves GET /v1/services: every service the index lists, sorted, as
// {"services": [...]}.
func (a *registry) services(w http.ResponseWriter, r *http.Request) {
	shards, err := a.listIndex(r.Context())
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	names := map[string]bool{}
	for _, s := range shards {
		for name := range s.GetServices() {
			names[name] = true
		}
	}
	writeJSON(w, http.StatusOK, map[string][]string{"services": slices.Sorted(maps.Keys(names))})
}

// graph serves GET /v1/graph: which services call which, as JSON, or as Graphviz DOT
// when the request accepts text/vnd.graphviz.
func (a *registry) graph(w http.ResponseWriter, r *http.Request) {
	shards, err := a.listIndex(r.Context())
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	g := buildGraph(shards)
	if acceptsDOT(r.Header.Values("Accept")) {
		w.Header().Set("Content-Type", "text/vnd.graphviz; charset=utf-8")
		io.WriteString(w, g.dot())
		return
	}
	writeJSON(w, http.StatusOK, g)
}

// listIndex queries every index shard, concurrently: a dead first replica costs one
// attempt timeout, not one per shard.
func (a *registry) listIndex(ctx context.Context) ([]*pb.Index, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	shards := make([]*pb.Index, indexShards)
	errs := make([]error, indexShards)
	var wg sync.WaitGroup
	for i := range indexShards {
		wg.Go(func() {
			q := &pb.IndexEvent{Kind: &pb.IndexEvent_List{List: &pb.List{}}}
			shards[i], errs[i] = actor.RefOf(a.node, Index, fmt.Sprint(i)).Query(ctx, q, actor.Projected)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("index shard %d: %w", i, errs[i])
			}
		})
	}
	wg.Wait()
	return shards, errors.Join(errs...)
}

// memberJSON is one member in GET /v1/members.
type memberJSON struct {
	Name string `json:"name"`
	Peer string `json:"peer"`
	HTTP string `json:"http"`
}

// members serves GET /v1/members: the node's membership view (for operators and tests).
func (a *registry) members(w http.ResponseWriter, _ *http.Request) {
	out := []memberJSON{}
	for _, m := range a.node.View().Members {
		out = append(out, memberJSON{Name: m.Name, Peer: m.Peer, HTTP: m.Meta["http"]})
	}
	writeJSON(w, http.StatusOK, out)
}

// parseUserAgent reads a User-Agent of the form name/version, where name is a service
// name and version a full semantic version.
func parseUserAgent(ua string) (string, version, error) {
	const want = "want User-Agent: name/MAJOR.MINOR.PATCH, like billing/1.2.3"
	if ua == "" {
		return "", version{}, errors.New("missing User-Agent: " + want)
	}
	name, ver, ok := strings.Cut(ua, "/")
	if !ok {
		return "", version{}, fmt.Errorf("User-Agent %q: %s", ua, want)
	}
	if err := checkName(name); err != nil {
		return "", version{}, fmt.Errorf("User-Agent %q: %v; %s", ua, err, want)
	}
	v, err := parseVersion(ver)
	if err != nil {
		return "", version{}, fmt.Errorf("User-Agent %q: %v; %s", ua, err, want)
	}
	return name, v, nil
}

// statusOf maps the error of a cluster call to an HTTP status.
func statusOf(err error) int {
	var rej *actor.RejectedError
	switch {
	case errors.As(err, &rej):
		return http.StatusInternalServerError // the API checks its input: a bug
	case errors.Is(err, actor.ErrTooLarge), errors.Is(err, actor.ErrBadPayload):
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, errorJSON{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// callCache is a set of caller→callee edges, bounded: when full it starts over (an edge
// recorded again is a no-op). Safe for concurrent use.
type callCache struct {
	mu    sync.Mutex
	edges map[[2]string]bool
}

const maxCachedCalls = 4096

func (c *callCache) has(caller, callee string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.edges[[2]string{caller, callee}]
}

func (c *callCache) add(caller, callee string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.edges == nil || len(c.edges) >= maxCachedCalls {
		c.edges = map[[2]string]bool{}
	}
	c.edges[[2]string{caller, callee}] = true
}
