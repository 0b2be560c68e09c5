package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestStatefulSetProcesses starts the gossip StatefulSet's pods as processes of the
// binary the image holds, each with exactly its container's command, arguments and
// environment, the downward API's fields given as the kubelet would, and every name the
// cluster's DNS would resolve (each pod's stable name, the headless Service's) replaced
// by loopback addresses: pod i runs on its own address 127.a.b.(i+1), with the
// manifest's ports, its Secrets files of certificates and keys the test makes (remoting
// is mutual TLS, gossip encrypted, as the manifest has it: checkRemotingTLS and
// checkGossipKey make sure). It waits for each pod's probes, drives increments through every
// pod, kills one with SIGKILL, goes on through the others, restarts the killed pod as
// the StatefulSet would (same name, same volume) and checks that every node reads
// exactly the acknowledged count. Then every pod stops on SIGTERM within the grace
// period.
func TestStatefulSetProcesses(t *testing.T) {
	var v *variant
	for _, c := range loadVariants(t) {
		if filepath.Base(c.dir) == "gossip" {
			v = c
		}
	}
	if v == nil {
		t.Fatal("no kubernetes/gossip variant")
	}
	s := v.set(t)
	net3 := [2]int{1 + rand.IntN(250), 1 + rand.IntN(250)}
	t.Logf("pods on 127.%d.%d.1 to .%d", net3[0], net3[1], *s.Spec.Replicas)
	dns := newLoopbackDNS(s, "test", int(*s.Spec.Replicas), net3)
	volumes := t.TempDir()
	secrets := newTestSecrets(t, dns.ips)

	pods := make([]*podProc, *s.Spec.Replicas)
	for i := range pods {
		pods[i] = startPod(t, s, dns, i, volumes, secrets)
	}
	for _, p := range pods {
		p.waitReady(t, 60*time.Second)
		for _, probe := range []*corev1.Probe{p.n.c.StartupProbe, p.n.c.LivenessProbe} {
			if code, body := p.get(t, probe.HTTPGet.Path); code != http.StatusOK {
				t.Fatalf("%s: probe %s: %d %s", p.name, probe.HTTPGet.Path, code, body)
			}
		}
	}

	checkRemotingTLS(t, pods[0], secrets["counter-tls"])
	checkGossipKey(t, s, dns, volumes, secrets, pods)

	ledger := newLedger()
	const keys = 20
	drive := func(through []*podProc, rounds int) {
		t.Helper()
		for r := range rounds {
			for k := range keys {
				p := through[(r+k)%len(through)]
				ledger.increment(t, p, fmt.Sprintf("k%02d", k))
			}
		}
	}
	drive(pods, 3)
	killed := pods[len(pods)-1]
	killed.kill(t)
	drive(pods[:len(pods)-1], 2)
	// The StatefulSet recreates the pod: same name, same volume, same configuration.
	pods[len(pods)-1] = startPod(t, s, dns, len(pods)-1, volumes, secrets)
	pods[len(pods)-1].waitReady(t, 60*time.Second)
	drive(pods, 1)
	for _, p := range pods {
		ledger.check(t, p, keys)
	}

	grace := time.Duration(*s.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	for _, p := range pods {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range pods {
		select {
		case <-p.exited:
			if p.err != nil {
				t.Errorf("%s after SIGTERM: %v\n%s", p.name, p.err, p.out)
			} else if out := p.out.String(); strings.Contains(out, "malformed message") {
				// Healthy nodes of one version never send each other what the other
				// refuses: three nodes stopped together once folded out every participant
				// and sent infimums without participants (lattice's TestLastParticipantStays).
				t.Errorf("%s refused a replication message as malformed:\n%s", p.name, out)
			}
		case <-time.After(grace):
			t.Errorf("%s did not exit within the grace period %v of SIGTERM", p.name, grace)
		}
	}
}

// loopbackDNS stands in for the cluster's DNS: each pod's stable name, and the headless
// Service's name (every pod), as loopback addresses.
type loopbackDNS struct {
	set       *appsv1.StatefulSet
	namespace string
	ips       []string // of pods 0 to members-1, and of one more (the intruder)
	members   int      // the pods the headless Service lists
}

func newLoopbackDNS(s *appsv1.StatefulSet, namespace string, pods int, net3 [2]int) loopbackDNS {
	d := loopbackDNS{set: s, namespace: namespace, members: pods}
	for i := range pods + 1 {
		d.ips = append(d.ips, fmt.Sprintf("127.%d.%d.%d", net3[0], net3[1], i+1))
	}
	return d
}

func (d loopbackDNS) podName(i int) string { return fmt.Sprintf("%s-%d", d.set.Name, i) }

// resolve replaces the names in s: pod names first (they end in the Service's name),
// then the Service's name, host:port becoming the list of every pod's address.
func (d loopbackDNS) resolve(s string) string {
	service := d.set.Spec.ServiceName + "." + d.namespace + ".svc"
	for i, ip := range d.ips {
		s = strings.ReplaceAll(s, d.podName(i)+"."+service, ip)
	}
	withPort := regexp.MustCompile(regexp.QuoteMeta(service) + `(:\d+)?`)
	return withPort.ReplaceAllStringFunc(s, func(m string) string {
		_, port, _ := strings.Cut(m, ":")
		var all []string
		for _, ip := range d.ips[:d.members] {
			if port == "" {
				all = append(all, ip)
			} else {
				all = append(all, net.JoinHostPort(ip, port))
			}
		}
		return strings.Join(all, ",")
	})
}

// podProc is one pod's node process.
type podProc struct {
	name   string
	n      node
	http   string     // host:port of the HTTP API
	cfg    nodeConfig // its flags' values, paths replaced
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error
}

// startPod starts pod i of s: the container's command (the built binary), arguments and
// environment, its data volume a directory under volumes, its Secret volumes the files
// of secrets under volumes/secrets (the same for every pod, as the Secrets are). It is
// killed when the test ends.
func startPod(t *testing.T, s *appsv1.StatefulSet, dns loopbackDNS, i int, volumes string, secrets secretFiles) *podProc {
	t.Helper()
	return startPodEnv(t, s, dns, i, volumes, secrets, nil)
}

// startPodEnv is startPod with the variables of drop left out of the container's
// environment.
func startPodEnv(t *testing.T, s *appsv1.StatefulSet, dns loopbackDNS, i int, volumes string, secrets secretFiles, drop []string) *podProc {
	t.Helper()
	p := pod{name: dns.podName(i), namespace: dns.namespace, ip: dns.ips[i], hostIP: dns.ips[i]}
	n := resolveNode(t, s, p)
	spec := s.Spec.Template.Spec
	// Each mount path of the container, replaced by the directory that stands for it.
	dirs := secrets.materialize(t, spec, n.c, filepath.Join(volumes, "secrets"))
	for _, m := range n.c.VolumeMounts {
		for _, c := range s.Spec.VolumeClaimTemplates {
			if c.Name == m.Name {
				dirs[m.MountPath] = filepath.Join(volumes, p.name)
			}
		}
		if _, ok := dirs[m.MountPath]; !ok {
			t.Fatalf("volume mount %s: neither a claimed volume nor a Secret", m.Name)
		}
	}
	mounts := slicesKeys(dirs)
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) }) // the longest first
	onVolume := func(s string) string {
		for _, m := range mounts {
			s = strings.ReplaceAll(s, m, dirs[m])
		}
		return s
	}
	pp := &podProc{name: p.name, n: n, out: &syncBuffer{}, exited: make(chan struct{})}
	args := make([]string, len(n.args))
	for j, a := range n.args {
		args[j] = onVolume(dns.resolve(a))
	}
	pp.cmd = exec.Command(args[0], args[1:]...)
	for _, kv := range n.env {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(drop, k) {
			pp.cmd.Env = append(pp.cmd.Env, onVolume(dns.resolve(kv)))
		}
	}
	pp.cmd.Stdout, pp.cmd.Stderr = pp.out, pp.out
	cfg, err := n.flags.resolve(args[1:], envMap(pp.cmd.Env))
	if err != nil {
		t.Fatal(err)
	}
	pp.http, pp.cfg = cfg["http"], cfg
	if err := pp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s with %s", p.name, strings.Join(pp.cmd.Args, " "), strings.Join(pp.cmd.Env, " "))
	go func() {
		pp.err = pp.cmd.Wait()
		close(pp.exited)
	}()
	t.Cleanup(func() {
		pp.cmd.Process.Kill()
		<-pp.exited
		if t.Failed() {
			t.Logf("%s's output:\n%s", p.name, pp.out)
		}
	})
	return pp
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// waitReady polls the readiness probe's path until it answers 200.
func (p *podProc) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	path := p.n.c.ReadinessProbe.HTTPGet.Path
	deadline := time.Now().Add(within)
	for {
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was ready: %v\n%s", p.name, p.err, p.out)
		default:
		}
		code, body := p.tryGet(path)
		if code == http.StatusOK {
			t.Logf("%s ready: %s", p.name, strings.TrimSpace(body))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v: %s answers %d %s", p.name, within, path, code, body)
		}
		time.Sleep(100 * time.Millisecond) // polling, with a deadline
	}
}

