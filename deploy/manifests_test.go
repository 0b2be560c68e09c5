package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// variant is one directory of manifests under kubernetes/: the objects it holds.
type variant struct {
	dir      string
	services []*corev1.Service
	sets     []*appsv1.StatefulSet
	pdbs     []*policyv1.PodDisruptionBudget
}

// loadVariants decodes every manifest under kubernetes/, strictly: an unknown or
// misplaced field, a duplicate key or a kind the tests do not know fails.
func loadVariants(t *testing.T) []*variant {
	t.Helper()
	dirs, err := os.ReadDir("kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	var out []*variant
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		v := &variant{dir: filepath.Join("kubernetes", d.Name())}
		files, err := filepath.Glob(filepath.Join(v.dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no manifests (%v)", v.dir, err)
		}
		for _, f := range files {
			v.decodeFile(t, f)
		}
		out = append(out, v)
	}
	if len(out) < 2 {
		t.Fatalf("kubernetes/ holds %d variants, want gossip and consul", len(out))
	}
	return out
}

func (v *variant) decodeFile(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", file, i, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: document %d: %v", file, i, err)
		}
		if tm.Kind == "" && len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue // only comments
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 Service":
			s := &corev1.Service{}
			v.services, obj = append(v.services, s), s
		case "apps/v1 StatefulSet":
			s := &appsv1.StatefulSet{}
			v.sets, obj = append(v.sets, s), s
		case "policy/v1 PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			v.pdbs, obj = append(v.pdbs, p), p
		default:
			t.Fatalf("%s: document %d: %s %s is not a kind the tests check", file, i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s: document %d (%s): %v", file, i, tm.Kind, err)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' && string(t) != "---" {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// set is the variant's one StatefulSet.
func (v *variant) set(t *testing.T) *appsv1.StatefulSet {
	t.Helper()
	if len(v.sets) != 1 {
		t.Fatalf("%s: %d StatefulSets, want 1", v.dir, len(v.sets))
	}
	return v.sets[0]
}

// service returns the variant's Service of that name.
func (v *variant) service(name string) *corev1.Service {
	for _, s := range v.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// testPod is the pod the static checks resolve the container's configuration for.
var testPod = pod{name: "counter-1", namespace: "ns", ip: "10.1.2.3", hostIP: "10.9.9.9"}

// node is a StatefulSet's container with the configuration it resolves to in a pod.
type node struct {
	c     corev1.Container
	flags flagSet
	cfg   nodeConfig
	env   []string // its environment, expanded
	args  []string // its command and arguments, expanded
}

// prefixes are the example binaries' environment prefixes.
var prefixes = map[string]string{"counter": "COUNTER", "discovery": "DISCOVERY"}

// resolveNode resolves the set's first container for p, against the flags of the binary
// the image would run.
func resolveNode(t *testing.T, s *appsv1.StatefulSet, p pod) node {
	t.Helper()
	dir, d := binaries(t)
	cs := s.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("StatefulSet %s: %d containers, want 1", s.Name, len(cs))
	}
	n := node{c: cs[0]}
	if len(n.c.Command) != 1 {
		t.Fatalf("container %s: command %q, want the binary alone", n.c.Name, n.c.Command)
	}
	bin := binaryFor(t, dir, d, n.c.Command[0])
	prefix, ok := prefixes[path.Base(n.c.Command[0])]
	if !ok {
		t.Fatalf("container %s runs %s, not an example binary", n.c.Name, n.c.Command[0])
	}
	n.flags = flagsOf(t, bin, n.c.Args, prefix)
	env, vars, err := containerEnv(n.c, p)
	if err != nil {
		t.Fatal(err)
	}
	n.env = env
	n.args = append([]string{bin}, n.c.Args...)
	for i, a := range n.args[1:] {
		n.args[i+1] = expand(a, vars)
	}
	if n.cfg, err = n.flags.resolve(n.args[1:], vars); err != nil {
		t.Fatalf("container %s: %v", n.c.Name, err)
	}
	return n
}

// port returns the container port of that name (and protocol, TCP if empty).
func (n node) port(name string, proto corev1.Protocol) (corev1.ContainerPort, bool) {
	for _, p := range n.c.Ports {
		pp := p.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		if p.Name == name && (proto == "" || pp == proto) {
			return p, true
		}
	}
	return corev1.ContainerPort{}, false
}

// hostPort splits a flag's host:port value.
func (n node) hostPort(t *testing.T, flag string) (string, int32) {
	t.Helper()
	v, ok := n.cfg[flag]
	if !ok {
		t.Fatalf("container %s: -%s is not set", n.c.Name, flag)
	}
	h, p, err := net.SplitHostPort(v)
	if err != nil {
		t.Fatalf("container %s: -%s %q: %v", n.c.Name, flag, v, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("container %s: -%s %q: port", n.c.Name, flag, v)
	}
	return h, int32(port)
}

// TestManifests checks each variant's invariants: what the nodes bind and advertise
// matches the ports the pod declares and the Services route; the probes use the HTTP
// port; the data directory is on the claimed volume; the replica count is odd and the
// disruption budget keeps a majority; the grace period outlasts the node's stop; the pod
// runs as the image's non-root user.
func TestManifests(t *testing.T) {
	for _, v := range loadVariants(t) {
		t.Run(filepath.Base(v.dir), func(t *testing.T) { checkVariant(t, v) })
	}
}

func checkVariant(t *testing.T, v *variant) {
	s := v.set(t)
	spec := s.Spec.Template.Spec
	podLabels := labels.Set(s.Spec.Template.Labels)

	// Replicas: odd, so that a majority survives the loss of a minority.
	if s.Spec.Replicas == nil || *s.Spec.Replicas < 3 || *s.Spec.Replicas%2 == 0 {
		t.Fatalf("replicas %s: want an odd number, at least 3", show(s.Spec.Replicas))
	}
	replicas := int(*s.Spec.Replicas)
	if s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q: want Parallel (a node is ready only once it reached a peer)", s.Spec.PodManagementPolicy)
	}
	if sel, err := metav1.LabelSelectorAsSelector(s.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("the StatefulSet's selector does not select its pods (%v)", err)
	}

	// The headless Service of the pods' stable names.
	peers := v.service(s.Spec.ServiceName)
	switch {
	case peers == nil:
		t.Fatalf("serviceName %q: no such Service", s.Spec.ServiceName)
	case peers.Spec.ClusterIP != corev1.ClusterIPNone:
		t.Errorf("Service %s: clusterIP %q, want None (headless: one DNS name per pod)", peers.Name, peers.Spec.ClusterIP)
	case !peers.Spec.PublishNotReadyAddresses:
		t.Errorf("Service %s: publishNotReadyAddresses false: pods could not find one another before they are ready", peers.Name)
	}
	for _, svc := range v.services {
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) || len(svc.Spec.Selector) == 0 {
			t.Errorf("Service %s does not select the StatefulSet's pods", svc.Name)
		}
	}

	n := resolveNode(t, s, testPod)
	checkPorts(t, v, s, n)
	checkProbes(t, n)
	checkData(t, s, n)
	checkSecrets(t, s, n)

	// The disruption budget keeps a strict majority up, at this scale and any other.
	if len(v.pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(v.pdbs))
	}
	pdb := v.pdbs[0]
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("PodDisruptionBudget %s does not select the pods (%v)", pdb.Name, err)
	}
	if pdb.Spec.MinAvailable == nil {
		t.Fatalf("PodDisruptionBudget %s: no minAvailable", pdb.Name)
	}
	sizes := []int{replicas}
	if pdb.Spec.MinAvailable.Type == intstr.String {
		sizes = append(sizes, 1, 2, 3, 4, 5, 6, 7, 9, 11) // a percentage holds at any scale
	}
	for _, size := range sizes {
		min, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, size, true)
		if err != nil || min <= size/2 {
			t.Errorf("PodDisruptionBudget minAvailable %s lets %d of %d pods go: not a majority left (%v)",
				pdb.Spec.MinAvailable.String(), size-min, size, err)
		}
	}

	// Termination: the grace period outlasts the node's own bound on its stop (its
	// handover), with room for the kubelet.
	stop, err := time.ParseDuration(n.cfg["stop-timeout"])
	if err != nil {
		t.Fatalf("-stop-timeout %q: %v (set it: the grace period is chosen against it)", n.cfg["stop-timeout"], err)
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < stop+10*time.Second {
		t.Errorf("terminationGracePeriodSeconds %s: want at least -stop-timeout %v + 10s", show(g), stop)
	}

	// Resources, security, environment.
	req := n.c.Resources.Requests
	if req.Cpu().IsZero() || req.Memory().IsZero() {
		t.Errorf("container %s requests cpu %v, memory %v: want both", n.c.Name, req.Cpu(), req.Memory())
	}
	if lim := n.c.Resources.Limits.Memory(); !lim.IsZero() && lim.Cmp(*req.Memory()) < 0 {
		t.Errorf("memory limit %v below the request %v", lim, req.Memory())
	}
	_, d := binaries(t)
	sc := spec.SecurityContext
	switch {
	case sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("the pod does not require a non-root user")
	case sc.RunAsUser == nil || *sc.RunAsUser != d.uid(t):
		t.Errorf("runAsUser %s: want the image's USER %s", show(sc.RunAsUser), d.user)
	case sc.FSGroup == nil || *sc.FSGroup != d.uid(t):
		t.Errorf("fsGroup %s: want %d, so that the node can write its volume", show(sc.FSGroup), d.uid(t))
	}
	if csc := n.c.SecurityContext; csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Error("the container's root filesystem is writable or it may escalate privileges")
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("enableServiceLinks is not false: a Service's %s_* variables would reach the node", n.flags.prefix)
	}
}

