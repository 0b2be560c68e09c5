package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/actor/admin"
	"github.com/legion-go/legion/lattice"
)

type i64 = wrapperspb.Int64Value

var counter = &actor.Kind[*i64, *i64, *i64]{
	Name: "counter",
	Apply: func(s *i64, e *i64, _ lattice.Meta) (*i64, *i64, error) {
		s.Value += e.Value
		return s, wrapperspb.Int64(s.Value), nil
	},
	Query: func(s *i64, _ *i64) (*i64, error) { return wrapperspb.Int64(s.Value), nil },
}

// cluster starts n real nodes in the test's process, each with an admin handler over
// httptest (opts for all of them), and returns the cluster and the handlers' URLs.
func cluster(t *testing.T, n int, cfg actor.Config, opts admin.Options) (*actortest.Cluster, []string) {
	t.Helper()
	cfg.Kinds = []actor.KindSpec{counter}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = 100 * time.Millisecond
	}
	c := actortest.Start(t, n, actortest.Options{Config: cfg})
	urls := make([]string, n)
	for i, node := range c.Nodes {
		h, err := admin.New(node, opts)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		urls[i] = srv.URL
	}
	return c, urls
}

// write makes count counters, each incremented once (consistent: every replica has it).
func write(t *testing.T, node *actor.Node, count int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var keys []string
	for i := range count {
		k := fmt.Sprintf("k%02d", i)
		if _, err := actor.RefOf(node, counter, k).Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			t.Fatalf("increment %s: %v", k, err)
		}
		keys = append(keys, k)
	}
	return keys
}

// get GETs url and decodes its JSON body into v (if not nil); it returns the status.
func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp, v)
}

func post(t *testing.T, u string, form url.Values, v any) int {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp, v)
}

func decode(t *testing.T, resp *http.Response, v any) int {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v in %s", resp.Request.URL, err, body)
		}
	}
	return resp.StatusCode
}

// TestViews: the probes, the cluster view, the partitions a page at a time, the status,
// metrics from the given gatherer, and clear errors for bad requests, on a real 3-node
// cluster.
func TestViews(t *testing.T) {
	reg := prometheus.NewRegistry()
	probe := prometheus.NewCounter(prometheus.CounterOpts{Name: "legion_admin_test_probe_total", Help: "a probe"})
	reg.MustRegister(probe)
	probe.Inc()
	c, urls := cluster(t, 3, actor.Config{}, admin.Options{Gatherer: reg, MaxPage: 8})
	keys := write(t, c.Nodes[0], 20)

	if code := get(t, urls[1]+"/healthz", nil); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	actortest.Eventually(t, 10*time.Second, func() error {
		if code := get(t, urls[1]+"/readyz", nil); code != 200 {
			return fmt.Errorf("/readyz: %d", code)
		}
		return nil
	})

	var ms admin.Members
	if code := get(t, urls[1]+"/api/members", &ms); code != 200 {
		t.Fatalf("/api/members: %d", code)
	}
	if ms.Live != 3 || len(ms.Members) != 3 || ms.Self != string(c.Nodes[1].Peer()) {
		t.Fatalf("members: %+v", ms)
	}
	for _, m := range ms.Members {
		i := c.Index(lattice.Peer(m.Peer))
		if i < 0 || m.Address != c.Nodes[i].Address() || !m.Live || !slices.Equal(m.Kinds, []string{"counter"}) || m.Self != (i == 1) {
			t.Errorf("member %+v: want node %d at %s", m, i, c.Nodes[max(i, 0)].Address())
		}
	}

	// Every node holds every counter (R=3 over 3 nodes); pages of at most MaxPage.
	var listed []string
	actortest.Eventually(t, 10*time.Second, func() error {
		listed = listed[:0]
		after := ""
		for range 10 {
			var p admin.Partitions
			if code := get(t, urls[2]+"/api/partitions?limit=100&after="+url.QueryEscape(after), &p); code != 200 {
				return fmt.Errorf("/api/partitions: %d", code)
			}
			if len(p.Partitions) > 8 {
				return fmt.Errorf("a page of %d, over MaxPage 8", len(p.Partitions))
			}
			for _, x := range p.Partitions {
				if len(x.ReplicaSet) != 3 || len(x.Participants) != 3 {
					return fmt.Errorf("%s: replica set %v, participants %v", x.Key, x.ReplicaSet, x.Participants)
				}
				listed = append(listed, x.Key)
			}
			if after = p.Next; after == "" {
				break
			}
		}
		if !slices.Equal(listed, keys) {
			return fmt.Errorf("listed %v, want %v", listed, keys)
		}
		return nil
	})

	// Node 2 holds the 20 counters, each with every node a participant.
	get(t, urls[2]+"/api/members", &ms)
	for _, m := range ms.Members {
		if m.Partitions != 20 {
			t.Errorf("node 2 shares %d partitions with %s, want 20", m.Partitions, m.Peer)
		}
	}

	var st admin.Status
	if code := get(t, urls[0]+"/api/status", &st); code != 200 {
		t.Fatalf("/api/status: %d", code)
	}
	if st.Peer != string(c.Nodes[0].Peer()) || st.Name != "n0" || st.Address != c.Nodes[0].Address() || !st.Health.Running || st.Stats.Flushes == 0 || st.Actions {
		t.Fatalf("status: %+v", st)
	}

	resp, err := http.Get(urls[0] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "legion_admin_test_probe_total 1") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}

	for path, want := range map[string]int{
		"/api/partitions?limit=0":     400,
		"/api/partitions?limit=x":     400,
		"/api/partitions?after=nokey": 400,
		"/api/stalls?limit=-1":        400,
		"/api/nothing":                404,
	} {
		var e admin.Error
		if code := get(t, urls[0]+path, &e); code != want || e.Error == "" {
			t.Errorf("%s: %d %q, want %d and an error", path, code, e.Error, want)
		}
	}

	// Without a gatherer, no /metrics.
	h, err := admin.New(c.Nodes[0], admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Fatalf("/metrics without a gatherer: %d", rec.Code)
	}
	if _, err := admin.New(nil, admin.Options{}); err == nil {
		t.Fatal("a handler without a node")
	}
	if _, err := admin.New(c.Nodes[0], admin.Options{MaxPage: -1}); err == nil {
		t.Fatal("a handler with MaxPage -1")
	}
}

