package consul_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/consul"
	"github.com/legion-go/legion/discovery/consul/consultest"
	"github.com/legion-go/legion/discovery/discoverytest"
)

// TestRealAgentACLAndTLS runs a real agent with ACLs on (default policy deny)
// and an HTTPS API that verifies clients, and a token for the nodes whose
// policy allows only what a provider needs (write on the cluster's service,
// read on nodes). Two providers with that token in a file and the TLS files
// in their config, and a third configured only by CONSUL_* environment
// variables, see each other; a provider without a token, one with an unknown
// token, one without the CA and one without a client certificate are
// refused, each with the agent's or the TLS stack's reason in its log, and
// never appear in a view.
func TestRealAgentACLAndTLS(t *testing.T) {
	for _, v := range []string{"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_HTTP_SSL",
		"CONSUL_CACERT", "CONSUL_CAPATH", "CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY", "CONSUL_TLS_SERVER_NAME"} {
		t.Setenv(v, "")
	}
	dir := t.TempDir()
	ca := newCA(t, dir, "cluster")
	server := ca.issue(t, "agent", x509.ExtKeyUsageServerAuth)
	client := ca.issue(t, "node", x509.ExtKeyUsageClientAuth)
	management := newUUID(t)
	agent := consultest.StartAgent(t, consultest.WithACL(management), consultest.WithTLS(consultest.TLS{
		CAFile: ca.file, CertFile: server.cert, KeyFile: server.key, VerifyIncoming: true}))
	addr := agent.HTTPSAddr()
	const service = "legion-acl"
	nodeToken := createToken(t, addr, management, &api.TLSConfig{CAFile: ca.file, CertFile: client.cert, KeyFile: client.key},
		fmt.Sprintf("service %q { policy = \"write\" }\nnode_prefix \"\" { policy = \"read\" }\n", service))
	tokenFile := writeFile(t, dir, "token", "  "+nodeToken+"\n")
	tlsFiles := &consul.TLS{CAFile: ca.file, CertFile: client.cert, KeyFile: client.key}

	log := newErrLog(t)
	cfg := func(name string) consul.Config { return testConfig(addr, service, log.logger(name)) }
	var good []*member
	for _, name := range []string{"a", "b"} {
		c := cfg(name)
		c.TokenFile, c.TLS = tokenFile, tlsFiles
		good = append(good, startMember(t, c, name))
	}
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", tokenFile)
	t.Setenv("CONSUL_CACERT", ca.file)
	t.Setenv("CONSUL_CLIENT_CERT", client.cert)
	t.Setenv("CONSUL_CLIENT_KEY", client.key)
	good = append(good, startMember(t, testConfig("https://"+addr, service, log.logger("env")), "env"))
	var want []discovery.Member
	for _, m := range good {
		want = append(want, m.self)
	}
	for _, m := range good {
		m.waitFor(t, want)
	}
	for _, v := range []string{"CONSUL_HTTP_TOKEN_FILE", "CONSUL_CACERT", "CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY"} {
		t.Setenv(v, "")
	}

	refused := []struct {
		name   string
		config func(*consul.Config)
		reason string // in the error of every failed registration (and watch)
		// anonymous: the watch is not refused (Consul 1.14 answers an
		// anonymous read under default deny with no instances, without
		// saying it filtered them); the view stays empty.
		anonymous bool
	}{
		{"no-token", func(c *consul.Config) { c.TLS = tlsFiles }, "Permission denied", true},
		{"unknown-token", func(c *consul.Config) { c.Token, c.TLS = newUUID(t), tlsFiles }, "ACL not found", false},
		{"no-ca", func(c *consul.Config) {
			c.TokenFile, c.TLS = tokenFile, &consul.TLS{CertFile: client.cert, KeyFile: client.key}
		}, "x509: certificate signed by unknown authority", false},
		{"no-client-cert", func(c *consul.Config) { c.TokenFile, c.TLS = tokenFile, &consul.TLS{CAFile: ca.file} },
			"tls: certificate required", false},
	}
	for _, r := range refused {
		c := cfg(r.name)
		r.config(&c)
		m := startMember(t, c, r.name)
		eventually(t, r.name+"'s refused registrations and watch", func() bool {
			if r.anonymous {
				return log.count(r.name, registerFailed) >= 2 && log.count(r.name, "view") >= 1
			}
			return log.count(r.name, registerFailed) >= 2 && log.count(r.name, "watch failed") >= 1
		})
		stop(t, m.p)
		if v := m.last(); len(v.Members) != 0 {
			t.Errorf("%s saw %v", r.name, v)
		}
		errs := append(log.errors(r.name, registerFailed), log.errors(r.name, "watch failed")...)
		for _, err := range errs {
			if !strings.Contains(err, r.reason) {
				t.Errorf("%s: %q, want the reason %q", r.name, err, r.reason)
			}
		}
		t.Logf("%s: %s", r.name, errs[0])
	}
	for _, m := range good {
		if v := m.last(); !sameMembers(v.Members, want) {
			t.Errorf("%s's view %v, want only the members with the token and the TLS files", m.self.Name, v)
		}
	}
	// The node token's policy allows everything a provider does, down to
	// the deregistration in Stop.
	for _, m := range good {
		stop(t, m.p)
		if errs := log.errors(m.self.Name, "failed"); len(errs) != 0 {
			t.Errorf("%s: %d failures, the first: %s", m.self.Name, len(errs), errs[0])
		}
	}
}

