package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// fakeClock is the nodes' clock in these tests: it moves only when told to.
// Safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// AfterFunc runs timers on the system's time: only timestamps are faked (the registry's
// TTLs read them), the runtime's timers keep their pace.
func (c *fakeClock) AfterFunc(d time.Duration, f func()) actor.Timer { return time.AfterFunc(d, f) }

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testCluster is three in-process nodes on one fake clock, each with the registry's
// HTTP API on its own loopback server.
type testCluster struct {
	*actortest.Cluster
	clock *fakeClock
	urls  []string
}

const testTTL = 30 * time.Second

func startRegistry(t *testing.T) *testCluster {
	t.Helper()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	c := actortest.Start(t, 3, actortest.Options{Config: actor.Config{
		Kinds:               []actor.KindSpec{Service, Index},
		AttemptTimeout:      time.Second,
		AntiEntropyInterval: 50 * time.Millisecond,
		Clock:               clock,
	}})
	tc := &testCluster{Cluster: c, clock: clock}
	for _, n := range c.Nodes {
		srv := httptest.NewServer(newRegistry(n, testTTL, clock.Now, nil).routes())
		t.Cleanup(srv.Close) // before the nodes stop (cleanups run last-in first-out)
		tc.urls = append(tc.urls, srv.URL)
	}
	return tc
}

var client = &http.Client{Timeout: 20 * time.Second}

// reply is an HTTP response, read.
type reply struct {
	status int
	header http.Header
	body   string
}

// do sends a request; ua "" sends no User-Agent at all.
func do(t testing.TB, method, u, ua string, body io.Reader, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", ua) // an empty value: none is sent
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func ping(t testing.TB, base, ua, addr string) reply {
	t.Helper()
	return do(t, http.MethodPost, base+"/v1/ping", ua, strings.NewReader(fmt.Sprintf(`{"serviceAddress": %q}`, addr)))
}

func mustPing(t testing.TB, base, ua, addr string) {
	t.Helper()
	if r := ping(t, base, ua, addr); r.status != http.StatusNoContent {
		t.Fatalf("ping %s as %s through %s: %d %s", addr, ua, base, r.status, r.body)
	}
}

// lookup asks base for the instances of service (in versionRange, unless empty), as ua.
func lookup(t testing.TB, base, ua, service, versionRange string) (map[string]instanceJSON, error) {
	t.Helper()
	u := base + "/v1/services/" + url.PathEscape(service)
	if versionRange != "" {
		u += "/" + url.PathEscape(versionRange)
	}
	r := do(t, http.MethodGet, u, ua, nil)
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", u, r.status, r.body)
	}
	got := map[string]instanceJSON{}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		return nil, fmt.Errorf("GET %s: %v in %q", u, err, r.body)
	}
	return got, nil
}

// instances is a lookup's expected answer: address, version, address, version...
func instances(kv ...string) map[string]instanceJSON {
	m := map[string]instanceJSON{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = instanceJSON{Version: kv[i+1]}
	}
	return m
}

// eventuallyLookup waits until a lookup through every node answers want.
func (c *testCluster) eventuallyLookup(t *testing.T, service, versionRange string, want map[string]instanceJSON) {
	t.Helper()
	actortest.Eventually(t, 15*time.Second, func() error {
		for _, u := range c.urls {
			got, err := lookup(t, u, "", service, versionRange)
			if err != nil {
				return err
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("%s %q through %s: %v, want %v", service, versionRange, u, got, want)
			}
		}
		return nil
	})
}

