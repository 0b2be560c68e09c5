package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/discovery/consul/consultest"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// processTTL is the registrations' TTL in the multi-process test: short, so that the
// instances a lookup returns after a kill must have pinged after it.
const processTTL = 4 * time.Second

// TestProcesses runs the registry as three processes of the real binary, with Consul
// membership against a real agent and with embedded gossip: instances keep pinging, the
// node holding the first replica of a service is killed with SIGKILL, and lookups through
// the survivors still find exactly the live instances. The survivors then shut down
// gracefully on SIGTERM.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	bin := buildBinary(t)
	t.Run("consul", func(t *testing.T) {
		agent := consultest.StartAgent(t)
		processScenario(t, bin, func(*proc) []string { return []string{"-consul", agent.Addr()} })
	})
	t.Run("gossip", func(t *testing.T) {
		processScenario(t, bin, func(first *proc) []string {
			args := []string{"-gossip", "127.0.0.1:0"}
			if first != nil {
				args = append(args, "-seeds", first.membership)
			}
			return args
		})
	})
}

// buildBinary builds the command into a temporary directory (with the race detector when
// the tests run with it).
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "discovery")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	start := time.Now()
	out, err := exec.Command(goBin, append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built the binary in %v (race %v)", time.Since(start).Round(time.Millisecond), raceEnabled)
	return bin
}

// proc is one node process.
type proc struct {
	name                   string
	cmd                    *exec.Cmd
	http, membership, peer string
	logPath                string
	exited                 chan struct{} // closed once the process exited and its output was read
	err                    error         // the process's exit, once exited is closed
}

// startProc starts a node and waits for its ready line. The test's cleanup kills it if
// it still runs.
func startProc(t *testing.T, bin, dir, name string, extra []string) *proc {
	t.Helper()
	p := &proc{name: name, logPath: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-init", "-name", name, "-data", filepath.Join(dir, name), "-http", "127.0.0.1:0",
		"-ttl", processTTL.String(), "-v"}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stderr = logf
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() { // owned by the process: ends when it exits (the cleanup kills it)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "ready ") {
				ready <- line
			}
		}
		p.err = p.cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.logPath)
			t.Logf("%s's log (tail):\n%s", name, tail(string(b), 30))
		}
	})
	select {
	case line := <-ready:
		for f := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "http":
				p.http = "http://" + v
			case "membership":
				p.membership = v
			case "peer":
				p.peer = v
			}
		}
	case <-p.exited:
		b, _ := os.ReadFile(p.logPath)
		t.Fatalf("%s exited before it was ready: %v\n%s", name, p.err, b)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready within 30s", name)
	}
	return p
}

// kill kills the process with SIGKILL and waits for it to exit.
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// pinger keeps instances pinging through the live nodes until stopped.
type pinger struct {
	mu     sync.Mutex
	alive  []*proc
	ok     atomic.Int64
	failed atomic.Int64
	slow   atomic.Int64 // pings slower than 500ms
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// halt stops the pinging and waits for it to stop; it may be called more than once.
func (pg *pinger) halt() {
	pg.once.Do(func() { close(pg.stop) })
	pg.wg.Wait()
}

// start pings the instance every 250ms, through the live nodes in turn.
func (pg *pinger) start(t *testing.T, ua, addr string) {
	pg.wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond) // the pinging rate, not a wait for a state
		defer tick.Stop()
		for i := 0; ; i++ {
			pg.mu.Lock()
			target := pg.alive[i%len(pg.alive)]
			pg.mu.Unlock()
			t0 := time.Now()
			r := tryPing(target.http, ua, addr)
			if d := time.Since(t0); d > 500*time.Millisecond && pg.slow.Add(1) <= 10 {
				t.Logf("slow ping %s through %s at %s: %v (%v)", addr, target.name, t0.Format("15:04:05.000"), d, r)
			}
			if r == nil {
				pg.ok.Add(1)
			} else {
				if pg.failed.Add(1) <= 5 {
					t.Logf("ping %s through %s: %v", addr, target.name, r)
				}
			}
			select {
			case <-pg.stop:
				return
			case <-tick.C:
			}
		}
	})
}

func (pg *pinger) remove(p *proc) {
	pg.mu.Lock()
	pg.alive = slices.DeleteFunc(pg.alive, func(q *proc) bool { return q == p })
	pg.mu.Unlock()
}