// checkPorts: the ports the node binds are the ones its container declares, it binds the
// pod IP, it advertises its stable DNS name, and the Services' target ports exist.
func checkPorts(t *testing.T, v *variant, s *appsv1.StatefulSet, n node) {
	t.Helper()
	want := map[string]string{"listen": "remoting", "http": "http"}
	_, consul := n.cfg["consul"]
	if n.cfg["consul"] == "" {
		consul = false
		want["gossip"] = "gossip"
	}
	for flag, portName := range want {
		host, port := n.hostPort(t, flag)
		p, ok := n.port(portName, corev1.ProtocolTCP)
		switch {
		case !ok:
			t.Errorf("-%s: the container declares no TCP port %q", flag, portName)
		case p.ContainerPort != port:
			t.Errorf("-%s binds port %d, the container declares %s as %d", flag, port, portName, p.ContainerPort)
		}
		if host != testPod.ip {
			t.Errorf("-%s binds %s, want the pod IP (status.podIP)", flag, host)
		}
	}
	remoting, _ := n.port("remoting", corev1.ProtocolTCP)
	host, port := n.hostPort(t, "advertise")
	if wantHost := testPod.name + "." + s.Spec.ServiceName + "." + testPod.namespace + ".svc"; host != wantHost || port != remoting.ContainerPort {
		t.Errorf("-advertise %s:%d: want the pod's stable name %s:%d", host, port, wantHost, remoting.ContainerPort)
	}
	if consul {
		if host, _ := n.hostPort(t, "consul"); host != testPod.hostIP {
			t.Errorf("-consul %s: want the machine's agent (status.hostIP)", host)
		}
		if _, ok := n.port("gossip", ""); ok {
			t.Error("a Consul variant declares a gossip port")
		}
	} else {
		gossip, _ := n.port("gossip", corev1.ProtocolTCP)
		if udp, ok := n.port("gossip-udp", corev1.ProtocolUDP); !ok || udp.ContainerPort != gossip.ContainerPort {
			t.Errorf("no UDP port gossip-udp on the gossip port %d (memberlist probes over UDP)", gossip.ContainerPort)
		}
		wantSeeds := net.JoinHostPort(s.Spec.ServiceName+"."+testPod.namespace+".svc", strconv.Itoa(int(gossip.ContainerPort)))
		if n.cfg["seeds"] != wantSeeds {
			t.Errorf("-seeds %q: want the headless Service's name, %s", n.cfg["seeds"], wantSeeds)
		}
		peers := v.service(s.Spec.ServiceName)
		for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP} {
			if !servesPort(peers, n, gossip.ContainerPort, proto) {
				t.Errorf("Service %s does not route gossip %s port %d", peers.Name, proto, gossip.ContainerPort)
			}
		}
	}
	for _, svc := range v.services {
		for _, sp := range svc.Spec.Ports {
			if _, ok := n.port(sp.TargetPort.String(), sp.Protocol); sp.TargetPort.Type != intstr.String || !ok {
				t.Errorf("Service %s port %s: targetPort %s is not a port the container names", svc.Name, sp.Name, sp.TargetPort.String())
			}
		}
	}
}