func TestPingAndLookup(t *testing.T) {
	c := startRegistry(t)
	mustPing(t, c.urls[0], "billing/1.0.0", "https://10.0.0.1:8443")
	mustPing(t, c.urls[1], "billing/1.4.2", "https://10.0.0.2:8443")
	mustPing(t, c.urls[2], "billing/2.0.0-rc.1", "http://billing-3.internal:80/api")
	mustPing(t, c.urls[0], "users/3.1.4", "https://10.0.1.1:9000")
	all := instances("https://10.0.0.1:8443", "1.0.0", "https://10.0.0.2:8443", "1.4.2",
		"http://billing-3.internal:80/api", "2.0.0-rc.1")
	c.eventuallyLookup(t, "billing", "", all)
	c.eventuallyLookup(t, "users", "", instances("https://10.0.1.1:9000", "3.1.4"))
	for rng, want := range map[string]map[string]instanceJSON{
		">= 1.2, < 2.0": instances("https://10.0.0.2:8443", "1.4.2"),
		"1":             instances("https://10.0.0.1:8443", "1.0.0", "https://10.0.0.2:8443", "1.4.2"),
		"<2.0.0":        all,
		"2":             instances("http://billing-3.internal:80/api", "2.0.0-rc.1"),
		"=1.0.0":        instances("https://10.0.0.1:8443", "1.0.0"),
		"> 3":           instances(),
	} {
		got, err := lookup(t, c.urls[1], "", "billing", rng)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("billing in %q: %v, want %v", rng, got, want)
		}
	}
	// A new version from the same address replaces the old one.
	mustPing(t, c.urls[2], "billing/1.0.1", "https://10.0.0.1:8443")
	all["https://10.0.0.1:8443"] = instanceJSON{Version: "1.0.1"}
	c.eventuallyLookup(t, "billing", "", all)
	// A service nothing registered with has no instances: 200 and {}.
	c.eventuallyLookup(t, "nobody", "", instances())
	c.eventuallyLookup(t, "nobody", ">= 1", instances())
}

func TestMalformedRequests(t *testing.T) {
	c := startRegistry(t)
	base := c.urls[0]
	good := `{"serviceAddress": "https://a:1"}`
	huge := `{"serviceAddress": "https://a:1", "padding": "` + strings.Repeat("x", maxBodyBytes) + `"}`
	cases := []struct {
		name, method, path, ua, body string
		status                       int
		says                         string // the error message contains this
	}{
		{"no User-Agent", "POST", "/v1/ping", "", good, 400, "missing User-Agent"},
		{"User-Agent without a version", "POST", "/v1/ping", "billing", good, 400, "name/MAJOR.MINOR.PATCH"},
		{"User-Agent with a partial version", "POST", "/v1/ping", "billing/1.2", good, 400, "want MAJOR.MINOR.PATCH"},
		{"User-Agent with a v", "POST", "/v1/ping", "billing/v1.2.3", good, 400, "not a number"},
		{"User-Agent of a browser", "POST", "/v1/ping", "Mozilla/5.0 (X11; Linux x86_64)", good, 400, "User-Agent"},
		{"User-Agent without a name", "POST", "/v1/ping", "/1.2.3", good, 400, "service name"},
		{"User-Agent with a bad name", "POST", "/v1/ping", "bil ling/1.2.3", good, 400, "service name"},
		{"empty body", "POST", "/v1/ping", "billing/1.2.3", "", 400, "empty body"},
		{"not JSON", "POST", "/v1/ping", "billing/1.2.3", "serviceAddress=https://a:1", 400, "invalid character"},
		{"not an object", "POST", "/v1/ping", "billing/1.2.3", `["https://a:1"]`, 400, "body"},
		{"no serviceAddress", "POST", "/v1/ping", "billing/1.2.3", `{"address": "https://a:1"}`, 400, "missing serviceAddress"},
		{"serviceAddress not a string", "POST", "/v1/ping", "billing/1.2.3", `{"serviceAddress": 8443}`, 400, "string"},
		{"trailing data", "POST", "/v1/ping", "billing/1.2.3", good + ` {}`, 400, "trailing data"},
		{"truncated JSON", "POST", "/v1/ping", "billing/1.2.3", `{"serviceAddress": "https://a:1"`, 400, "body"},
		{"relative URL", "POST", "/v1/ping", "billing/1.2.3", `{"serviceAddress": "/billing"}`, 400, "absolute URL"},
		{"URL without a scheme", "POST", "/v1/ping", "billing/1.2.3", `{"serviceAddress": "10.0.0.1:8443"}`, 400, "absolute URL"},
		{"URL without a host", "POST", "/v1/ping", "billing/1.2.3", `{"serviceAddress": "https://"}`, 400, "absolute URL"},
		{"URL with only a port", "POST", "/v1/ping", "billing/1.2.3", `{"serviceAddress": "https://:8443"}`, 400, "absolute URL"},
		{"empty URL", "POST", "/v1/ping", "billing/1.2.3", `{"serviceAddress": ""}`, 400, "absolute URL"},
		{"URL with a bad port", "POST", "/v1/ping", "billing/1.2.3", `{"serviceAddress": "https://a:port"}`, 400, "absolute URL"},
		{"URL with a space", "POST", "/v1/ping", "billing/1.2.3", `{"serviceAddress": "https://a b:1"}`, 400, "absolute URL"},
		{"oversized body", "POST", "/v1/ping", "billing/1.2.3", huge, 413, "over"},
		{"ping with GET", "GET", "/v1/ping", "billing/1.2.3", "", 405, ""},
		{"bad service name", "GET", "/v1/services/bad%20name", "", "", 400, "service name"},
		{"service name with a dash first", "GET", "/v1/services/-x", "", "", 400, "service name"},
		{"range with an x", "GET", "/v1/services/billing/" + url.PathEscape(">= 1.x"), "", "", 400, "not a number"},
		{"tilde range", "GET", "/v1/services/billing/~1.2", "", "", 400, "range"},
		{"caret range", "GET", "/v1/services/billing/%5E1.2", "", "", 400, "range"},
		{"range with two commas", "GET", "/v1/services/billing/" + url.PathEscape(">=1,,<2"), "", "", 400, "empty comparator"},
		{"range with a slash", "GET", "/v1/services/billing/" + url.PathEscape(">=1/2"), "", "", 400, "range"},
		{"range with spaces only", "GET", "/v1/services/billing/%20", "", "", 400, "empty range"},
		{"path too deep", "GET", "/v1/services/billing/1/2", "", "", 404, ""},
		{"services with POST", "POST", "/v1/services", "", "", 405, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, base+tc.path, tc.ua, strings.NewReader(tc.body))
			if r.status != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
			}
			if tc.says == "" {
				return
			}
			var e errorJSON
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || !strings.Contains(e.Error, tc.says) {
				t.Fatalf("%s %s: body %q, want a JSON error saying %q", tc.method, tc.path, r.body, tc.says)
			}
		})
	}
	// None of it registered anything, and the node still serves.
	c.eventuallyLookup(t, "billing", "", instances())
	mustPing(t, base, "billing/1.2.3", "https://a:1")
	c.eventuallyLookup(t, "billing", "", instances("https://a:1", "1.2.3"))
}