var client = &http.Client{Timeout: 30 * time.Second}

func (p *podProc) tryGet(path string) (int, string) {
	resp, err := client.Get("http://" + p.http + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *podProc) get(t *testing.T, path string) (int, string) {
	t.Helper()
	code, body := p.tryGet(path)
	if code == 0 {
		t.Fatalf("%s: GET %s: %s", p.name, path, body)
	}
	return code, body
}

func (p *podProc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill() // SIGKILL
	<-p.exited
	t.Logf("%s killed", p.name)
}

// ledger counts what the nodes acknowledged, per counter, and what they may have logged
// without acknowledging (a failed increment is applied at most once).
type ledger struct {
	mu               sync.Mutex
	acked, uncertain map[string]int64
}

func newLedger() *ledger {
	return &ledger{acked: map[string]int64{}, uncertain: map[string]int64{}}
}

func (l *ledger) increment(t *testing.T, p *podProc, key string) {
	t.Helper()
	resp, err := client.Post("http://"+p.http+"/counters/"+key+"/increment", "", nil)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.uncertain[key]++
		t.Logf("increment %s through %s: %v", key, p.name, err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		l.uncertain[key]++
		t.Logf("increment %s through %s: %d %s", key, p.name, resp.StatusCode, bytes.TrimSpace(b))
		return
	}
	l.acked[key]++
}

// check polls until every counter read through p holds its acknowledged count (at most
// its uncertain increments more), and fails if one holds less at the deadline.
func (l *ledger) check(t *testing.T, p *podProc, keys int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for k := range keys {
		key := fmt.Sprintf("k%02d", k)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			v, err := readCounter(ctx, p, key)
			cancel()
			if err == nil && v >= l.acked[key] && v <= l.acked[key]+l.uncertain[key] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s reads %s = %d (%v): want %d acknowledged, at most %d uncertain more",
					p.name, key, v, err, l.acked[key], l.uncertain[key])
			}
			time.Sleep(50 * time.Millisecond) // polling, with a deadline
		}
	}
	var total int64
	for _, n := range l.acked {
		total += n
	}
	t.Logf("%s reads every counter right: %d increments acknowledged", p.name, total)
}