// tryPing pings without failing the test (it runs on a pinger's goroutine).
func tryPing(base, ua, addr string) error {
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/ping", strings.NewReader(fmt.Sprintf(`{"serviceAddress": %q}`, addr)))
	req.Header.Set("User-Agent", ua)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// getJSON GETs base+path into v; any status but 200 is an error.
func getJSON(t *testing.T, base, path, ua string, v any) error {
	r := do(t, http.MethodGet, base+path, ua, nil)
	if r.status != http.StatusOK {
		return fmt.Errorf("GET %s%s: %d %s", base, path, r.status, r.body)
	}
	return json.Unmarshal([]byte(r.body), v)
}

// checkSurvivors checks, through each node, billing's instances (exactly live), users's
// (through a range), the index and the graph.
func checkSurvivors(t *testing.T, nodes []*proc, live map[string]instanceJSON) error {
	for _, p := range nodes {
		var billing, users map[string]instanceJSON
		var services map[string][]string
		var g graph
		if err := getJSON(t, p.http, "/v1/services/billing", "", &billing); err != nil {
			return err
		}
		if err := getJSON(t, p.http, "/v1/services/users/"+url.PathEscape(">= 2, < 3"), "", &users); err != nil {
			return err
		}
		if err := getJSON(t, p.http, "/v1/services", "", &services); err != nil {
			return err
		}
		if err := getJSON(t, p.http, "/v1/graph", "", &g); err != nil {
			return err
		}
		switch {
		case !maps.Equal(billing, live):
			return fmt.Errorf("billing through %s: %v, want %v", p.name, billing, live)
		case !maps.Equal(users, instances("https://users-c:1", "2.0.0")):
			return fmt.Errorf("users through %s: %v", p.name, users)
		case !slices.Equal(services["services"], []string{"billing", "users"}):
			return fmt.Errorf("services through %s: %v", p.name, services)
		case !slices.Equal(g.Calls["web"], []string{"billing"}):
			return fmt.Errorf("graph through %s: %+v", p.name, g)
		}
	}
	return nil
}

func processScenario(t *testing.T, bin string, membership func(first *proc) []string) {
	start := time.Now()
	dir := t.TempDir()
	var procs []*proc
	for i := range 3 {
		var first *proc
		if i > 0 {
			first = procs[0]
		}
		procs = append(procs, startProc(t, bin, dir, fmt.Sprintf("n%d", i+1), membership(first)))
	}
	actortest.Eventually(t, 30*time.Second, func() error {
		for _, p := range procs {
			var members []memberJSON
			if err := getJSON(t, p.http, "/v1/members", "", &members); err != nil {
				return err
			}
			if len(members) != 3 {
				return fmt.Errorf("%s sees %d members", p.name, len(members))
			}
		}
		return nil
	})
	t.Logf("3 nodes up and joined in %v", time.Since(start).Round(time.Millisecond))

	// A stale instance pings once; the live ones keep pinging through every live node.
	mustPing(t, procs[0].http, "billing/0.9.0", "https://billing-stale:1")
	pg := &pinger{alive: slices.Clone(procs), stop: make(chan struct{})}
	pg.start(t, "billing/1.0.0", "https://billing-a:1")
	pg.start(t, "billing/1.5.0", "https://billing-b:1")
	pg.start(t, "users/2.0.0", "https://users-c:1")
	defer pg.halt()

	live := instances("https://billing-a:1", "1.0.0", "https://billing-b:1", "1.5.0")
	actortest.Eventually(t, 30*time.Second, func() error {
		for _, p := range procs {
			var got map[string]instanceJSON
			if err := getJSON(t, p.http, "/v1/services/billing", "web/1.0.0", &got); err != nil {
				return err
			}
			for addr := range live {
				if _, ok := got[addr]; !ok {
					return fmt.Errorf("billing through %s: %v, lacks %s", p.name, got, addr)
				}
			}
		}
		return nil
	})

	actortest.Eventually(t, 30*time.Second, func() error {
		if n := pg.ok.Load(); n < 12 {
			return fmt.Errorf("%d pings so far", n)
		}
		return nil
	})

	// Kill the node holding the first replica of the billing partition.
	var peers []lattice.Peer
	for _, p := range procs {
		peers = append(peers, lattice.Peer(p.peer))
	}
	first := gc.ReplicaSet(Service.Name, "billing", peers, replicationFactor)[0]
	var victim *proc
	var survivors []*proc
	for _, p := range procs {
		if lattice.Peer(p.peer) == first {
			victim = p
		} else {
			survivors = append(survivors, p)
		}
	}
	pg.remove(victim)
	victim.kill()
	killed := time.Now()
	t.Logf("killed %s (first replica of service/billing) at %v", victim.name, killed.Sub(start).Round(time.Millisecond))

	// Through the survivors: exactly the instances that pinged since the kill (the stale
	// one, and anything pinged only before the kill, expired), the index, the graph.
	actortest.Eventually(t, 45*time.Second, func() error {
		if since := time.Since(killed); since <= processTTL {
			return fmt.Errorf("only %v since the kill", since)
		}
		return checkSurvivors(t, survivors, live)
	})
	t.Logf("survivors answer with the live instances %v after the kill; pings: %d ok, %d failed",
		time.Since(killed).Round(time.Millisecond), pg.ok.Load(), pg.failed.Load())

	// Once a survivor ejected the dead peer from billing's partition (one survivor writes
	// the ejection, after actor.Config.EjectAfter: 10s by default), the registry still
	// answers the same.
	actortest.Eventually(t, 45*time.Second, func() error {
		ejected := false
		for _, p := range survivors {
			b, _ := os.ReadFile(p.logPath)
			ejected = ejected || strings.Contains(string(b), `msg="ejecting peer" partition=service/billing`)
		}
		if !ejected {
			return fmt.Errorf("no survivor ejected %s from service/billing yet", victim.name)
		}
		return checkSurvivors(t, survivors, live)
	})
	t.Logf("after the ejection of %s (%v after the kill) too; pings: %d ok, %d failed", victim.name,
		time.Since(killed).Round(time.Millisecond), pg.ok.Load(), pg.failed.Load())

	// Graceful shutdown.
	pg.halt()
	stopping := time.Now()
	for _, p := range survivors {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range survivors {
		select {
		case <-p.exited:
			if p.err != nil {
				t.Errorf("%s after SIGTERM: %v", p.name, p.err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not exit within 20s of SIGTERM", p.name)
		}
	}
	t.Logf("the survivors exited %v after SIGTERM", time.Since(stopping).Round(time.Millisecond))
	t.Logf("scenario took %v", time.Since(start).Round(time.Millisecond))
}