// TestExpiry drives expiry by the nodes' fake clock: a registration lives testTTL after
// its last ping, judged by the event's timestamp and the lookup's time, on every node.
func TestExpiry(t *testing.T) {
	c := startRegistry(t)
	mustPing(t, c.urls[0], "billing/1.0.0", "https://a:1")
	mustPing(t, c.urls[1], "billing/1.1.0", "https://b:1")
	c.eventuallyLookup(t, "billing", "", instances("https://a:1", "1.0.0", "https://b:1", "1.1.0"))

	c.clock.Advance(20 * time.Second)
	mustPing(t, c.urls[2], "billing/1.1.0", "https://b:1") // b lives until +50s, a until +30s
	c.clock.Advance(9 * time.Second)                       // +29s
	c.eventuallyLookup(t, "billing", "", instances("https://a:1", "1.0.0", "https://b:1", "1.1.0"))
	c.clock.Advance(2 * time.Second) // +31s: a expired (a lookup filters it at once)
	c.eventuallyLookup(t, "billing", "", instances("https://b:1", "1.1.0"))

	// A ping prunes what expired at its time from every replica's state.
	mustPing(t, c.urls[0], "billing/2.0.0", "https://c:1")
	c.eventuallyStored(t, "billing", "https://b:1", "https://c:1")

	c.clock.Advance(20 * time.Second) // +51s: b expired too
	c.eventuallyLookup(t, "billing", "", instances("https://c:1", "2.0.0"))
	// With no ping: the service's durable timer, due at b's expiry, removed it from every
	// replica's state.
	c.eventuallyStored(t, "billing", "https://c:1")
	mustPing(t, c.urls[1], "billing/1.0.0", "https://a:1") // a registers again
	c.eventuallyLookup(t, "billing", "", instances("https://a:1", "1.0.0", "https://c:1", "2.0.0"))
	c.eventuallyLookup(t, "billing", "< 2", instances("https://a:1", "1.0.0"))
}

