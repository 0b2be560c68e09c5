package deploy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// fileFlags are the node's flags whose value is a file holding a secret (or the CA that
// authenticates one): each must be a file of a mounted Secret.
var fileFlags = []string{"tls-ca", "tls-cert", "tls-key", "gossip-key-file",
	"consul-token-file", "consul-ca", "consul-cert", "consul-key"}

// secretFiles is the content of Secrets: name -> key -> bytes.
type secretFiles map[string]map[string][]byte

// scriptSecrets runs `secrets.sh kubernetes NAMESPACE DIR TOKEN` with a kubectl that does
// nothing and returns the Secrets it would create, read back from DIR/NAME/KEY (the
// layout it hands kubectl's --from-file). Skipped without openssl.
func scriptSecrets(t *testing.T, namespace string) secretFiles {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("secrets.sh needs openssl")
	}
	dir := t.TempDir()
	token := filepath.Join(dir, "token.txt")
	if err := os.WriteFile(token, []byte("7a1c3a2e-0000-4000-8000-000000000001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command("sh", "secrets.sh", "kubernetes", namespace, out, token)
	cmd.Env = append(os.Environ(), "KUBECTL=true")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secrets.sh kubernetes: %v\n%s", err, b)
	}
	s := secretFiles{}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "ca" { // DIR/ca is the CA's key: no Secret
			continue
		}
		keys, err := os.ReadDir(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s[e.Name()] = map[string][]byte{}
		for _, k := range keys {
			b, err := os.ReadFile(filepath.Join(out, e.Name(), k.Name()))
			if err != nil {
				t.Fatal(err)
			}
			s[e.Name()][k.Name()] = b
		}
	}
	return s
}

// secretMount is a flag's file: the Secret volume it is on, and the key it is.
type secretMount struct {
	mount  corev1.VolumeMount
	secret *corev1.SecretVolumeSource
	key    string
}

// secretOf finds the Secret volume of the pod that holds file, and the key projected at
// file; an error says why it has none.
func secretOf(spec corev1.PodSpec, c corev1.Container, file string) (secretMount, string) {
	for _, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/") + "/"
		if !strings.HasPrefix(file, dir) {
			continue
		}
		rel := strings.TrimPrefix(file, dir)
		var vol *corev1.Volume
		for i := range spec.Volumes {
			if spec.Volumes[i].Name == m.Name {
				vol = &spec.Volumes[i]
			}
		}
		switch {
		case vol == nil:
			return secretMount{}, "on volume mount " + m.Name + ", which is no volume of the pod (a claimed volume is no place for a secret)"
		case vol.Secret == nil:
			return secretMount{}, "on volume " + m.Name + ", which is not a Secret"
		case !m.ReadOnly:
			return secretMount{}, "on Secret volume " + m.Name + ", mounted read-write"
		case len(vol.Secret.Items) == 0:
			return secretMount{}, "on Secret volume " + m.Name + ", which names no items (a missing key would show as a missing file, at the node's start)"
		}
		for _, it := range vol.Secret.Items {
			if path.Clean(it.Path) == rel {
				return secretMount{m, vol.Secret, it.Key}, ""
			}
		}
		return secretMount{}, "on Secret volume " + m.Name + ", which projects no item at " + rel
	}
	return secretMount{}, "on no volume mount"
}

