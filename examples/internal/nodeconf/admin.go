package nodeconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/admin"
)

// AdminMetaKey is the membership metadata key under which a node publishes its admin
// API's address (the dashboard links every member's).
const AdminMetaKey = "admin"

// ListenAdmin binds -admin for the admin API (admin.Listen: loopback unless the address
// names another host); nil, without an error, when -admin is empty (off).
func (n Node) ListenAdmin() (net.Listener, error) {
	if n.Admin == "" {
		return nil, nil
	}
	ln, err := admin.Listen(n.Admin)
	if err != nil {
		return nil, fmt.Errorf("-admin: %w", err)
	}
	return ln, nil
}

// AdminServer serves a node's admin API (package actor/admin) on its own listener: one
// goroutine, from ServeAdmin until Close returns.
type AdminServer struct {
	addr net.Addr
	srv  *http.Server
	done chan struct{}
	err  error // Serve's, once done is closed
}

// ServeAdmin serves node's admin API on ln, with /metrics from gatherer (nil: none) and
// the eject action if -admin-actions is set. It returns at once.
// The operator's actions are logged on logger (nil: not logged).
func (n Node) ServeAdmin(ln net.Listener, node *actor.Node, gatherer prometheus.Gatherer, logger *slog.Logger) (*AdminServer, error) {
	h, err := admin.New(node, admin.Options{Gatherer: gatherer, Actions: n.AdminActions, Logger: logger})
	if err != nil {
		return nil, err
	}
	s := &AdminServer{addr: ln.Addr(), srv: admin.NewServer(h), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// Addr is the address the admin API serves on.
func (s *AdminServer) Addr() net.Addr { return s.addr }

// Close stops serving, letting the requests in flight finish within ctx, and waits for
// the server's goroutine. It returns the error serving ended with, if any.
func (s *AdminServer) Close(ctx context.Context) error {
	if s == nil {
		return nil
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
	return s.err
}
