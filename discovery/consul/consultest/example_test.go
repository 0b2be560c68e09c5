package consultest_test

import (
	"testing"

	"github.com/legion-go/legion/discovery/consul"
	"github.com/legion-go/legion/discovery/consul/consultest"
)

// In a test: a real agent on free loopback ports, stopped at the end.
func ExampleStartAgent() {
	var t *testing.T // the test's T
	agent := consultest.StartAgent(t)
	p, _ := consul.New(consul.Config{Address: agent.Addr(), Service: "test"})
	_ = p
	agent.Restart(t) // the agent forgets every registration
}
