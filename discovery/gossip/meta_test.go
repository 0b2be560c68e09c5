package gossip

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"

	"github.com/legion-go/legion/discovery"
)

func member() discovery.Member {
	return discovery.Member{Peer: "n1~3f9a2c", Name: "n1", Instance: "i/1", Address: "127.0.0.1:7001",
		Kinds: []string{"counter", "a,b"}, Meta: map[string]string{"http": "127.0.0.1:8080", "odd key": "v\n%"}}
}

func TestMetaRoundTrip(t *testing.T) {
	m := member()
	b, err := encodeMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMember(m.ID(), b)
	if err != nil || !got.Equal(m) {
		t.Fatalf("decodeMember = %v, %v; want %v", got, err, m)
	}
	t.Logf("meta of a typical member: %d of %d bytes", len(b), memberlist.MetaMaxSize)
}

func TestMetaTooLarge(t *testing.T) {
	m := member()
	m.Meta["big"] = strings.Repeat("x", 500)
	if _, err := encodeMeta(m); !errors.Is(err, discovery.ErrMetaTooLarge) {
		t.Errorf("encodeMeta of a large member: %v, want ErrMetaTooLarge", err)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	m := member()
	good, _ := encodeMeta(m)
	cases := map[string]struct {
		name string
		meta []byte
	}{
		"no separator":  {"noslash", good},
		"empty meta":    {m.ID(), nil},
		"wrong version": {m.ID(), append([]byte{9}, good[1:]...)},
		"truncated":     {m.ID(), good[:len(good)-1]},
		"trailing":      {m.ID(), append(append([]byte{}, good...), 0)},
		"huge count":    {m.ID(), []byte{1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for name, c := range cases {
		if _, err := decodeMember(c.name, c.meta); !errors.Is(err, discovery.ErrBadMeta) {
			t.Errorf("%s: %v, want ErrBadMeta", name, err)
		}
	}
}

func FuzzDecodeMember(f *testing.F) {
	good, _ := encodeMeta(member())
	f.Add("p/i", good)
	f.Add("p/i", []byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, name string, meta []byte) {
		m, err := decodeMember(name, meta)
		if err != nil {
			return
		}
		b, err := encodeMeta(m) // whatever decodes must encode back to something that decodes the same
		if err != nil {
			return // may exceed the size limit after canonical re-encoding
		}
		again, err := decodeMember(m.ID(), b)
		if err != nil || !again.Equal(m) {
			t.Fatalf("re-decode of %v: %v, %v", m, again, err)
		}
	})
}
