package nodeconf

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"golang.org/x/net/netutil"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/discovery"
)

// Limits of the examples' HTTP servers. A request of the examples' APIs is small and
// its handlers give up on the cluster after at most 15 s (a lookup that records an
// edge), so WriteTimeout leaves room for that and no more: a client that stops reading
// cannot hold a connection and its goroutine for longer.
const (
	ReadHeaderTimeout = 5 * time.Second  // the request line and headers
	ReadTimeout       = 10 * time.Second // the whole request, body included
	WriteTimeout      = 30 * time.Second // from the end of the headers to the end of the answer
	IdleTimeout       = 60 * time.Second // a keep-alive connection between two requests
	MaxHeaderBytes    = 16 << 10
	// DefaultMaxConns is -max-conns: the connections served at once. A connection past
	// it is accepted only once another one closes (it waits in the kernel's listen
	// backlog, and its client's own timeout bounds the wait); with IdleTimeout, idle
	// keep-alive connections give their place back within a minute.
	DefaultMaxConns = 1024
)

// Listen binds the HTTP API's address, serving at most maxConns connections at once.
func Listen(addr string, maxConns int) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-http: %w", err)
	}
	return netutil.LimitListener(ln, maxConns), nil
}

// NewServer is an HTTP server of h with the timeouts above.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
}

// Health paths of the examples' HTTP APIs, for the probes of an orchestrator.
const (
	// HealthPath answers 200 while the process serves HTTP (a liveness probe).
	HealthPath = "/healthz"
	// ReadyPath answers 200 once the node's membership has reached its cluster (its view
	// lists the node and is not partial: a node with seeds has joined one of them) and
	// 503 until then: a node that has not joined starts no partition and cannot route
	// calls.
	ReadyPath = "/readyz"
)

// HandleHealth adds HealthPath and ReadyPath for node to mux.
func HandleHealth(mux *http.ServeMux, node *actor.Node) {
	mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET "+ReadyPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		v := node.View()
		if v.Partial || !slices.ContainsFunc(v.Members, func(m discovery.Member) bool { return m.Peer == string(node.Peer()) }) {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: membership has not reached the cluster (%d members known)\n", len(v.Members))
			return
		}
		fmt.Fprintf(w, "ready: %d members\n", len(v.Members))
	})
}