// eventuallyStored waits until every replica of the service's partition stores exactly
// the given instances, expired or not (a lookup at time 0 sees them all).
func (c *testCluster) eventuallyStored(t *testing.T, service string, want ...string) {
	t.Helper()
	ref := actor.RefOf(c.Nodes[0], Service, service)
	actortest.Eventually(t, 15*time.Second, func() error {
		for _, p := range ref.Replicas() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			out, err := ref.QueryReplica(ctx, p, lookupAt(0), actor.Projected)
			cancel()
			if err != nil {
				return err
			}
			if got := slices.Sorted(maps.Keys(out.GetInstances())); !slices.Equal(got, want) {
				return fmt.Errorf("%s on %s stores %v, want %v", service, p, got, want)
			}
		}
		return nil
	})
}

func TestIndex(t *testing.T) {
	c := startRegistry(t)
	names := []string{"billing", "users", "payments", "search", "mail"}
	for i, name := range names {
		mustPing(t, c.urls[i%3], name+"/1.0.0", fmt.Sprintf("https://%s:1", name))
		mustPing(t, c.urls[(i+1)%3], name+"/1.0.0", fmt.Sprintf("https://%s:2", name))
	}
	slices.Sort(names)
	want := map[string][]string{"services": names}
	actortest.Eventually(t, 15*time.Second, func() error {
		for _, u := range c.urls {
			r := do(t, http.MethodGet, u+"/v1/services", "", nil)
			var got map[string][]string
			if err := json.Unmarshal([]byte(r.body), &got); r.status != 200 || err != nil {
				return fmt.Errorf("GET /v1/services through %s: %d %q", u, r.status, r.body)
			}
			if !reflect.DeepEqual(got, want) {
				return fmt.Errorf("through %s: %v, want %v", u, got, want)
			}
		}
		return nil
	})
	// Each service's partition records that its shard lists it: later pings add nothing.
	for _, name := range names {
		actortest.Eventually(t, 15*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			out, err := actor.RefOf(c.Nodes[0], Service, name).Query(ctx, lookupAt(0), actor.Projected)
			if err != nil || !out.GetIndexed() {
				return fmt.Errorf("%s: indexed %v, %v", name, out.GetIndexed(), err)
			}
			return nil
		})
	}
}

func TestGraph(t *testing.T) {
	c := startRegistry(t)
	for _, s := range []string{"billing", "users", "payments"} {
		mustPing(t, c.urls[0], s+"/1.0.0", "https://"+s+":1")
	}
	for _, l := range []struct {
		node             int
		ua, service, rng string
	}{
		{0, "web/2.0.0", "billing", ""},
		{1, "web/2.0.1", "users", ">= 1"},
		{2, "web/2.0.0", "billing", ""}, // the same edge, through another node
		{1, "billing/1.0.0", "users", ""},
		{2, "", "payments", ""},                   // anonymous: no edge
		{2, "Go-http-client/1.1", "payments", ""}, // not name/semver: no edge
		{0, "cron/0.1.0", "reports", ""},          // a service nobody registered
	} {
		if _, err := lookup(t, c.urls[l.node], l.ua, l.service, l.rng); err != nil {
			t.Fatal(err)
		}
	}
	want := graph{Services: []string{"billing", "cron", "payments", "reports", "users", "web"},
		Calls: map[string][]string{"billing": {"users"}, "cron": {"reports"}, "web": {"billing", "users"}}}
	actortest.Eventually(t, 15*time.Second, func() error {
		for _, u := range c.urls {
			r := do(t, http.MethodGet, u+"/v1/graph", "", nil)
			var got graph
			if err := json.Unmarshal([]byte(r.body), &got); r.status != 200 || err != nil {
				return fmt.Errorf("GET /v1/graph through %s: %d %q", u, r.status, r.body)
			}
			if !reflect.DeepEqual(got, want) {
				return fmt.Errorf("through %s: %+v, want %+v", u, got, want)
			}
		}
		return nil
	})
	dot := `digraph services {
  "billing";
  "cron";
  "payments";
  "reports";
  "users";
  "web";
  "billing" -> "users";
  "cron" -> "reports";
  "web" -> "billing";
  "web" -> "users";
}
`
	r := do(t, http.MethodGet, c.urls[1]+"/v1/graph", "", nil, "Accept", "text/vnd.graphviz")
	if r.status != 200 || r.body != dot || !strings.HasPrefix(r.header.Get("Content-Type"), "text/vnd.graphviz") {
		t.Fatalf("DOT: %d %s %q, want\n%s", r.status, r.header.Get("Content-Type"), r.body, dot)
	}
	r = do(t, http.MethodGet, c.urls[1]+"/v1/graph", "", nil, "Accept", "application/json, text/vnd.graphviz;q=0")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("q=0 for DOT: %d %s %q, want JSON", r.status, r.header.Get("Content-Type"), r.body)
	}
}

