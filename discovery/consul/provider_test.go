package consul_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery/consul"
	"github.com/legion-go/legion/discovery/discoverytest"
)

func TestTokenOnEveryRequest(t *testing.T) {
	t.Setenv("CONSUL_HTTP_TOKEN", "from-the-environment")
	fake, url := newFakeAgent(t)
	p, err := consul.New(consul.Config{Address: url, Token: "s3cret", TTL: 300 * time.Millisecond, WaitTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), discoverytest.NewMember("n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "heartbeat and watch", func() bool {
		return fake.count("PUT", "/v1/agent/check/update/") > 0 && fake.count("GET", "/v1/health/service/legion") > 1
	})
	stop(t, p)
	if fake.count("PUT", "/v1/agent/service/deregister/") != 1 {
		t.Error("no deregistration")
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, r := range fake.requests {
		if r.token != "s3cret" {
			t.Errorf("%s %s carried token %q", r.method, r.path, r.token)
		}
	}
}

// TestBackoffWhileFailing checks that both loops retry with growing, jittered
// delays when every request fails, instead of spinning.
func TestBackoffWhileFailing(t *testing.T) {
	fake, url := newFakeAgent(t)
	fake.set(func(f *fakeAgent) { f.status = http.StatusInternalServerError })
	const minD, maxD = 40 * time.Millisecond, 160 * time.Millisecond
	p, err := consul.New(consul.Config{Address: url, BackoffMin: minD, BackoffMax: maxD})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), discoverytest.NewMember("n")); err != nil {
		t.Fatal(err)
	}
	const attempts = 7
	eventually(t, "retries", func() bool {
		return fake.count("PUT", "/v1/agent/service/register") >= attempts &&
			fake.count("GET", "/v1/health/service/") >= attempts
	})
	stop(t, p)
	for _, what := range []struct{ method, path string }{{"PUT", "/v1/agent/service/register"}, {"GET", "/v1/health/service/"}} {
		rs := fake.matching(what.method, what.path)[:attempts]
		for i := 1; i < len(rs); i++ {
			gap := rs[i].at.Sub(rs[i-1].at)
			base := min(minD<<(i-1), maxD)
			if gap < base/2 {
				t.Errorf("%s retry %d after %v, want at least %v", what.path, i, gap, base/2)
			}
			if gap > base+500*time.Millisecond { // generous slack for a loaded machine
				t.Errorf("%s retry %d after %v, want about %v at most", what.path, i, gap, base)
			}
		}
	}
}

// TestRegistersAgainWhenForgotten checks that a heartbeat refused because
// the agent no longer knows the check leads to a new registration.
func TestRegistersAgainWhenForgotten(t *testing.T) {
	fake, url := newFakeAgent(t)
	p, err := consul.New(consul.Config{Address: url, TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), discoverytest.NewMember("n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first heartbeat", func() bool { return fake.count("PUT", "/v1/agent/check/update/") > 0 })
	fake.set(func(f *fakeAgent) { f.forget = true })
	eventually(t, "registration again", func() bool { return fake.count("PUT", "/v1/agent/service/register") >= 2 })
	stop(t, p)
}
