package gossip_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/discoverytest"
	"github.com/legion-go/legion/discovery/gossip"
)

// refused starts a member with cfg joining through seed and waits until it has tried
// twice and failed; then the seed's view must still be want.
func refused(t *testing.T, cfg gossip.Config, seed *gossipNode, want ...discovery.Member) {
	t.Helper()
	log := discoverytest.NewLog(t)
	cfg.Logger, cfg.Seeds = log.Logger(), []string{seed.Addr()}
	startGossip(t, cfg, discoverytest.NewMember("outsider"))
	deadline := time.Now().Add(20 * time.Second)
	for log.Count("no seed answered; retrying") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the outsider did not fail to join twice")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	waitView(t, seed, want...)
}

// TestSecretKeyAndLabel: members with the cluster's key (given as bytes or as a base64
// file) and label join each other; one without the key, with another key, or with
// another label is refused, and the cluster's views never list it.
func TestSecretKeyAndLabel(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	cfg := func(log *discoverytest.Log, seeds ...string) gossip.Config {
		c := testConfig(log.Logger(), seeds)
		c.SecretKey, c.Label = key, "legion-test"
		return c
	}
	log := discoverytest.NewLog(t)
	a := startGossip(t, cfg(log), discoverytest.NewMember("a"))
	file := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(file, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := cfg(log, a.Addr())
	fromFile.SecretKey, fromFile.SecretKeyFile = nil, file
	b := startGossip(t, fromFile, discoverytest.NewMember("b"))
	waitView(t, a, a.self, b.self)
	waitView(t, b, a.self, b.self)

	noKey := cfg(log)
	noKey.SecretKey = nil
	refused(t, noKey, a, a.self, b.self)
	otherKey := cfg(log)
	otherKey.SecretKey = bytes.Repeat([]byte{8}, 16)
	refused(t, otherKey, a, a.self, b.self)
	otherLabel := cfg(log)
	otherLabel.Label = "another-cluster"
	refused(t, otherLabel, a, a.self, b.self)

	// The hostile messages, to a member with a key: it still serves its cluster.
	for _, msg := range hostileStreams() {
		sendStream(t, a.Addr(), msg)
	}
	c := startGossip(t, cfg(log, a.Addr()), discoverytest.NewMember("c"))
	waitView(t, a, a.self, b.self, c.self)
}

func TestSecretKeyConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, bad := range map[string]gossip.Config{
		"short key":          {SecretKey: make([]byte, 15)},
		"both":               {SecretKey: make([]byte, 16), SecretKeyFile: write("ok", base64.StdEncoding.EncodeToString(make([]byte, 16)))},
		"missing file":       {SecretKeyFile: filepath.Join(dir, "nope")},
		"not base64":         {SecretKeyFile: write("text", "not a key!")},
		"file with 20 bytes": {SecretKeyFile: write("20", base64.StdEncoding.EncodeToString(make([]byte, 20)))},
		"long label":         {Label: string(make([]byte, 256))},
	} {
		if _, err := gossip.New(bad); !errors.Is(err, discovery.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}