// servesPort reports whether svc routes port (by its target's name) with proto.
func servesPort(svc *corev1.Service, n node, port int32, proto corev1.Protocol) bool {
	for _, sp := range svc.Spec.Ports {
		p, ok := n.port(sp.TargetPort.String(), proto)
		if (sp.Protocol == proto || sp.Protocol == "" && proto == corev1.ProtocolTCP) && ok && p.ContainerPort == port {
			return true
		}
	}
	return false
}

// checkProbes: every probe is an HTTP GET on the port the HTTP API binds; readiness on
// the readiness path. (TestStatefulSetProcesses asks each path of live nodes.)
func checkProbes(t *testing.T, n node) {
	t.Helper()
	probes := map[string]*corev1.Probe{"startup": n.c.StartupProbe, "liveness": n.c.LivenessProbe, "readiness": n.c.ReadinessProbe}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", kind)
			continue
		}
		_, httpPort := n.hostPort(t, "http")
		if cp, ok := n.port(p.HTTPGet.Port.String(), corev1.ProtocolTCP); !ok || cp.ContainerPort != httpPort {
			t.Errorf("%s probe on port %s: not the HTTP API's port %d", kind, p.HTTPGet.Port.String(), httpPort)
		}
	}
	if p := n.c.ReadinessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe on %s, want /readyz (ready once membership reached the cluster)", p.HTTPGet.Path)
	}
	if p := n.c.LivenessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe on %s, want /healthz (a node waiting for its peers is alive, not ready)", p.HTTPGet.Path)
	}
}

