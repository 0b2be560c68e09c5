package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Binaries are the programs the harness runs: the counter example and this module's
// legion-bench (for its service subcommand), and the repository they come from.
type Binaries struct {
	Repo    string // the repository's root: the parent of this module's directory
	Bench   string // this module's directory
	Counter string // examples/counter, built
	Service string // cmd/legion-bench, built
}

// Build builds both binaries into dir. benchDir is this module's directory.
func Build(ctx context.Context, benchDir, dir string) (Binaries, error) {
	b := Binaries{Bench: benchDir, Repo: filepath.Dir(benchDir),
		Counter: filepath.Join(dir, "counter"), Service: filepath.Join(dir, "legion-bench")}
	if _, err := os.Stat(filepath.Join(b.Repo, "examples", "counter", "node.go")); err != nil {
		return b, fmt.Errorf("no counter example beside the bench module: %w", err)
	}
	if _, err := run(ctx, b.Repo, "go", "build", "-o", b.Counter, "./examples/counter"); err != nil {
		return b, err
	}
	if _, err := run(ctx, benchDir, "go", "build", "-o", b.Service, "./cmd/legion-bench"); err != nil {
		return b, err
	}
	return b, nil
}

// ModuleDir returns the bench module's directory, as the go command finds it from the
// working directory.
func ModuleDir(ctx context.Context) (string, error) {
	out, err := run(ctx, "", "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(out)
	if filepath.Base(mod) != "go.mod" {
		return "", errors.New("not inside the bench module (go env GOMOD is empty): run from bench/")
	}
	return filepath.Dir(mod), nil
}

// Servers are the private PostgreSQL and Redis that scripts/start.sh started.
type Servers struct {
	Postgres string // pgx connection string
	Redis    string // host:port
	dir      string
	stopSh   string
}

// StartServers runs scripts/install.sh then scripts/start.sh with the servers' data in
// dir. An error from install.sh wraps ErrNoServers.
func StartServers(ctx context.Context, b Binaries, dir string) (*Servers, error) {
	scripts := filepath.Join(b.Bench, "scripts")
	if out, err := run(ctx, "", "bash", filepath.Join(scripts, "install.sh")); err != nil {
		return nil, fmt.Errorf("%w: %v\n%s", ErrNoServers, err, out)
	}
	s := &Servers{dir: dir, stopSh: filepath.Join(scripts, "stop.sh")}
	out, err := run(ctx, "", "bash", filepath.Join(scripts, "start.sh"), dir)
	if err != nil {
		s.Stop()
		return nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "postgres="); ok {
			host, rest, _ := strings.Cut(v, " ")
			h, p, _ := strings.Cut(host, ":")
			s.Postgres = fmt.Sprintf("host=%s port=%s %s", h, p, rest)
		}
		if v, ok := strings.CutPrefix(line, "redis="); ok {
			s.Redis = strings.TrimSpace(v)
		}
	}
	if s.Postgres == "" || s.Redis == "" {
		s.Stop()
		return nil, fmt.Errorf("start.sh printed no addresses:\n%s", out)
	}
	if err := createSchema(ctx, s.Postgres); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// ErrNoServers is the error StartServers returns when PostgreSQL or Redis cannot be
// installed.
var ErrNoServers = errors.New("bench: PostgreSQL or Redis cannot be installed")

// Stop stops both servers and waits for them.
func (s *Servers) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run(ctx, "", "bash", s.stopSh, s.dir)
}

// instance is a process serving the counter's HTTP API: a Legion node or a stateless
// service instance.
type instance struct {
	*proc
	http     string // host:port of its HTTP API
	pprof    string // host:port of its profiles (Legion nodes only)
	admin    string // host:port of its admin API (the scale benchmark's nodes only)
	remoting string // host:port of its remoting (Legion nodes only)
	peer     string // its peer id (Legion nodes only)
}

// group is the instances of one system.
type group []*instance

func (g group) targets() []string {
	var out []string
	for _, in := range g {
		out = append(out, "http://"+in.http)
	}
	return out
}

func (g group) pids() []int {
	var out []int
	for _, in := range g {
		out = append(out, in.pid())
	}
	return out
}

func (g group) stop() {
	var wg sync.WaitGroup
	for _, in := range g {
		wg.Go(func() { in.stop(20 * time.Second) })
	}
	wg.Wait()
}

var (
	legionReady  = regexp.MustCompile(`(?m)^ready name=\S+ peer=(\S+) http=(\S+) membership=(\S+) remoting=(\S+)$`)
	pprofLine    = regexp.MustCompile(`(?m)^pprof http://(\S+)/debug/pprof/$`)
	serviceReady = regexp.MustCompile(`(?m)^ready http=(\S+)$`)
)