// TestStallsAfterCut: with node 2 cut off from nodes 0 and 1, the fast calls wait for node
// 2's acks, and /api/stalls names node 2 (live: membership still lists it).
func TestStallsAfterCut(t *testing.T) {
	c, urls := cluster(t, 3, actor.Config{}, admin.Options{})
	write(t, c.Nodes[0], 5)
	var s admin.Stalls
	if code := get(t, urls[0]+"/api/stalls", &s); code != 200 || len(s.Peers) != 0 {
		t.Logf("before the cut: %d %+v", code, s) // acks may still be on their way
	}
	c.Cut(0, 2) // node 2's links, both ways: membership still lists it
	c.Cut(1, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := actor.RefOf(c.Nodes[0], counter, fmt.Sprintf("k%02d", i)).Call(ctx, wrapperspb.Int64(1), actor.Fast); err != nil {
			t.Fatal(err)
		}
	}
	peer2 := string(c.Nodes[2].Peer())
	actortest.Eventually(t, 10*time.Second, func() error {
		if code := get(t, urls[0]+"/api/stalls", &s); code != 200 {
			return fmt.Errorf("/api/stalls: %d", code)
		}
		i := slices.IndexFunc(s.Peers, func(p admin.PeerStall) bool { return p.Peer == peer2 })
		if i < 0 || s.Peers[i].Acks < 1 || !s.Peers[i].Live || s.Total < 1 {
			return fmt.Errorf("stalls %+v: want %s holding acks back", s, peer2)
		}
		return nil
	})
	var st admin.Status
	get(t, urls[0]+"/api/status", &st)
	if st.Stalled < 1 || st.Pending < 1 {
		t.Fatalf("status after the cut: %+v", st)
	}
	c.Heal(0, 2)
	c.Heal(1, 2)
	actortest.Eventually(t, 20*time.Second, func() error {
		get(t, urls[0]+"/api/stalls", &s)
		if len(s.Peers) != 0 {
			return fmt.Errorf("after healing: %+v", s.Peers)
		}
		return nil
	})
}

