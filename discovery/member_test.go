package discovery_test

import (
	"errors"
	"testing"

	"github.com/legion-go/legion/discovery"
)

func valid() discovery.Member {
	return discovery.Member{Peer: "n1~3f9a2c", Name: "n1", Instance: "i1", Address: "127.0.0.1:7001",
		Kinds: []string{"counter"}, Meta: map[string]string{"http": "127.0.0.1:8080"}}
}

func TestValidate(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid member: %v", err)
	}
	ipv6 := valid()
	ipv6.Address = "[::1]:7001"
	if err := ipv6.Validate(); err != nil {
		t.Errorf("IPv6 address: %v", err)
	}
	bad := map[string]func(*discovery.Member){
		"empty peer":     func(m *discovery.Member) { m.Peer = "" },
		"slash in peer":  func(m *discovery.Member) { m.Peer = "a/b" },
		"empty instance": func(m *discovery.Member) { m.Instance = "" },
		"no port":        func(m *discovery.Member) { m.Address = "127.0.0.1" },
		"empty host":     func(m *discovery.Member) { m.Address = ":7001" },
		"port zero":      func(m *discovery.Member) { m.Address = "127.0.0.1:0" },
		"port too big":   func(m *discovery.Member) { m.Address = "127.0.0.1:65536" },
		"named port":     func(m *discovery.Member) { m.Address = "127.0.0.1:http" },
		"empty kind":     func(m *discovery.Member) { m.Kinds = []string{"a", ""} },
		"duplicate kind": func(m *discovery.Member) { m.Kinds = []string{"a", "a"} },
		"empty meta key": func(m *discovery.Member) { m.Meta = map[string]string{"": "x"} },
	}
	for name, mutate := range bad {
		m := valid()
		mutate(&m)
		if err := m.Validate(); !errors.Is(err, discovery.ErrInvalidMember) {
			t.Errorf("%s: Validate = %v, want ErrInvalidMember", name, err)
		}
	}
}

func TestID(t *testing.T) {
	m := valid()
	m.Instance = "inst/with/slashes"
	peer, inst, ok := discovery.SplitID(m.ID())
	if !ok || peer != m.Peer || inst != m.Instance {
		t.Errorf("SplitID(%q) = %q, %q, %v", m.ID(), peer, inst, ok)
	}
	for _, id := range []string{"", "noslash", "/inst", "peer/"} {
		if _, _, ok := discovery.SplitID(id); ok {
			t.Errorf("SplitID(%q) succeeded", id)
		}
	}
}

func TestCloneEqual(t *testing.T) {
	m := valid()
	c := m.Clone()
	if !c.Equal(m) {
		t.Fatal("clone differs")
	}
	c.Kinds[0], c.Meta["http"] = "other", "other"
	if m.Kinds[0] != "counter" || m.Meta["http"] != "127.0.0.1:8080" {
		t.Error("Clone shares Kinds or Meta")
	}
	empty, nilled := valid(), valid()
	empty.Kinds, empty.Meta = []string{}, map[string]string{}
	nilled.Kinds, nilled.Meta = nil, nil
	if !empty.Equal(nilled) {
		t.Error("empty and nil Kinds/Meta differ")
	}
	reordered := valid()
	reordered.Kinds = []string{"b", "a"}
	ordered := valid()
	ordered.Kinds = []string{"a", "b"}
	if reordered.Equal(ordered) {
		t.Error("Kinds order ignored")
	}
}