// checkData: the data directory is on the volume each pod claims, at the image's
// volume, and a first start creates it there.
func checkData(t *testing.T, s *appsv1.StatefulSet, n node) {
	t.Helper()
	data := n.cfg["data"]
	if data == "" {
		t.Fatal("-data is not set: the node would keep its replicas in memory")
	}
	if n.cfg["init"] != "true" {
		t.Error("-init is not set: a pod's first start on a new volume would fail")
	}
	var mount *corev1.VolumeMount
	for i, m := range n.c.VolumeMounts {
		if data == m.MountPath || strings.HasPrefix(data, strings.TrimSuffix(m.MountPath, "/")+"/") {
			mount = &n.c.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("-data %s is on no volume mount (it would be lost with the container)", data)
	}
	if mount.MountPath != dataMount {
		t.Errorf("the data volume is mounted at %s, the image's VOLUME is %s", mount.MountPath, dataMount)
	}
	claimed := false
	for _, c := range s.Spec.VolumeClaimTemplates {
		claimed = claimed || c.Name == mount.Name
	}
	if !claimed {
		t.Errorf("volume %s (of -data %s) is not one of the StatefulSet's volumeClaimTemplates: it would not follow the pod", mount.Name, data)
	}
}

// show prints an optional number of a manifest.
func show[N int32 | int64](p *N) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatInt(int64(*p), 10)
}
