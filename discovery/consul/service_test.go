package consul

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/legion-go/legion/discovery"
)

func TestServiceRoundTrip(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := discovery.Member{Peer: "n1~3f9a2c", Name: "n1", Instance: "inst", Address: "[::1]:7001",
		Kinds: []string{"counter", "a,b"}, Meta: map[string]string{"odd key": "välue"}}
	meta, err := serviceMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	reg := p.registration(m, meta)
	if reg.ID != "n1~3f9a2c/inst" || reg.Name != DefaultService || reg.Check.TTL != "3s" || reg.Check.Status != api.HealthPassing {
		t.Errorf("registration = %+v, check %+v", reg, reg.Check)
	}
	got, err := memberOf(&api.AgentService{ID: reg.ID, Service: reg.Name, Address: reg.Address, Port: reg.Port, Meta: reg.Meta})
	if err != nil || !got.Equal(m) {
		t.Errorf("memberOf = %v, %v; want %v", got, err, m)
	}
	if _, err := memberOf(&api.AgentService{ID: "x", Address: "127.0.0.1", Port: 1}); !errors.Is(err, discovery.ErrBadMeta) {
		t.Errorf("foreign service instance: %v", err)
	}
}

func TestServiceMetaLimits(t *testing.T) {
	base := discovery.Member{Peer: "p", Instance: "i", Address: "127.0.0.1:1"}
	many := base
	many.Meta = map[string]string{}
	for i := range 62 {
		many.Meta["k"+strconv.Itoa(i)] = "v"
	}
	longKey := base
	longKey.Meta = map[string]string{strings.Repeat("é", 30): "v"} // 30 × "_C3_A9" = 180 bytes
	longValue := base
	longValue.Meta = map[string]string{"k": strings.Repeat("ü", 257)} // 514 bytes
	for name, m := range map[string]discovery.Member{"many keys": many, "long key": longKey, "long value": longValue} {
		if _, err := serviceMeta(m); !errors.Is(err, discovery.ErrMetaTooLarge) {
			t.Errorf("%s: %v, want ErrMetaTooLarge", name, err)
		}
	}
	ok := base
	ok.Meta = map[string]string{"k": strings.Repeat("ü", 256)}
	if _, err := serviceMeta(ok); err != nil {
		t.Errorf("512-byte value: %v", err)
	}
}

func TestNextIndex(t *testing.T) {
	for _, c := range []struct{ prev, last, want uint64 }{
		{0, 0, 1}, {0, 7, 7}, {7, 7, 7}, {7, 9, 9}, {9, 3, 0},
	} {
		if got := nextIndex(c.prev, c.last); got != c.want {
			t.Errorf("nextIndex(%d, %d) = %d, want %d", c.prev, c.last, got, c.want)
		}
	}
}

func TestConfig(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Address != DefaultAddress || c.Service != DefaultService || c.TTL != DefaultTTL ||
		c.BackoffMax != DefaultBackoffMax || c.Logger == nil || c.validate() != nil {
		t.Errorf("defaults: %+v", c)
	}
	for name, bad := range map[string]Config{
		"tiny TTL":      {TTL: 10},
		"short wait":    {WaitTime: 10},
		"min above max": {BackoffMin: 10, BackoffMax: 5},
		"negative min":  {BackoffMin: -1},
	} {
		if err := bad.withDefaults().validate(); !errors.Is(err, discovery.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := New(bad); !errors.Is(err, discovery.ErrInvalidConfig) {
			t.Errorf("New(%s): %v", name, err)
		}
	}
}