func TestAcceptsDOT(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                    false,
		"*/*":                                 false,
		"application/json":                    false,
		"text/vnd.graphviz":                   true,
		"TEXT/VND.GRAPHVIZ":                   true,
		"text/vnd.graphviz; charset=utf-8":    true,
		"application/json, text/vnd.graphviz": true,
		"text/vnd.graphviz;q=0":               false,
		"text/vnd.graphviz;q=0.5":             true,
		"text/vnd.graphviz;q=x":               false,
	} {
		if got := acceptsDOT([]string{accept}); got != want {
			t.Errorf("acceptsDOT(%q) = %v, want %v", accept, got, want)
		}
	}
}

// TestCallCache: a caller's lookups through one node record their edge once.
func TestCallCache(t *testing.T) {
	var c callCache
	if c.has("a", "b") {
		t.Fatal("empty cache has an edge")
	}
	c.add("a", "b")
	if !c.has("a", "b") || c.has("b", "a") {
		t.Fatal("cache does not hold exactly a→b")
	}
	for i := range maxCachedCalls + 1 {
		c.add("x", fmt.Sprint(i))
	}
	if len(c.edges) > maxCachedCalls {
		t.Fatalf("cache holds %d edges, bound %d", len(c.edges), maxCachedCalls)
	}
}

func TestParseOptions(t *testing.T) {
	var stderr strings.Builder
	noEnv := func(string) (string, bool) { return "", false }
	o, _, done := parseOptions([]string{"-name", "n1", "-ttl", "5s", "-consul", "127.0.0.1:8500"}, noEnv, &stderr)
	if done || o.Name != "n1" || o.ttl != 5*time.Second || o.Consul != "127.0.0.1:8500" || o.consulService != "legion-discovery" {
		t.Fatalf("parseOptions: %+v, done %v; %s", o, done, stderr.String())
	}
	for _, args := range [][]string{{}, {"-name", "n1", "-ttl", "0s"}, {"-name", "n1", "extra"}, {"-nope"}} {
		if _, code, done := parseOptions(args, noEnv, &stderr); !done || code != exitUsage {
			t.Errorf("parseOptions(%q): code %d, done %v; want usage", args, code, done)
		}
	}
	// The environment sets what the command line does not; the command line wins.
	env := map[string]string{"DISCOVERY_NAME": "from-env", "DISCOVERY_TTL": "7s", "DISCOVERY_CONSUL_SERVICE": "reg",
		"DISCOVERY_GOSSIP_ADVERTISE": "10.0.0.7", "DISCOVERY_PORT": "tcp://10.0.0.1:80"} // the last: a Kubernetes service link
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	o, _, done = parseOptions([]string{"-name", "n1"}, lookup, &stderr)
	if done || o.Name != "n1" || o.ttl != 7*time.Second || o.consulService != "reg" || o.GossipAdvertise != "10.0.0.7" {
		t.Fatalf("parseOptions with an environment: %+v, done %v; %s", o, done, stderr.String())
	}
	env["DISCOVERY_TTL"] = "soon"
	stderr.Reset()
	if _, code, done := parseOptions([]string{"-name", "n1"}, lookup, &stderr); !done || code != exitUsage ||
		!strings.Contains(stderr.String(), "DISCOVERY_TTL") {
		t.Errorf("DISCOVERY_TTL=soon: code %d, done %v, %q; want a usage error naming the variable", code, done, stderr.String())
	}
}
