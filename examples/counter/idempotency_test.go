package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// TestIdempotencyKey: over the HTTP API of two nodes, an increment with an
// Idempotency-Key retried through the other node is applied once; one without a key, or
// with another key, applies again; an invalid key is refused with 400.
func TestIdempotencyKey(t *testing.T) {
	servers := apiServers(t)
	increment := func(s *httptest.Server, key string) (int, counterJSON) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.URL+"/counters/paid/increment?by=10&consistency=consistent", nil)
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body counterJSON
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, body
	}
	if status, body := increment(servers[0], "invoice-7"); status != http.StatusOK || body.Value != 10 {
		t.Fatalf("the first increment: %d %+v", status, body)
	}
	for _, s := range servers { // retries, through each node
		status, body := increment(s, "invoice-7")
		if status != http.StatusOK || !body.AppliedBefore && body.Value != 10 {
			t.Fatalf("a retry through %s: %d %+v; want 200 with the first's value or applied_before", s.URL, status, body)
		}
	}
	if status, body := increment(servers[1], "invoice-8"); status != http.StatusOK || body.Value != 20 {
		t.Fatalf("another key: %d %+v; want 20", status, body)
	}
	if status, body := increment(servers[1], ""); status != http.StatusOK || body.Value != 30 {
		t.Fatalf("no key: %d %+v; want 30", status, body)
	}
	if status, _ := increment(servers[0], strings.Repeat("k", actor.MaxRequestKeyBytes+1)); status != http.StatusBadRequest {
		t.Fatalf("an over-long key: %d, want 400", status)
	}
	var got counterJSON
	resp, err := servers[1].Client().Get(servers[1].URL + "/counters/paid")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.Value != 30 {
		t.Fatalf("the counter reads %+v, %v; want 30", got, err)
	}
}

// apiServers starts three nodes in one process and the HTTP API of two of them, on
// loopback.
func apiServers(t *testing.T) []*httptest.Server {
	t.Helper()
	c := actortest.Start(t, 3, actortest.Options{Config: actor.Config{Kinds: []actor.KindSpec{Counter},
		AttemptTimeout: 500 * time.Millisecond, AntiEntropyInterval: 50 * time.Millisecond}})
	var servers []*httptest.Server
	for _, n := range c.Nodes[:2] {
		s := httptest.NewServer((&api{node: n}).routes())
		t.Cleanup(s.Close)
		servers = append(servers, s)
	}
	return servers
}
