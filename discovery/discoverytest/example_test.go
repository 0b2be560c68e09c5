package discoverytest_test

import (
	"errors"
	"testing"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/discoverytest"
	"github.com/legion-go/legion/discovery/memory"
)

// factory runs the suite against the in-memory provider: one registry per
// test case, crashes in process.
type factory struct{}

func (factory) NewCluster(*testing.T) discoverytest.Cluster { return cluster{memory.NewRegistry()} }
func (factory) FromSpec(string) (discovery.Provider, error) {
	return nil, errors.New("in-process only")
}
func (factory) Options() discoverytest.Options { return discoverytest.Options{} }

type cluster struct{ reg *memory.Registry }

func (c cluster) Provider(*testing.T) discovery.Provider { return c.reg.Provider() }
func (c cluster) Spec() string                           { return "" }
func (c cluster) Crash(_ *testing.T, peer string)        { c.reg.Kill(peer) }

// In a provider's test package (a provider whose members can only crash in
// another process also wires discoverytest.Main into TestMain):
//
//	func TestConformance(t *testing.T) { discoverytest.Run(t, factory{}) }
func Example() {
	var _ discoverytest.Factory = factory{}
	var _ discoverytest.Crasher = cluster{}
}
