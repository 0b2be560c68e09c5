package nodeconf

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestEnvName(t *testing.T) {
	for name, want := range map[string]string{"name": "COUNTER_NAME", "gossip-advertise": "COUNTER_GOSSIP_ADVERTISE", "v": "COUNTER_V"} {
		if got := EnvName("COUNTER", name); got != want {
			t.Errorf("EnvName(COUNTER, %s) = %s, want %s", name, got, want)
		}
	}
}

// TestFromEnv: a variable sets a flag the command line did not set; the command line
// wins; a flag neither sets keeps its default; a bad value is an error naming the
// variable; variables that name no flag are ignored.
func TestFromEnv(t *testing.T) {
	var n Node
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n.Register(fs)
	env := map[string]string{
		"COUNTER_NAME":             "from-env",
		"COUNTER_HTTP":             "10.0.0.1:80",
		"COUNTER_GOSSIP_ADVERTISE": "10.0.0.7",
		"COUNTER_INIT":             "true",
		"COUNTER_PORT":             "tcp://10.0.0.1:80", // a Kubernetes service link: no flag -port
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := fs.Parse([]string{"-name", "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := FromEnv(fs, "COUNTER", lookup); err != nil {
		t.Fatal(err)
	}
	if n.Name != "n1" || n.HTTP != "10.0.0.1:80" || n.GossipAdvertise != "10.0.0.7" || !n.Init || n.Gossip != "127.0.0.1:7946" {
		t.Fatalf("after FromEnv: %+v", n)
	}

	env["COUNTER_MAX_CONNS"] = "many"
	fs = flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n.Register(fs)
	fs.Parse(nil)
	if err := FromEnv(fs, "COUNTER", lookup); err == nil || !strings.Contains(err.Error(), "COUNTER_MAX_CONNS") {
		t.Fatalf("COUNTER_MAX_CONNS=many: %v, want an error naming the variable", err)
	}
}

func TestNodeValidate(t *testing.T) {
	ok := Node{Name: "n1", MaxConns: 1, StopTimeout: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]Node{
		"no name":          {MaxConns: 1, StopTimeout: time.Second},
		"no connections":   {Name: "n1", StopTimeout: time.Second},
		"no stop timeout":  {Name: "n1", MaxConns: 1},
		"consul and seeds": {Name: "n1", MaxConns: 1, StopTimeout: time.Second, Consul: "127.0.0.1:8500", Seeds: "127.0.0.1:7946"},
		"consul and key":   {Name: "n1", MaxConns: 1, StopTimeout: time.Second, Consul: "127.0.0.1:8500", GossipKeyFile: "/k"},
		"tls without key":  {Name: "n1", MaxConns: 1, StopTimeout: time.Second, TLSCA: "/ca", TLSCert: "/c"},
		"token, no consul": {Name: "n1", MaxConns: 1, StopTimeout: time.Second, ConsulTokenFile: "/t"},
		"ca, no consul":    {Name: "n1", MaxConns: 1, StopTimeout: time.Second, ConsulCA: "/ca"},
		"consul cert only": {Name: "n1", MaxConns: 1, StopTimeout: time.Second, Consul: "127.0.0.1:8500", ConsulCert: "/c"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
	for name, bad := range map[string]Node{
		"gossip without port":      {Gossip: "127.0.0.1"},
		"gossip port not a number": {Gossip: "127.0.0.1:x"},
		"gossip advertise a name":  {Gossip: "127.0.0.1:0", GossipAdvertise: "node-0.legion:7946"},
		"gossip bound to a name":   {Gossip: "localhost:0"},
		"gossip key file missing":  {Gossip: "127.0.0.1:0", GossipKeyFile: "/nonexistent/key"},
		"consul token missing":     {Consul: "127.0.0.1:8500", ConsulTokenFile: "/nonexistent/token"},
		"consul CA missing":        {Consul: "127.0.0.1:8500", ConsulCA: "/nonexistent/ca.pem"},
	} {
		if _, err := bad.Membership("legion", nil); err == nil {
			t.Errorf("%s: a provider", name)
		}
	}
}