// TestEject: the operator's eject refuses on a read-only handler, without confirmation,
// for a live peer and without a majority; for a crashed peer, it has the survivors eject
// it within seconds while EjectAfter is an hour.
func TestEject(t *testing.T) {
	cfg := actor.Config{EjectAfter: time.Hour, AntiEntropyInterval: 50 * time.Millisecond}
	c, urls := cluster(t, 3, cfg, admin.Options{Actions: true})
	keys := write(t, c.Nodes[0], 10)
	peer1, peer2 := string(c.Nodes[1].Peer()), string(c.Nodes[2].Peer())

	ro, err := admin.New(c.Nodes[0], admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	ro.ServeHTTP(rec, httptest.NewRequest("POST", "/api/eject?peer="+peer2+"&confirm="+peer2, nil))
	if rec.Code != 403 {
		t.Fatalf("eject on a read-only handler: %d %s", rec.Code, rec.Body)
	}
	var e admin.Error
	for name, form := range map[string]url.Values{
		"no peer":       {},
		"no confirm":    {"peer": {peer2}},
		"wrong confirm": {"peer": {peer2}, "confirm": {peer1}},
	} {
		if code := post(t, urls[0]+"/api/eject", form, &e); code != 400 {
			t.Errorf("%s: %d %s", name, code, e.Error)
		}
	}
	for name, p := range map[string]string{"live": peer2, "self": string(c.Nodes[0].Peer()), "unknown": "nobody~1"} {
		if code := post(t, urls[0]+"/api/eject", url.Values{"peer": {p}, "confirm": {p}}, &e); code != 409 {
			t.Errorf("eject %s peer: %d %s", name, code, e.Error)
		}
	}

	// A minority: node 0 alone sees 1 of 3 live.
	c.Split([]int{0}, []int{1, 2})
	c.WaitConverged()
	if code := post(t, urls[0]+"/api/eject", url.Values{"peer": {peer1}, "confirm": {peer1}}, &e); code != 409 || !strings.Contains(e.Error, "majority") {
		t.Fatalf("eject in a minority: %d %s", code, e.Error)
	}
	c.HealSplit()
	c.WaitConverged()

	c.Crash(2)
	c.WaitConverged()
	for i := range 2 {
		var res admin.EjectResult
		actortest.Eventually(t, 10*time.Second, func() error {
			if code := post(t, urls[i]+"/api/eject", url.Values{"peer": {peer2}, "confirm": {peer2}}, &res); code != 200 {
				return fmt.Errorf("eject on node %d: %d", i, code)
			}
			return nil
		})
		t.Logf("node %d: %+v", i, res)
	}
	start := time.Now()
	for i := range 2 {
		actortest.Eventually(t, 20*time.Second, func() error {
			var p admin.Partitions
			get(t, urls[i]+"/api/partitions", &p)
			for _, x := range p.Partitions {
				if slices.Contains(x.Participants, peer2) || slices.Contains(x.Joining, peer2) {
					return fmt.Errorf("node %d: %s has participants %v", i, x.Key, x.Participants)
				}
			}
			if p.Total != len(keys) {
				return fmt.Errorf("node %d lists %d partitions, want %d", i, p.Total, len(keys))
			}
			return nil
		})
	}
	t.Logf("ejected from %d partitions in %v after the operator's eject (EjectAfter %v)", len(keys), time.Since(start).Round(time.Millisecond), cfg.EjectAfter)
	// Once no replica names it, its tombstone retires: placement no longer counts it, and
	// a partition that never existed can start (it could not while the tombstone stood).
	actortest.Eventually(t, 20*time.Second, func() error {
		for i := range 2 {
			var ms admin.Members
			get(t, urls[i]+"/api/members", &ms)
			if j := slices.IndexFunc(ms.Members, func(m admin.Member) bool { return m.Peer == peer2 }); j >= 0 {
				return fmt.Errorf("node %d still lists the ejected peer: %+v", i, ms.Members[j])
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := actor.RefOf(c.Nodes[0], counter, "new").Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
		t.Fatalf("a new partition after the eject: %v", err)
	}
}
