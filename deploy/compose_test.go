package deploy

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// composeFile is the part of the Compose format the files use; decoding is strict, so
// a key outside it (a typo, or a feature the tests do not check) fails.
type composeFile struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
	Networks map[string]*struct {
		IPAM *struct {
			Config []struct {
				Subnet string `json:"subnet"`
			} `json:"config"`
		} `json:"ipam,omitempty"`
	} `json:"networks"`
	Volumes map[string]*struct{} `json:"volumes"`
}

type composeService struct {
	Build       string            `json:"build,omitempty"`
	Image       string            `json:"image"`
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment,omitempty"`
	Ports       []string          `json:"ports,omitempty"`
	Volumes     []string          `json:"volumes,omitempty"`
	Networks    map[string]*struct {
		IPv4Address string `json:"ipv4_address,omitempty"`
	} `json:"networks"`
	StopGracePeriod string   `json:"stop_grace_period,omitempty"`
	Restart         string   `json:"restart,omitempty"`
	DependsOn       []string `json:"depends_on,omitempty"`
}

// TestCompose checks the Compose files: an odd number of counter nodes, each named as
// its service, its environment naming the binary's flags, its data directory on a
// volume of its own at the image's VOLUME, its advertised addresses the ones its peers
// reach (the service name; for gossip its fixed address on the network), seeds that are
// nodes, its HTTP API published on loopback, and a grace period above -stop-timeout.
func TestCompose(t *testing.T) {
	dir, d := binaries(t)
	files := map[string]string{filepath.Join(repoRoot, "compose.yaml"): repoRoot, filepath.Join("compose", "consul.yaml"): repoRoot}
	for file, context := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var f composeFile
			if err := yaml.UnmarshalStrict(b, &f); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			checkCompose(t, file, context, f, dir, d)
		})
	}
}

func checkCompose(t *testing.T, file, context string, f composeFile, dir string, d dockerfile) {
	bin := binaryFor(t, dir, d, "/usr/local/bin/counter")
	var nodes []string
	builds := 0
	for name, s := range f.Services {
		if s.Build != "" {
			builds++
			if got, _ := filepath.Abs(filepath.Join(filepath.Dir(file), s.Build)); got != mustAbs(t, context) {
				t.Errorf("%s builds %s: not the checkout's root, where the Dockerfile is", name, s.Build)
			}
		}
		if s.Image == "legion-examples:latest" {
			nodes = append(nodes, name)
		}
	}
	slices.Sort(nodes)
	if len(nodes) < 3 || len(nodes)%2 == 0 || builds != 1 {
		t.Fatalf("%d nodes (%v), %d builds: want an odd number of nodes, at least 3, one build", len(nodes), nodes, builds)
	}
	fs := flagsOf(t, bin, []string{"node"}, "COUNTER")
	published := map[string]bool{}
	for _, name := range nodes {
		s := f.Services[name]
		cfg, err := fs.resolve(s.Command, s.Environment)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg["name"] != name {
			t.Errorf("%s: -name %q: want the service's name", name, cfg["name"])
		}
		// Data: on a named volume of its own, mounted at the image's VOLUME.
		if len(s.Volumes) != 1 {
			t.Fatalf("%s: volumes %v: want one, the data volume", name, s.Volumes)
		}
		vol, target, _ := strings.Cut(s.Volumes[0], ":")
		if _, ok := f.Volumes[vol]; !ok || target != dataMount || !strings.HasPrefix(cfg["data"], dataMount+"/") || cfg["init"] != "true" {
			t.Errorf("%s: volume %s, -data %s, -init %s: want -data on a named volume at %s, created at the first start",
				name, s.Volumes[0], cfg["data"], cfg["init"], dataMount)
		}
		// Remoting: bound on every interface, advertised under the service's name.
		_, listenPort := splitPort(t, name, "listen", cfg)
		advHost, advPort := splitPort(t, name, "advertise", cfg)
		if advHost != name || advPort != listenPort {
			t.Errorf("%s: -advertise %s: want %s:%s", name, cfg["advertise"], name, listenPort)
		}
		// HTTP: published on the host's loopback, once.
		_, httpPort := splitPort(t, name, "http", cfg)
		if len(s.Ports) != 1 || !strings.HasPrefix(s.Ports[0], "127.0.0.1:") || !strings.HasSuffix(s.Ports[0], ":"+httpPort) || published[s.Ports[0]] {
			t.Errorf("%s: ports %v: want the HTTP port %s published once on 127.0.0.1", name, s.Ports, httpPort)
		}
		published[s.Ports[0]] = true
		// Membership.
		if consul := cfg["consul"]; consul != "" {
			host, _, err := net.SplitHostPort(consul)
			if _, ok := f.Services[host]; err != nil || !ok || !slices.Contains(s.DependsOn, host) {
				t.Errorf("%s: -consul %s: want a service of this file that the node depends on", name, consul)
			}
		} else {
			checkComposeGossip(t, f, name, cfg, nodes)
		}
		// Stop: the grace period outlasts the node's bound on its stop.
		stop, err1 := time.ParseDuration(cfg["stop-timeout"])
		grace, err2 := time.ParseDuration(s.StopGracePeriod)
		if err1 != nil || err2 != nil || grace < stop+10*time.Second {
			t.Errorf("%s: stop_grace_period %q, -stop-timeout %q: want the grace period 10s above", name, s.StopGracePeriod, cfg["stop-timeout"])
		}
	}
}

// checkComposeGossip: the node advertises its fixed address on the network, on the
// port it binds; its seeds are the nodes, on their gossip port.
func checkComposeGossip(t *testing.T, f composeFile, name string, cfg nodeConfig, nodes []string) {
	t.Helper()
	_, port := splitPort(t, name, "gossip", cfg)
	s := f.Services[name]
	var ip string
	var network string
	for n, a := range s.Networks {
		if a != nil {
			ip, network = a.IPv4Address, n
		}
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil || cfg["gossip-advertise"] != ip {
		t.Errorf("%s: -gossip-advertise %q, ipv4_address %q: want the node's fixed address", name, cfg["gossip-advertise"], ip)
		return
	}
	nw := f.Networks[network]
	if nw == nil || nw.IPAM == nil || len(nw.IPAM.Config) != 1 {
		t.Fatalf("%s: network %s has no subnet for the fixed addresses", name, network)
	}
	if subnet, err := netip.ParsePrefix(nw.IPAM.Config[0].Subnet); err != nil || !subnet.Contains(addr) {
		t.Errorf("%s: %s is not in network %s's subnet %s", name, ip, network, nw.IPAM.Config[0].Subnet)
	}
	var seeds []string
	for _, seed := range strings.Split(cfg["seeds"], ",") {
		host, p, err := net.SplitHostPort(seed)
		if err != nil || p != port || !slices.Contains(nodes, host) {
			t.Errorf("%s: seed %q: want a node's service name and the gossip port %s", name, seed, port)
		}
		seeds = append(seeds, host)
	}
	if len(seeds) < len(nodes)/2+1 {
		t.Errorf("%s: seeds %v: want a majority of the nodes, so that any majority restarts together", name, seeds)
	}
}

func splitPort(t *testing.T, service, flag string, cfg nodeConfig) (string, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(cfg[flag])
	if _, perr := strconv.Atoi(port); err != nil || perr != nil {
		t.Fatalf("%s: -%s %q: want host:port", service, flag, cfg[flag])
	}
	return host, port
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