func readCounter(ctx context.Context, p *podProc, key string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.http+"/counters/"+key, nil)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var c struct {
		Value int64 `json:"value"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return 0, fmt.Errorf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	err = json.NewDecoder(resp.Body).Decode(&c)
	return c.Value, err
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkRemotingTLS: p's remoting port serves TLS with the Secret's certificate, for p's
// address, to a client with a certificate of the CA; a plain-text client is refused,
// and p logs it.
func checkRemotingTLS(t *testing.T, p *podProc, secret map[string][]byte) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(secret["ca.crt"]) {
		t.Fatal("counter-tls ca.crt: no certificate")
	}
	cert, err := tls.X509KeyPair(secret["tls.crt"], secret["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	addr := p.cfg["listen"]
	host, _, _ := net.SplitHostPort(addr)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: roots, ServerName: host, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("%s: a TLS client with the cluster's certificate: %v", p.name, err)
	}
	conn.Close()

	plain, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	fmt.Fprint(plain, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") // a plain-text gRPC client's preface
	waitOutput(t, p, "remoting refused a connection: TLS handshake failed", 15*time.Second)
}

// checkGossipKey: a node with the pods' configuration but no gossip key (an intruder on
// the next loopback address, joining the same seeds) is refused by the members: a pod
// logs the message it could not decrypt, the intruder never becomes ready, and no pod
// lists it.
func checkGossipKey(t *testing.T, s *appsv1.StatefulSet, dns loopbackDNS, volumes string, secrets secretFiles, pods []*podProc) {
	t.Helper()
	keyVar := ""
	for _, kv := range pods[0].n.env {
		if k, _, _ := strings.Cut(kv, "="); k == pods[0].n.flags.envName("gossip-key-file") {
			keyVar = k
		}
	}
	if keyVar == "" {
		t.Fatal("the pods' environment sets no gossip key")
	}
	before := make([]int, len(pods))
	for i, p := range pods {
		before[i] = len(p.out.String())
	}
	intruder := startPodEnv(t, s, dns, dns.members, volumes, secrets, []string{keyVar})
	// memberlist's error on a message it cannot decrypt (the intruder dials from
	// 127.0.0.1, not its own address: the line cannot name it).
	refusal := regexp.MustCompile(`(?m)^.*level=ERROR msg=memberlist .*$`)
	deadline := time.Now().Add(20 * time.Second)
	for refused := false; !refused; {
		for i, p := range pods {
			if m := refusal.FindString(p.out.String()[before[i]:]); m != "" {
				t.Logf("%s refuses gossip without the key: %s", p.name, m)
				refused = true
			}
		}
		if !refused && time.Now().After(deadline) {
			t.Fatalf("no pod logged refusing gossip from the node without the key within 20s")
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline
	}
	if code, body := intruder.tryGet(intruder.n.c.ReadinessProbe.HTTPGet.Path); code != http.StatusServiceUnavailable {
		t.Errorf("a node without the gossip key: readiness %d %s, want 503", code, body)
	}
	for _, p := range pods {
		if _, body := p.get(t, "/members"); strings.Contains(body, dns.podName(dns.members)) {
			t.Errorf("%s lists the node without the gossip key: %s", p.name, body)
		}
	}
	intruder.kill(t)
}

// waitOutput polls p's output for line.
func waitOutput(t *testing.T, p *podProc, line string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.out.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v", p.name, line, within)
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline
	}
}