const registerFailed = "register failed; retrying"

// member is a started provider and the last view it published.
type member struct {
	p    *consul.Provider
	self discovery.Member
	mu   sync.Mutex
	view discovery.View
	done chan struct{}
}

func startMember(t *testing.T, c consul.Config, name string) *member {
	t.Helper()
	p, err := consul.New(c)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	m := &member{p: p, self: discoverytest.NewMember(name), done: make(chan struct{})}
	if err := p.Start(context.Background(), m.self); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		defer close(m.done)
		for v := range p.Views() {
			m.mu.Lock()
			m.view = v
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stop(t, p)
		<-m.done
	})
	return m
}

func (m *member) last() discovery.View {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view
}

func (m *member) waitFor(t *testing.T, want []discovery.Member) {
	t.Helper()
	eventually(t, m.self.Name+" sees every member", func() bool { return sameMembers(m.last().Members, want) })
}

func sameMembers(got, want []discovery.Member) bool {
	if len(got) != len(want) {
		return false
	}
	ids := make(map[string]bool)
	for _, m := range got {
		ids[m.ID()] = true
	}
	for _, m := range want {
		if !ids[m.ID()] {
			return false
		}
	}
	return true
}

// createToken makes a policy of rules and a token holding it, with the
// management token over the agent's HTTPS API, and returns the token's secret.
func createToken(t *testing.T, addr, management string, tls *api.TLSConfig, rules string) string {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: addr, Scheme: "https", Token: management, TLSConfig: *tls})
	if err != nil {
		t.Fatal(err)
	}
	policy, _, err := c.ACL().PolicyCreate(&api.ACLPolicy{Name: "legion-node", Rules: rules}, nil)
	if err != nil {
		t.Fatalf("create policy: %v", err)
	}
	token, _, err := c.ACL().TokenCreate(&api.ACLToken{Description: "legion nodes",
		Policies: []*api.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	return token.SecretID
}

func newUUID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ca is a certificate authority made by the test.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
	dir  string
}

type keyPair struct{ cert, key string }

func newCA(t *testing.T, dir, name string) *ca {
	t.Helper()
	key, der := certificate(t, &x509.Certificate{Subject: pkix.Name{CommonName: name + " CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key, dir: dir, file: writeFile(t, dir, name+"-ca.pem", pemOf("CERTIFICATE", der))}
}

// issue makes a certificate for 127.0.0.1 signed by c.
func (c *ca) issue(t *testing.T, name string, usage x509.ExtKeyUsage) keyPair {
	t.Helper()
	key, der := certificate(t, &x509.Certificate{Subject: pkix.Name{CommonName: name},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, c.cert, c.key)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{writeFile(t, c.dir, name+".pem", pemOf("CERTIFICATE", der)),
		writeFile(t, c.dir, name+"-key.pem", pemOf("EC PRIVATE KEY", kder))}
}

// certificate signs tmpl, valid for a day, with a new key by parent's key
// (self-signed when parent is nil).
func certificate(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, big.NewInt(1<<62)); err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func pemOf(kind string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
}

// errLog keeps the providers' records in a discoverytest.Log (printed when the
// test fails) and the err attribute of each ("" if none), by provider and
// message.
type errLog struct {
	log  *discoverytest.Log
	mu   sync.Mutex
	errs map[string][]string // "provider\x00message" -> errors
}

func newErrLog(t *testing.T) *errLog {
	return &errLog{log: discoverytest.NewLog(t), errs: make(map[string][]string)}
}

func (l *errLog) logger(provider string) *slog.Logger {
	return slog.New(errHandler{l: l, provider: provider, Handler: l.log.Logger().Handler()}).With("provider", provider)
}

func (l *errLog) count(provider, msg string) int { return len(l.errors(provider, msg)) }

// errors returns the err attributes of provider's records whose message
// contains msg.
func (l *errLog) errors(provider, msg string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k, errs := range l.errs {
		p, m, _ := strings.Cut(k, "\x00")
		if p == provider && strings.Contains(m, msg) {
			out = append(out, errs...)
		}
	}
	return out
}

type errHandler struct {
	slog.Handler
	l        *errLog
	provider string
}

func (h errHandler) Handle(ctx context.Context, r slog.Record) error {
	err := "" // a record without an err attribute counts too
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			err = a.Value.String()
		}
		return true
	})
	h.l.mu.Lock()
	k := h.provider + "\x00" + r.Message
	h.l.errs[k] = append(h.l.errs[k], err)
	h.l.mu.Unlock()
	return h.Handler.Handle(ctx, r)
}

func (h errHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return errHandler{Handler: h.Handler.WithAttrs(as), l: h.l, provider: h.provider}
}

func (h errHandler) WithGroup(name string) slog.Handler {
	return errHandler{Handler: h.Handler.WithGroup(name), l: h.l, provider: h.provider}
}