// startLegion starts three counter nodes (R = 3), on pebble stores under dir when
// durable (else in memory), joined by gossip, each with its profiling endpoint, and
// waits until each sees all three. env, if not empty, is added to their environment.
func startLegion(ctx context.Context, b Binaries, dir string, durable bool, env string) (group, error) {
	var g group
	seed := ""
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("n%d", i)
		args := []string{"node", "-name", name, "-http", "127.0.0.1:0", "-gossip", "127.0.0.1:0", "-pprof", "127.0.0.1:0"}
		if durable {
			args = append(args, "-init", "-data", filepath.Join(dir, name))
		}
		if seed != "" {
			args = append(args, "-seeds", seed)
		}
		p, err := startProc("legion "+name, env, b.Counter, args...)
		if err != nil {
			g.stop()
			return nil, err
		}
		in := &instance{proc: p}
		g = append(g, in)
		m, err := p.await(legionReady, 60*time.Second)
		if err != nil {
			g.stop()
			return nil, err
		}
		in.peer, in.http, in.remoting = m[1], m[2], m[4]
		if seed == "" {
			seed = m[3]
		}
		if m, err := p.await(pprofLine, time.Second); err == nil {
			in.pprof = m[1]
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, in := range g {
		for {
			var ms []json.RawMessage
			err := getJSON(ctx, "http://"+in.http+"/members", &ms)
			if err == nil && len(ms) == 3 {
				break
			}
			if time.Now().After(deadline) {
				g.stop()
				return nil, fmt.Errorf("%s sees %d members after 30s (%v)", in.name, len(ms), err)
			}
			time.Sleep(50 * time.Millisecond) // polling membership, bounded by the deadline
		}
	}
	return g, nil
}

// startServices starts three instances of the stateless service on backend.
func startServices(b Binaries, s *Servers, backend string) (group, error) {
	var g group
	for i := 1; i <= 3; i++ {
		p, err := startProc(fmt.Sprintf("%s %d", backend, i), "", b.Service, "service", "-backend", backend,
			"-http", "127.0.0.1:0", "-postgres", s.Postgres, "-redis", s.Redis)
		if err != nil {
			g.stop()
			return nil, err
		}
		in := &instance{proc: p}
		g = append(g, in)
		m, err := p.await(serviceReady, 30*time.Second)
		if err != nil {
			g.stop()
			return nil, err
		}
		in.http = m[1]
	}
	return g, nil
}

// getJSON GETs url and decodes a 200 answer's body into v.
func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// replicaJSON is one replica in the counter's GET /counters/{key}/replicas.
type replicaJSON struct {
	Peer   string `json:"peer"`
	Value  int64  `json:"value"`
	Stable int64  `json:"stable"`
	Error  string `json:"error"`
}

// legionValues reads every counter of keys through the node at base until all its
// replicas agree at both read levels, or wait passes, and returns the lowest value a
// replica holds (a lost increment is one missing there). Unconverged counters are
// counted in the error.
func legionValues(ctx context.Context, base string, keys []string, wait time.Duration) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	out := make(map[string]int64, len(keys))
	var mu sync.Mutex
	pending := keys
	for {
		var next []string
		work := make(chan string)
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for k := range work {
					var rs []replicaJSON
					err := getJSON(ctx, base+"/counters/"+k+"/replicas", &rs)
					v, ok := agreed(rs)
					mu.Lock()
					if err == nil && ok {
						out[k] = v
					} else {
						next = append(next, k)
					}
					mu.Unlock()
				}
			})
		}
		for _, k := range pending {
			work <- k
		}
		close(work)
		wg.Wait()
		if len(next) == 0 {
			return out, nil
		}
		pending = next
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("%d counters' replicas did not agree within %v", len(pending), wait)
		case <-time.After(100 * time.Millisecond): // polling replication, bounded by ctx
		}
	}
}

// agreed returns the value of a counter whose three replicas answered and agree at both
// levels.
func agreed(rs []replicaJSON) (int64, bool) {
	if len(rs) != 3 {
		return 0, false
	}
	for _, r := range rs {
		if r.Error != "" || r.Value != rs[0].Value || r.Stable != r.Value {
			return 0, false
		}
	}
	return rs[0].Value, true
}

// firstReplicas returns, for each of keys, the index in g of the node of its first
// replica (the one calls try first), asking g's first node.
func firstReplicas(ctx context.Context, g group, keys []string) ([]int, error) {
	byPeer := map[string]int{}
	for i, in := range g {
		byPeer[in.peer] = i
	}
	out := make([]int, len(keys))
	for i, k := range keys {
		var rs []replicaJSON
		if err := getJSON(ctx, "http://"+g[0].http+"/counters/"+k+"/replicas", &rs); err != nil {
			return nil, err
		}
		if len(rs) == 0 {
			return nil, fmt.Errorf("counter %s has no replicas", k)
		}
		n, ok := byPeer[rs[0].Peer]
		if !ok {
			return nil, fmt.Errorf("counter %s: first replica %s is none of the nodes", k, rs[0].Peer)
		}
		out[i] = n
	}
	return out, nil
}
