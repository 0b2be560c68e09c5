package discovery_test

import (
	"errors"
	"maps"
	"regexp"
	"slices"
	"testing"

	"github.com/legion-go/legion/discovery"
)

var consulKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func roundTrip(t *testing.T, kinds []string, meta map[string]string) {
	t.Helper()
	flat, err := discovery.EncodeMeta(kinds, meta)
	if err != nil {
		t.Fatalf("EncodeMeta(%q, %q): %v", kinds, meta, err)
	}
	for k := range flat {
		if !consulKey.MatchString(k) {
			t.Errorf("key %q is not a valid Consul meta key", k)
		}
	}
	gotKinds, gotMeta, err := discovery.DecodeMeta(flat)
	if err != nil {
		t.Fatalf("DecodeMeta(%q): %v", flat, err)
	}
	if len(kinds) == 0 {
		kinds = nil
	}
	if len(meta) == 0 {
		meta = nil
	}
	if !slices.Equal(gotKinds, kinds) || !maps.Equal(gotMeta, meta) {
		t.Errorf("round trip of %q, %q gave %q, %q (flat %q)", kinds, meta, gotKinds, gotMeta, flat)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	roundTrip(t, nil, nil)
	roundTrip(t, []string{"counter"}, map[string]string{"http": "127.0.0.1:8080"})
	roundTrip(t, []string{"a,b", "%", "%2C", "ü ñ", ",", "x%25y"},
		map[string]string{"odd key/=,%_": "v = & %\n", "_41": "", "m-x": "y", "kinds": "k", "日本": "語", "-": "-"})
}

func TestMetaIgnoresOtherKeys(t *testing.T) {
	kinds, meta, err := discovery.DecodeMeta(map[string]string{"peer": "p", "instance": "i", "kinds": "a,b"})
	if err != nil || !slices.Equal(kinds, []string{"a", "b"}) || meta != nil {
		t.Errorf("DecodeMeta = %q, %q, %v", kinds, meta, err)
	}
}

func TestMetaErrors(t *testing.T) {
	if _, err := discovery.EncodeMeta([]string{""}, nil); !errors.Is(err, discovery.ErrInvalidMember) {
		t.Errorf("empty kind: %v", err)
	}
	if _, err := discovery.EncodeMeta(nil, map[string]string{"": "x"}); !errors.Is(err, discovery.ErrInvalidMember) {
		t.Errorf("empty key: %v", err)
	}
	for _, flat := range []map[string]string{
		{"kinds": "a,,b"}, {"kinds": "a%2"}, {"kinds": "%41"},
		{"m-": "x"}, {"m-a_4": "x"}, {"m-a_ZZ": "x"}, {"m-a.b": "x"},
	} {
		if _, _, err := discovery.DecodeMeta(flat); !errors.Is(err, discovery.ErrBadMeta) {
			t.Errorf("DecodeMeta(%q) = %v, want ErrBadMeta", flat, err)
		}
	}
}

func FuzzMetaRoundTrip(f *testing.F) {
	f.Add("counter", "a,b", "http", "127.0.0.1:8080", "odd key", "v%,")
	f.Fuzz(func(t *testing.T, k1, k2, mk1, mv1, mk2, mv2 string) {
		var kinds []string
		for _, k := range []string{k1, k2} {
			if k != "" && !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
		}
		meta := map[string]string{}
		for k, v := range map[string]string{mk1: mv1, mk2: mv2} {
			if k != "" {
				meta[k] = v
			}
		}
		roundTrip(t, kinds, meta)
	})
}