// checkSecrets: remoting is mutual TLS, gossip has a key (or the node registers with
// Consul with a token); every file a flag names is an item of a Secret volume, mounted
// read-only, readable by the node's group and no one else; the Secret and its key are
// ones deploy/secrets.sh creates; every Secret volume is mounted and used; and the
// script's certificate names the pod's advertised host, for both ends of a connection.
func checkSecrets(t *testing.T, s *appsv1.StatefulSet, n node) {
	t.Helper()
	spec := s.Spec.Template.Spec
	required := []string{"tls-ca", "tls-cert", "tls-key"}
	if n.cfg["consul"] != "" {
		required = append(required, "consul-token-file")
	} else {
		required = append(required, "gossip-key-file")
	}
	for _, f := range required {
		if n.cfg[f] == "" {
			t.Errorf("-%s is not set: the manifest runs the node without it", f)
		}
	}
	script := scriptSecrets(t, testPod.namespace)
	used := map[string]bool{}
	for _, f := range fileFlags {
		file := n.cfg[f]
		if file == "" {
			continue
		}
		sm, why := secretOf(spec, n.c, file)
		if why != "" {
			t.Errorf("-%s %s: %s", f, file, why)
			continue
		}
		used[sm.mount.Name] = true
		if keys, ok := script[sm.secret.SecretName]; !ok {
			t.Errorf("-%s %s: Secret %s is none that secrets.sh creates (it creates %v)", f, file, sm.secret.SecretName, slicesKeys(script))
		} else if _, ok := keys[sm.key]; !ok {
			t.Errorf("-%s %s: Secret %s has no key %s (secrets.sh gives it %v)", f, file, sm.secret.SecretName, sm.key, slicesKeys(keys))
		}
		if m := sm.secret.DefaultMode; m == nil || *m&0o040 == 0 || *m&^0o440 != 0 {
			t.Errorf("Secret volume %s: defaultMode %s: want the group (fsGroup, the node) to read it, no one to write or run it, others nothing (0440)", sm.mount.Name, showMode(m))
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil && !used[v.Name] {
			t.Errorf("Secret volume %s (%s): no flag names a file of it", v.Name, v.Secret.SecretName)
		}
	}

	// The script's certificate: the pod's advertised name, as a server and as a client.
	host, _ := n.hostPort(t, "advertise")
	tlsSecret := script["counter-tls"]
	if tlsSecret == nil {
		t.Fatal("secrets.sh makes no Secret counter-tls")
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(tlsSecret["ca.crt"]) {
		t.Fatal("counter-tls ca.crt: no PEM certificate")
	}
	block, _ := pem.Decode(tlsSecret["tls.crt"])
	if block == nil {
		t.Fatal("counter-tls tls.crt: no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("secrets.sh's certificate for %s (usage %v): %v", host, usage, err)
		}
	}
	if key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(script["counter-gossip"]["key"]))); err != nil || len(key) != 32 {
		t.Errorf("secrets.sh's gossip key: %d bytes (%v), want 32 in base64", len(key), err)
	}
}

func slicesKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func showMode(m *int32) string {
	if m == nil {
		return "unset (0644)"
	}
	return "0" + big.NewInt(int64(*m)).Text(8)
}

// newTestSecrets is what the process test puts in the Secrets instead of secrets.sh's
// output: a CA, one certificate for every pod's loopback address (the stand-in for the
// wildcard of the pods' names), a gossip key and a Consul token.
func newTestSecrets(t *testing.T, ips []string) secretFiles {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deploy test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "counter pods"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	gossipKey := make([]byte, 32)
	rand.Read(gossipKey)
	return secretFiles{
		"counter-tls": {
			"ca.crt":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
			"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		},
		"counter-gossip":       {"key": []byte(base64.StdEncoding.EncodeToString(gossipKey) + "\n")},
		"counter-consul-token": {"token": []byte("7a1c3a2e-0000-4000-8000-000000000001\n")},
	}
}

// materialize writes the Secret volumes of spec that c mounts under dir, as the kubelet
// projects them (each item at its path, with its mode), and returns mount path -> the
// directory that stands for it.
func (s secretFiles) materialize(t *testing.T, spec corev1.PodSpec, c corev1.Container, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			data, ok := s[v.Secret.SecretName]
			if !ok {
				t.Fatalf("volume %s: Secret %s is none the test makes", v.Name, v.Secret.SecretName)
			}
			vdir := filepath.Join(dir, v.Name)
			if err := os.MkdirAll(vdir, 0o700); err != nil {
				t.Fatal(err)
			}
			mode := os.FileMode(0o644)
			if v.Secret.DefaultMode != nil {
				mode = os.FileMode(*v.Secret.DefaultMode)
			}
			for _, it := range v.Secret.Items {
				b, ok := data[it.Key]
				if !ok {
					t.Fatalf("volume %s: Secret %s has no key %s", v.Name, v.Secret.SecretName, it.Key)
				}
				p := filepath.Join(vdir, filepath.FromSlash(it.Path))
				os.MkdirAll(filepath.Dir(p), 0o700)
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, mode|0o400); err != nil { // the test's user is the file's owner
					t.Fatal(err)
				}
			}
			out[m.MountPath] = vdir
		}
	}
	return out
}
