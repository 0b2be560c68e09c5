package consul_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAgent is a scripted Consul HTTP API that records requests.
type fakeAgent struct {
	mu       sync.Mutex
	status   int // answer to every request when not 0
	forget   bool
	requests []request
}

type request struct {
	at     time.Time
	method string
	path   string
	token  string
}

func newFakeAgent(t *testing.T) (*fakeAgent, string) {
	f := &fakeAgent{}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, request{time.Now(), r.Method, r.URL.Path, r.Header.Get("X-Consul-Token")})
	status, forget := f.status, f.forget
	f.mu.Unlock()
	switch {
	case status != 0:
		http.Error(w, "scripted failure", status)
	case strings.HasPrefix(r.URL.Path, "/v1/agent/check/update/") && forget:
		http.Error(w, "Unknown check ID", http.StatusNotFound)
	case strings.HasPrefix(r.URL.Path, "/v1/health/service/"):
		if idx := r.URL.Query().Get("index"); idx != "" && idx != "0" {
			<-r.Context().Done() // a blocking query on an unchanged index
			return
		}
		w.Header().Set("X-Consul-Index", "5")
		_, _ = w.Write([]byte("[]"))
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// count returns how many requests matched method and path prefix.
func (f *fakeAgent) count(method, prefix string) int {
	return len(f.matching(method, prefix))
}

func (f *fakeAgent) matching(method, prefix string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.requests {
		if r.method == method && strings.HasPrefix(r.path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeAgent) set(fn func(*fakeAgent)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// eventually polls cond every 10ms until it holds or fails t after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func stop(t *testing.T, p interface{ Stop(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}
