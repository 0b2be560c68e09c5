package memory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/discoverytest"
	"github.com/legion-go/legion/discovery/memory"
)

type factory struct{}

func (factory) NewCluster(*testing.T) discoverytest.Cluster {
	return cluster{memory.NewRegistry()}
}

func (factory) FromSpec(string) (discovery.Provider, error) {
	return nil, errors.New("memory: members live in one process")
}

func (factory) Options() discoverytest.Options {
	return discoverytest.Options{Converge: time.Second, Crash: time.Second}
}

type cluster struct{ reg *memory.Registry }

func (c cluster) Provider(*testing.T) discovery.Provider { return c.reg.Provider() }
func (c cluster) Spec() string                           { return "" }

func (c cluster) Crash(t *testing.T, peer string) {
	if !c.reg.Kill(peer) {
		t.Fatalf("Kill(%q): no such peer", peer)
	}
}

func TestConformance(t *testing.T) { discoverytest.Run(t, factory{}) }
