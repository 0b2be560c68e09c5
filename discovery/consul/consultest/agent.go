package consultest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Agent is a Consul agent in dev mode (a single-node server) run by a test.
// Its methods are safe for concurrent use.
type Agent struct {
	bin     string
	dir     string // data dir and log file live here
	node    string
	http    int
	https   int // 0: no HTTPS API
	token   string
	args    []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	log    *os.File
}

// How long the agent may take to start and to stop.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// StartAgent starts a dev-mode Consul agent bound to 127.0.0.1 on free ports
// with a temporary data dir, configured further by opts, waits until it has a
// leader and its node is healthy, and stops it when the test ends. It skips or
// fails the test as [Binary] does when there is no Consul binary.
func StartAgent(t testing.TB, opts ...Option) *Agent {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	bin := Binary(t)
	a := &Agent{bin: bin, dir: t.TempDir(), token: o.token}
	ports := make([]int, 5)
	for i := range ports {
		p, err := freePort(i == 1 || i == 2)
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	a.http = ports[0]
	https := "-1"
	if o.https {
		a.https = ports[4]
		https = strconv.Itoa(a.https)
	}
	a.node = "legion-test-" + strconv.Itoa(a.http)
	a.logPath = filepath.Join(a.dir, "consul.log")
	a.args = []string{"agent", "-dev",
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", a.node,
		"-data-dir", filepath.Join(a.dir, "data"),
		"-http-port", strconv.Itoa(ports[0]),
		"-serf-lan-port", strconv.Itoa(ports[1]),
		"-serf-wan-port", strconv.Itoa(ports[2]),
		"-server-port", strconv.Itoa(ports[3]),
		"-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1", "-https-port", https,
		"-log-level", "info",
	}
	for i, f := range o.files {
		path := filepath.Join(a.dir, fmt.Sprintf("extra-%d.%s", i, f.ext))
		if err := os.WriteFile(path, []byte(f.text), 0o600); err != nil {
			t.Fatal(err)
		}
		a.args = append(a.args, "-config-file", path)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consul agent log (tail):\n%s", a.LogTail(60))
		}
		a.Stop(t)
	})
	a.Start(t)
	return a
}

// Addr returns the agent's HTTP API address, "127.0.0.1:port".
func (a *Agent) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.http)) }

// HTTPSAddr returns the agent's HTTPS API address, "127.0.0.1:port", or ""
// when the agent was started without [WithTLS].
func (a *Agent) HTTPSAddr() string {
	if a.https == 0 {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.https))
}

// Start starts the agent if it is not running and waits until it is ready.
func (a *Agent) Start(t testing.TB) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd != nil {
		return
	}
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(a.bin, a.args...)
	cmd.Stdout, cmd.Stderr = logf, logf // files: no copying goroutines
	cmd.Dir = a.dir
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("consultest: start agent: %v", err)
	}
	exited := make(chan struct{})
	go func() { // owned by the agent: ends when the process exits (Stop)
		_ = cmd.Wait()
		close(exited)
	}()
	a.cmd, a.exited, a.log = cmd, exited, logf
	if err := a.waitReady(exited); err != nil {
		a.stopLocked()
		t.Fatalf("consultest: agent not ready: %v\n%s", err, a.LogTail(40))
	}
}

// Stop stops the agent (SIGTERM, then SIGKILL after 10s) and waits for it to
// exit. It does nothing if the agent is not running.
func (a *Agent) Stop(t testing.TB) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopLocked()
}

// Restart stops the agent and starts it again on the same ports and data
// dir. Dev mode keeps no state, so every registration is forgotten.
func (a *Agent) Restart(t testing.TB) {
	t.Helper()
	a.Stop(t)
	a.Start(t)
}

func (a *Agent) stopLocked() {
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(stopTimeout):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
	a.log.Close()
	a.cmd, a.exited, a.log = nil, nil, nil
}

// waitReady polls until the agent has a leader and its node's serf health
// check passes, or the process exits, or startTimeout passes.
func (a *Agent) waitReady(exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("agent exited during start")
		default:
		}
		if last = a.ready(client); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not a wait for state
	}
	return fmt.Errorf("not ready after %v: %v", startTimeout, last)
}

func (a *Agent) ready(client *http.Client) error {
	var leader string
	if err := getJSON(client, "http://"+a.Addr()+"/v1/status/leader", "", &leader); err != nil {
		return err
	}
	if leader == "" {
		return fmt.Errorf("no leader yet")
	}
	var checks []struct{ CheckID, Status string }
	// With ACLs on (default deny) an anonymous read of the node sees nothing.
	if err := getJSON(client, "http://"+a.Addr()+"/v1/health/node/"+a.node, a.token, &checks); err != nil {
		return err
	}
	for _, c := range checks {
		if c.CheckID == "serfHealth" && c.Status == "passing" {
			return nil
		}
	}
	return fmt.Errorf("node not healthy yet")
}

// getJSON GETs url, with token as the ACL token unless it is empty, and
// decodes the answer into v.
func getJSON(client *http.Client, url, token string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.Unmarshal(body, v)
}

// LogTail returns the last n lines of the agent's log.
func (a *Agent) LogTail(n int) string {
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		return err.Error()
	}
	return tail(string(b), n)
}
