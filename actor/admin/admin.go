package admin

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/legion-go/legion/actor"
)

// Options configure the admin handler. The zero value is a read-only handler without
// metrics.
type Options struct {
	// Gatherer is served on /metrics (promhttp, with its error handling: a gathering
	// error answers 500). Nil: /metrics answers 404.
	Gatherer prometheus.Gatherer
	// Actions enables the operator's actions (POST /api/eject). False, the default:
	// read-only, the actions answer 403.
	Actions bool
	// MaxPage bounds the partitions (and stalled partitions) one answer lists: a request
	// asking for more (?limit=) gets MaxPage. Default 100. A node may hold hundreds of
	// thousands of replicas; page through them with ?after=.
	MaxPage int
	// Logger logs the operator's actions, refused or done. Nil discards.
	Logger *slog.Logger
}

// DefaultMaxPage is Options.MaxPage's default.
const DefaultMaxPage = 100

func (o Options) withDefaults() Options {
	if o.MaxPage == 0 {
		o.MaxPage = DefaultMaxPage
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) validate() error {
	if o.MaxPage < 0 {
		return fmt.Errorf("admin: Options.MaxPage %d: want a positive number, or 0 for the default", o.MaxPage)
	}
	return nil
}

// ErrNoNode is returned by New without a node.
var ErrNoNode = errors.New("admin: no node")

//go:embed dashboard
var dashboard embed.FS

// handler serves the admin API of one node.
type handler struct {
	node *actor.Node
	opts Options
	mux  *http.ServeMux
}

// New returns the admin handler of node (see the package documentation for its paths).
// It refuses a nil node and invalid Options. The handler is safe for concurrent use.
func New(node *actor.Node, opts Options) (http.Handler, error) {
	if node == nil {
		return nil, ErrNoNode
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	h := &handler{node: node, opts: opts, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	if opts.Gatherer != nil {
		h.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	}
	h.mux.HandleFunc("GET /api/status", h.status)
	h.mux.HandleFunc("GET /api/members", h.members)
	h.mux.HandleFunc("GET /api/partitions", h.partitions)
	h.mux.HandleFunc("GET /api/stalls", h.stalls)
	h.mux.HandleFunc("GET /api/handoffs", h.handoffs)
	h.mux.HandleFunc("POST /api/eject", h.eject)
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	assets, _ := fs.Sub(dashboard, "dashboard")
	files := http.FileServerFS(assets)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		files.ServeHTTP(w, r)
	})
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// healthz answers 200 while the node runs.
func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	hl := h.node.Health()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !hl.Running {
		w.WriteHeader(http.StatusServiceUnavailable)
		if hl.Err != nil {
			fmt.Fprintf(w, "not running: the store failed: %v\n", hl.Err)
			return
		}
		fmt.Fprintln(w, "not running: stopped")
		return
	}
	fmt.Fprintln(w, "ok")
}

// readyz answers 200 once the node is ready (actor.Health.Ready), 503 with the reasons
// until then.
func (h *handler) readyz(w http.ResponseWriter, _ *http.Request) {
	hl := h.node.Health()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if reasons := notReady(hl); len(reasons) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready:")
		for _, r := range reasons {
			fmt.Fprintln(w, "-", r)
		}
		return
	}
	fmt.Fprintf(w, "ready: %d members\n", hl.Members)
}

// notReady lists why a node with health hl is not ready (none: it is).
func notReady(hl actor.Health) []string {
	var out []string
	if !hl.Running {
		out = append(out, "the node is not running")
	}
	if !hl.Joined {
		out = append(out, fmt.Sprintf("membership does not list this node yet (%d members known)", hl.Members))
	}
	if hl.Partial {
		out = append(out, "the membership view is partial: the provider has not reached the cluster")
	}
	if !hl.Resynced {
		out = append(out, "the replicas recovered from the store are not resynchronised yet")
	}
	if hl.Leaving {
		out = append(out, "the node is leaving: it hands its replicas over")
	}
	return out
}

// Error is the body of every error the JSON endpoints answer.
type Error struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // a client that went away: nothing to do
}
