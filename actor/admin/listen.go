package admin

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// DefaultAddr is the address Listen binds for an empty one: loopback, a fixed port.
const DefaultAddr = "127.0.0.1:9090"

// Listen binds the admin API's address. It binds loopback unless addr names another
// host: "" is DefaultAddr, and a port alone (":9090") is that port on 127.0.0.1, not on
// every interface. To serve other machines, name the address to bind ("0.0.0.0:9090",
// a pod's IP) and put something that authenticates in front: the API authenticates
// nobody.
func Listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("admin: address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	return ln, nil
}

// NewServer is an HTTP server of h with timeouts fit for the admin API: its answers are
// small and quick, so a client that stops reading cannot hold a connection for long.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
}
