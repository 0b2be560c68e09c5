package gossip

import (
	"errors"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery"
)

func TestConfig(t *testing.T) {
	c := Config{}.withDefaults()
	if c.BindAddr != DefaultBindAddr || c.ProbeInterval != DefaultProbeInterval || c.Logger == nil || c.validate() != nil {
		t.Errorf("defaults: %+v", c)
	}
	for name, bad := range map[string]Config{
		"host name":        {BindAddr: "localhost"},
		"port":             {BindPort: 70000},
		"seed":             {Seeds: []string{"127.0.0.1"}},
		"probe timeout":    {ProbeInterval: time.Second, ProbeTimeout: time.Second},
		"negative rejoin":  {RejoinInterval: -1},
		"negative suspect": {SuspicionMult: -1},
	} {
		if _, err := New(bad); !errors.Is(err, discovery.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}
