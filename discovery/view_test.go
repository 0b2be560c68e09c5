package discovery_test

import (
	"slices"
	"testing"

	"github.com/legion-go/legion/discovery"
)

func mem(peer, inst string) discovery.Member {
	return discovery.Member{Peer: peer, Instance: inst, Address: "127.0.0.1:1"}
}

func TestNewViewSortsAndDedupes(t *testing.T) {
	in := []discovery.Member{mem("b", "2"), mem("a", "9"), mem("b", "1"), mem("a", "9")}
	in[3].Name = "later"
	v := discovery.NewView(in)
	if got, want := v.String(), "[a/9 b/1 b/2]"; got != want {
		t.Errorf("view = %s, want %s", got, want)
	}
	if v.Members[0].Name != "later" {
		t.Errorf("duplicate ID: kept %q, want the last one", v.Members[0].Name)
	}
	if in[0].Peer != "b" {
		t.Error("NewView reordered its argument")
	}
	if e := discovery.NewView(nil); e.Members != nil || !e.Equal(discovery.View{}) {
		t.Errorf("empty view = %#v", e)
	}
}

func TestViewLookup(t *testing.T) {
	v := discovery.NewView([]discovery.Member{mem("b", "2"), mem("a", "1"), mem("b", "1"), mem("c", "1")})
	if m, ok := v.Lookup("b"); !ok || m.Instance != "1" {
		t.Errorf("Lookup(b) = %v, %v; want instance 1", m, ok)
	}
	if _, ok := v.Lookup("bb"); ok {
		t.Error("Lookup(bb) found something")
	}
	if got := v.All("b"); len(got) != 2 || got[1].Instance != "2" {
		t.Errorf("All(b) = %v", got)
	}
	if !v.Contains(mem("b", "2")) || v.Contains(mem("b", "3")) {
		t.Error("Contains is wrong")
	}
	if got := v.Peers(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Peers = %v", got)
	}
}

func TestViewEqualClone(t *testing.T) {
	a := discovery.NewView([]discovery.Member{valid(), mem("z", "1")})
	b := a.Clone()
	if !a.Equal(b) {
		t.Fatal("clone differs")
	}
	b.Members[0].Meta["http"] = "changed"
	if a.Equal(b) || a.Members[0].Meta["http"] == "changed" {
		t.Error("Clone shares metadata, or Equal ignores Meta")
	}
	if a.Equal(discovery.NewView(a.Members[:1])) {
		t.Error("views of different sizes are equal")
	}
}
