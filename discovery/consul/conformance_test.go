package consul_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/consul"
	"github.com/legion-go/legion/discovery/consul/consultest"
	"github.com/legion-go/legion/discovery/discoverytest"
)

func TestMain(m *testing.M) { discoverytest.Main(m, factory{}) }

// TestConformance runs the suite against a real Consul agent (built once and
// cached by consultest).
func TestConformance(t *testing.T) {
	discoverytest.Run(t, factory{agent: consultest.StartAgent(t)})
}

// testConfig is tuned for tests: a crash is detected about a second after
// the last heartbeat, and reconnection is retried at least twice a second.
func testConfig(addr, service string, log *slog.Logger) consul.Config {
	return consul.Config{
		Address:    addr,
		Service:    service,
		TTL:        time.Second,
		WaitTime:   10 * time.Second,
		BackoffMin: 50 * time.Millisecond,
		BackoffMax: 500 * time.Millisecond,
		Logger:     log,
	}
}

type spec struct{ Addr, Service string }

type factory struct{ agent *consultest.Agent }

func (f factory) NewCluster(t *testing.T) discoverytest.Cluster {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &cluster{
		agent:   f.agent,
		service: "legion-test-" + hex.EncodeToString(b),
		log:     discoverytest.NewLog(t),
	}
}

func (factory) FromSpec(s string) (discovery.Provider, error) {
	var sp spec
	if err := json.Unmarshal([]byte(s), &sp); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return consul.New(testConfig(sp.Addr, sp.Service, log))
}

func (factory) Options() discoverytest.Options {
	return discoverytest.Options{
		Converge: 10 * time.Second,
		Crash:    10 * time.Second,
		// The waiter of an agent process restarted by a case outlives it.
		IgnoreGoroutines: []string{"consultest.(*Agent).Start"},
	}
}

// cluster is one service name on the shared agent.
type cluster struct {
	agent   *consultest.Agent
	service string
	log     *discoverytest.Log
}

func (c *cluster) Provider(t *testing.T) discovery.Provider {
	p, err := consul.New(testConfig(c.agent.Addr(), c.service, c.log.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *cluster) Spec() string {
	b, _ := json.Marshal(spec{Addr: c.agent.Addr(), Service: c.service})
	return string(b)
}

func (c *cluster) Down(t *testing.T) { c.agent.Stop(t) }

func (c *cluster) Up(t *testing.T) {
	// Wait for evidence that the early member tried the stopped agent.
	deadline := time.Now().Add(10 * time.Second)
	for c.log.Count("register failed") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed registration logged while the agent was down")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	c.agent.Start(t)
}

func (c *cluster) RestartBackend(t *testing.T) { c.agent.Restart(t) }
