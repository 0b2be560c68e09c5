package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestDeleteCounter: over the HTTP API, DELETE /counters/{key} deletes a counter: a
// read then answers 0 and the next increment starts from 0; a retry of the delete with
// its Idempotency-Key, through the other node after that increment, is applied once (the
// increment stays); a bad consistency is refused with 400.
func TestDeleteCounter(t *testing.T) {
	servers := apiServers(t)
	do := func(s *httptest.Server, method, path, key string, into any) int {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, nil)
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
		if resp.StatusCode == http.StatusOK && into != nil {
			if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	var v counterJSON
	if status := do(servers[0], http.MethodPost, "/counters/cart/increment?by=5&consistency=consistent", "", &v); status != http.StatusOK || v.Value != 5 {
		t.Fatalf("the increment: %d %+v", status, v)
	}
	var d deletedJSON
	if status := do(servers[0], http.MethodDelete, "/counters/cart?consistency=consistent", "checkout-1", &d); status != http.StatusOK || !d.Deleted {
		t.Fatalf("the delete: %d %+v", status, d)
	}
	v = counterJSON{}
	if status := do(servers[1], http.MethodGet, "/counters/cart", "", &v); status != http.StatusOK || v.Value != 0 {
		t.Fatalf("a read after the delete: %d %+v; want 0", status, v)
	}
	if status := do(servers[1], http.MethodPost, "/counters/cart/increment?by=2&consistency=consistent", "", &v); status != http.StatusOK || v.Value != 2 {
		t.Fatalf("an increment after the delete: %d %+v; want 2 (from 0)", status, v)
	}
	d = deletedJSON{}
	if status := do(servers[1], http.MethodDelete, "/counters/cart?consistency=consistent", "checkout-1", &d); status != http.StatusOK || !d.Deleted {
		t.Fatalf("the delete retried: %d %+v", status, d)
	}
	if status := do(servers[0], http.MethodGet, "/counters/cart", "", &v); status != http.StatusOK || v.Value != 2 {
		t.Fatalf("after the retried delete: %d %+v; want 2 (the retry applied nothing)", status, v)
	}
	if status := do(servers[0], http.MethodDelete, "/counters/cart?consistency=eventually", "", nil); status != http.StatusBadRequest {
		t.Fatalf("a bad consistency: %d, want 400", status)
	}
}
