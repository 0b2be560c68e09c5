package gossip_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/discoverytest"
	"github.com/legion-go/legion/discovery/gossip"
)

func TestMain(m *testing.M) { discoverytest.Main(m, factory{}) }

func TestConformance(t *testing.T) { discoverytest.Run(t, factory{}) }

// testConfig is tuned for loopback: a crash is detected in about a second.
func testConfig(log *slog.Logger, seeds []string) gossip.Config {
	return gossip.Config{
		Seeds:                   seeds,
		ProbeInterval:           200 * time.Millisecond,
		ProbeTimeout:            100 * time.Millisecond,
		SuspicionMult:           3,
		SuspicionMaxTimeoutMult: 2,
		GossipInterval:          50 * time.Millisecond,
		PushPullInterval:        2 * time.Second,
		TCPTimeout:              time.Second,
		RejoinInterval:          300 * time.Millisecond,
		LeaveTimeout:            500 * time.Millisecond,
		Logger:                  log,
	}
}

type factory struct{}

func (factory) NewCluster(t *testing.T) discoverytest.Cluster {
	return &cluster{log: discoverytest.NewLog(t)}
}

// spec describes a member for a child process.
type spec struct {
	Seeds    []string
	BindPort int
}

func (s spec) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (factory) FromSpec(s string) (discovery.Provider, error) {
	var sp spec
	if err := json.Unmarshal([]byte(s), &sp); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := testConfig(log, sp.Seeds)
	cfg.BindPort = sp.BindPort
	return gossip.New(cfg)
}

func (factory) Options() discoverytest.Options {
	return discoverytest.Options{Converge: 10 * time.Second, Crash: 10 * time.Second}
}

// cluster seeds every new member with the addresses of all members made
// before it.
type cluster struct {
	log       *discoverytest.Log
	providers []*gossip.Provider
	down      string // Outage: the seed address nobody listens on yet
	bindNext  string // Outage.Up: the next provider listens on this address
}

func (c *cluster) seeds() []string {
	if c.down != "" {
		return []string{c.down}
	}
	var out []string
	for _, p := range c.providers {
		if a := p.Addr(); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (c *cluster) Provider(t *testing.T) discovery.Provider {
	cfg := testConfig(c.log.Logger(), c.seeds())
	if c.bindNext != "" {
		_, port, _ := net.SplitHostPort(c.bindNext)
		cfg.BindPort, _ = strconv.Atoi(port)
		cfg.Seeds = nil // joining then depends on the members that wait for this seed
		c.bindNext = ""
	}
	p, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.providers = append(c.providers, p)
	return p
}

func (c *cluster) Spec() string { return spec{Seeds: c.seeds()}.String() }

func (c *cluster) Down(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // pick a free port, then free it
	if err != nil {
		t.Fatal(err)
	}
	c.down = l.Addr().String()
	l.Close()
}

func (c *cluster) Up(t *testing.T) {
	// Wait for evidence that the early member tried the missing seed.
	deadline := time.Now().Add(10 * time.Second)
	for c.log.Count("no seed answered") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed join attempt logged while the seed was down")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	c.bindNext, c.down = c.down, ""
}
