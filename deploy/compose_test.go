package deploy

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	Secrets map[string]*struct {
		File string `json:"file"`
	} `json:"secrets"`
}

type composeService struct {
	Build       string            `json:"build,omitempty"`
	Image       string            `json:"image"`
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment,omitempty"`
	Ports       []string          `json:"ports,omitempty"`
	Volumes     []string          `json:"volumes,omitempty"`
	Secrets     []string          `json:"secrets,omitempty"`
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
// nodes, its HTTP API published on loopback, a grace period above -stop-timeout, and its
// security settings files of Compose secrets that deploy/secrets.sh fills
// (checkComposeSecrets).
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
	script := composeScript(t)
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
		checkComposeSecrets(t, file, f, name, cfg, script)
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

// composeSecretsDir is where secrets.sh compose writes, and the Compose files' secrets
// are, from the checkout's root.
const composeSecretsDir = "deploy/compose/secrets"

// composeScript runs `secrets.sh compose DIR` and returns DIR. Skipped without openssl.
func composeScript(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("secrets.sh needs openssl")
	}
	dir := t.TempDir()
	if b, err := exec.Command("sh", "secrets.sh", "compose", dir).CombinedOutput(); err != nil {
		t.Fatalf("secrets.sh compose: %v\n%s", err, b)
	}
	return dir
}

// composeSecret maps a Compose secret of file to the file secrets.sh wrote in script.
func composeSecret(t *testing.T, file string, f composeFile, name, script string) (string, error) {
	sec := f.Secrets[name]
	if sec == nil {
		return "", fmt.Errorf("secret %s is not in the file's secrets", name)
	}
	p, err := filepath.Rel(mustAbs(t, repoRoot), mustAbs(t, filepath.Join(filepath.Dir(file), sec.File)))
	if err != nil || filepath.Dir(p) != filepath.FromSlash(composeSecretsDir) {
		return "", fmt.Errorf("secret %s is %s: not a file of %s, where secrets.sh writes", name, sec.File, composeSecretsDir)
	}
	out := filepath.Join(script, filepath.Base(p))
	if _, err := os.Stat(out); err != nil {
		return "", fmt.Errorf("secret %s is %s, which secrets.sh does not write", name, sec.File)
	}
	return out, nil
}

// checkComposeSecrets: node name runs remoting on mutual TLS and gossip with a key (or
// Consul with a token); each file a flag names is a secret the service lists, at
// /run/secrets/<name>, a file secrets.sh writes; every secret the service lists is used;
// the certificate secrets.sh writes for it names the host it advertises, as a server and
// a client, and chains to its CA; the gossip key is 32 bytes; an agent's ACL
// configuration holds the nodes' token.
func checkComposeSecrets(t *testing.T, file string, f composeFile, name string, cfg nodeConfig, script string) {
	t.Helper()
	required := []string{"tls-ca", "tls-cert", "tls-key"}
	if cfg["consul"] != "" {
		required = append(required, "consul-token-file")
	} else {
		required = append(required, "gossip-key-file")
	}
	for _, flag := range required {
		if cfg[flag] == "" {
			t.Errorf("%s: -%s is not set", name, flag)
		}
	}
	s := f.Services[name]
	files := map[string]string{}
	used := map[string]bool{}
	for _, flag := range fileFlags {
		v := cfg[flag]
		if v == "" {
			continue
		}
		sec, ok := strings.CutPrefix(v, "/run/secrets/")
		if !ok || !slices.Contains(s.Secrets, sec) {
			t.Errorf("%s: -%s %s: not /run/secrets/<a secret the service lists %v>", name, flag, v, s.Secrets)
			continue
		}
		used[sec] = true
		out, err := composeSecret(t, file, f, sec, script)
		if err != nil {
			t.Errorf("%s: -%s: %v", name, flag, err)
			continue
		}
		files[flag] = out
	}
	for _, sec := range s.Secrets {
		if !used[sec] {
			t.Errorf("%s: secret %s: no flag names it", name, sec)
		}
	}
	if files["tls-ca"] != "" && files["tls-cert"] != "" {
		host, _, _ := net.SplitHostPort(cfg["advertise"])
		verifyCert(t, name, files["tls-ca"], files["tls-cert"], host)
	}
	if p := files["gossip-key-file"]; p != "" {
		b, _ := os.ReadFile(p)
		if key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil || len(key) != 32 {
			t.Errorf("%s: the gossip key: %d bytes (%v), want 32 in base64", name, len(key), err)
		}
	}
	if p := files["consul-token-file"]; p != "" {
		host, _, _ := net.SplitHostPort(cfg["consul"])
		checkComposeAgent(t, file, f, host, p, script)
	}
}

// checkComposeAgent: the Consul agent's service loads, from a secret, an ACL
// configuration that denies by default and whose management token is the nodes'.
func checkComposeAgent(t *testing.T, file string, f composeFile, agent, tokenFile, script string) {
	t.Helper()
	token, _ := os.ReadFile(tokenFile)
	s := f.Services[agent]
	var conf string
	for i, a := range s.Command {
		if a == "-config-file" && i+1 < len(s.Command) {
			conf = s.Command[i+1]
		}
	}
	sec, ok := strings.CutPrefix(conf, "/run/secrets/")
	if !ok || !slices.Contains(s.Secrets, sec) {
		t.Errorf("%s: -config-file %q: want /run/secrets/<a secret it lists>, its ACLs", agent, conf)
		return
	}
	out, err := composeSecret(t, file, f, sec, script)
	if err != nil {
		t.Errorf("%s: %v", agent, err)
		return
	}
	b, _ := os.ReadFile(out)
	acl := string(b)
	want := regexp.MustCompile(`initial_management\s*=\s*"` + regexp.QuoteMeta(strings.TrimSpace(string(token))) + `"`)
	if !strings.Contains(acl, `default_policy = "deny"`) || !want.MatchString(acl) || len(strings.TrimSpace(string(token))) == 0 {
		t.Errorf("%s: ACL configuration %s does not deny by default with the nodes' token as its management token:\n%s", agent, sec, acl)
	}
}

// verifyCert: the certificate in certFile chains to caFile and names host, for a
// server and a client.
func verifyCert(t *testing.T, name, caFile, certFile, host string) {
	t.Helper()
	caPEM, _ := os.ReadFile(caFile)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Errorf("%s: %s holds no certificate", name, caFile)
		return
	}
	certPEM, _ := os.ReadFile(certFile)
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Errorf("%s: %s holds no PEM", name, certFile)
		return
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s: the certificate secrets.sh writes, for %s (usage %v): %v", name, host, usage, err)
		}
	}
}
