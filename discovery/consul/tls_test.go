package consul_test

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/consul"
	"github.com/legion-go/legion/discovery/discoverytest"
)

// TestTLSAndTokenFromFiles: against an agent served over HTTPS, a provider given the
// agent's CA file and its ACL token in a file registers, heartbeats and watches, every
// request carrying the file's token; the same provider without the CA file reaches
// nothing (the agent's certificate is not trusted), and keeps retrying.
func TestTLSAndTokenFromFiles(t *testing.T) {
	t.Setenv("CONSUL_HTTP_TOKEN", "from-the-environment")
	t.Setenv("CONSUL_CACERT", "")
	fake := &fakeAgent{}
	srv := httptest.NewTLSServer(http.HandlerFunc(fake.serve))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("  from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := srv.Listener.Addr().String() // no scheme: TLS says https
	log := discoverytest.NewLog(t)
	untrusted, err := consul.New(consul.Config{Address: addr, TokenFile: token, TLS: &consul.TLS{},
		TTL: 300 * time.Millisecond, WaitTime: time.Second, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := untrusted.Start(context.Background(), discoverytest.NewMember("u")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the untrusted provider's retries", func() bool { return log.Count("failed; retrying") >= 2 })
	stop(t, untrusted)
	fake.mu.Lock()
	n := len(fake.requests)
	fake.mu.Unlock()
	if n != 0 {
		t.Fatalf("the agent answered %d requests of a provider that does not trust it", n)
	}

	p, err := consul.New(consul.Config{Address: addr, TokenFile: token, TLS: &consul.TLS{CAFile: ca},
		TTL: 300 * time.Millisecond, WaitTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), discoverytest.NewMember("n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "heartbeat and watch over TLS", func() bool {
		return fake.count("PUT", "/v1/agent/check/update/") > 0 && fake.count("GET", "/v1/health/service/legion") > 1
	})
	stop(t, p)
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, r := range fake.requests {
		if r.token != "from-the-file" {
			t.Errorf("%s %s carried token %q", r.method, r.path, r.token)
		}
	}
}

func TestTokenAndTLSConfig(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]consul.Config{
		"both tokens":      {Token: "a", TokenFile: filepath.Join(dir, "t")},
		"missing file":     {TokenFile: filepath.Join(dir, "nope")},
		"cert without key": {TLS: &consul.TLS{CertFile: "c.pem"}},
		"missing CA file":  {TLS: &consul.TLS{CAFile: filepath.Join(dir, "nope")}},
	} {
		if _, err := consul.New(c); !errors.Is(err, discovery.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}
