package consultest

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCachePath(t *testing.T) {
	t.Setenv("LEGION_CACHE", "/somewhere")
	if p, err := CachePath(); err != nil || p != "/somewhere/consul-v1.14.11/consul" {
		t.Errorf("CachePath = %q, %v", p, err)
	}
}

func TestBuildHonoursOverride(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "consul")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LEGION_CONSUL_BIN", fake)
	if p, err := Build(context.Background(), nil); err != nil || p != fake {
		t.Errorf("Build = %q, %v; want %q", p, err, fake)
	}
	t.Setenv("LEGION_CONSUL_BIN", filepath.Join(dir, "missing"))
	if _, err := Build(context.Background(), nil); err == nil {
		t.Error("Build accepted a missing LEGION_CONSUL_BIN")
	}
}

func TestLockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	unlock, err := lock(path, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		u, err := lock(path, t.Logf) // a second holder, as another process would be
		if err == nil {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("second lock taken while the first is held")
	case <-time.After(100 * time.Millisecond): // the second must still be waiting
	}
	unlock()
	<-got
}

func TestAgent(t *testing.T) {
	a := StartAgent(t)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	leader := func() string {
		var l string
		if err := getJSON(client, "http://"+a.Addr()+"/v1/status/leader", "", &l); err != nil {
			return ""
		}
		return l
	}
	if !strings.HasPrefix(leader(), "127.0.0.1:") {
		t.Fatalf("leader = %q", leader())
	}
	a.Stop(t)
	if leader() != "" {
		t.Error("agent still answers after Stop")
	}
	a.Start(t)
	if leader() == "" {
		t.Error("no leader after Start")
	}
	t0 := time.Now()
	a.Restart(t)
	t.Logf("restart took %v", time.Since(t0))
	if leader() == "" {
		t.Error("no leader after Restart")
	}
}

// TestAgentOptions: WithACL turns default-deny ACLs on (an anonymous read of
// the node sees nothing, the management token sees it) and WithConfig's HCL
// reaches the agent.
func TestAgentOptions(t *testing.T) {
	const token = "3f1e6d2a-9c4b-4e7f-8a51-0b2c3d4e5f60"
	a := StartAgent(t, WithACL(token), WithConfig(`node_meta { legion = "options" }`))
	if a.HTTPSAddr() != "" {
		t.Errorf("HTTPSAddr = %q without WithTLS", a.HTTPSAddr())
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var nodes []struct{ Node string }
	if err := getJSON(client, "http://"+a.Addr()+"/v1/catalog/nodes", "", &nodes); err != nil || len(nodes) != 0 {
		t.Errorf("anonymous read of the nodes: %v, %v; want none", nodes, err)
	}
	var self struct{ Meta map[string]string }
	if err := getJSON(client, "http://"+a.Addr()+"/v1/agent/self", token, &self); err != nil {
		t.Fatal(err)
	}
	if got := self.Meta["legion"]; got != "options" {
		t.Errorf("node meta legion = %q, want the one WithConfig set", got)
	}
}
