package keys

import (
	"bytes"
	"cmp"
	"slices"
	"testing"

	"github.com/legion-go/legion/storage"
)

// tricky are strings that break naive layouts: separators, escape bytes,
// prefixes of one another, empty.
var tricky = []string{
	"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "\xff", "\xff\xff",
	"a", "a\x00", "a\x00\x01", "a\x00\x01b", "a\x00b", "a\x01", "a/b", "a/", "/b",
	"ab", "b", "p", "é", "a~b", "a\x00\x02",
}

func TestPrefixesNeverCollide(t *testing.T) {
	var parts []storage.Partition
	for _, kind := range tricky {
		for _, key := range tricky {
			parts = append(parts, storage.Partition{Kind: kind, Key: key})
		}
	}
	for _, p := range parts {
		pp := PartitionPrefix(nil, p)
		for _, q := range parts {
			if p == q {
				continue
			}
			qp := PartitionPrefix(nil, q)
			if bytes.HasPrefix(qp, pp) {
				t.Fatalf("prefix of %v is a prefix of %v's", p, q)
			}
			// A key of q must fall outside p's scan range.
			for _, k := range [][]byte{Snapshot(nil, q), Delta(nil, q, nil), Delta(nil, q, []byte("\xff\xff"))} {
				if bytes.Compare(k, pp) >= 0 && bytes.Compare(k, PrefixEnd(pp)) < 0 {
					t.Fatalf("key %q of %v falls in the range of %v", k, q, p)
				}
			}
		}
		if q := p.Kind; !bytes.HasPrefix(pp, KindPrefix(nil, q)) {
			t.Fatalf("partition prefix of %v lacks its kind prefix", p)
		}
	}
}

func TestOrderIsTupleOrder(t *testing.T) {
	type kk struct{ kind, key string }
	var tuples []kk
	for _, a := range tricky {
		for _, b := range tricky {
			tuples = append(tuples, kk{a, b})
		}
	}
	byTuple := slices.Clone(tuples)
	slices.SortFunc(byTuple, func(x, y kk) int {
		return cmp.Or(cmp.Compare(x.kind, y.kind), cmp.Compare(x.key, y.key))
	})
	byKey := slices.Clone(tuples)
	slices.SortFunc(byKey, func(x, y kk) int {
		return bytes.Compare(
			Snapshot(nil, storage.Partition{Kind: x.kind, Key: x.key}),
			Snapshot(nil, storage.Partition{Kind: y.kind, Key: y.key}))
	})
	if !slices.Equal(byTuple, byKey) {
		t.Fatalf("encoded order differs from (kind, key) order")
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, kind := range tricky {
		for _, key := range tricky {
			p := storage.Partition{Kind: kind, Key: key}
			got, err := Parse(Snapshot(nil, p))
			if err != nil || got.Partition != p || got.Tag != TagSnapshot || got.ID != nil {
				t.Fatalf("Parse(Snapshot(%v)) = %+v, %v", p, got, err)
			}
			id := []byte(kind + "\x00" + key)
			got, err = Parse(Delta(nil, p, id))
			if err != nil || got.Partition != p || got.Tag != TagDelta || !bytes.Equal(got.ID, id) {
				t.Fatalf("Parse(Delta(%v)) = %+v, %v", p, got, err)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, k := range []string{"", "x", "p", "pa", "pa\x00", "pa\x00\x02", "pa\x00\x01", "pa\x00\x01b\x00\x01",
		"pa\x00\x01b\x00\x01\x03", "pa\x00\x01b\x00\x01\x01x"} {
		if _, err := Parse([]byte(k)); err == nil {
			t.Errorf("Parse(%q) succeeded", k)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a", "b"}, {"a\xff", "b"}, {"\xff\xff", ""}, {"p\x00\x01", "p\x00\x02"},
	} {
		if got := PrefixEnd([]byte(c.in)); string(got) != c.want {
			t.Errorf("PrefixEnd(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzEncoding checks, for arbitrary strings, that decoding inverts encoding
// and that encoding preserves order and is prefix-free.
func FuzzEncoding(f *testing.F) {
	f.Add("a", "a\x00")
	f.Add("\x00\xff", "\x00")
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := AppendString(nil, a), AppendString(nil, b)
		if s, n, err := DecodeString(append(ea, 'z')); err != nil || s != a || n != len(ea) {
			t.Fatalf("DecodeString(esc(%q)) = %q, %d, %v", a, s, n, err)
		}
		if got, want := bytes.Compare(ea, eb), cmp.Compare(a, b); got != want {
			t.Fatalf("order of esc(%q), esc(%q) = %d, want %d", a, b, got, want)
		}
		if a != b && (bytes.HasPrefix(ea, eb) || bytes.HasPrefix(eb, ea)) {
			t.Fatalf("esc(%q) and esc(%q): one is a prefix of the other", a, b)
		}
	})
}
