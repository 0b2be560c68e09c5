package main

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	good := map[string]version{
		"0.0.0":                    {},
		"1.2.3":                    {major: 1, minor: 2, patch: 3},
		"10.20.30":                 {major: 10, minor: 20, patch: 30},
		"1.0.0-alpha":              {major: 1, pre: []string{"alpha"}},
		"1.0.0-alpha.1":            {major: 1, pre: []string{"alpha", "1"}},
		"1.0.0-0.3.7":              {major: 1, pre: []string{"0", "3", "7"}},
		"1.0.0-x-y-z.--":           {major: 1, pre: []string{"x-y-z", "--"}},
		"1.0.0+20130313144700":     {major: 1, build: "20130313144700"},
		"1.0.0-beta+exp.sha.5114":  {major: 1, pre: []string{"beta"}, build: "exp.sha.5114"},
		"1.0.0+001":                {major: 1, build: "001"}, // build identifiers may have leading zeros
		"18446744073709551615.0.0": {major: math.MaxUint64},
	}
	for s, want := range good {
		v, err := parseVersion(s)
		if err != nil {
			t.Errorf("parseVersion(%q): %v", s, err)
			continue
		}
		if v.String() != s || v.compare(want) != 0 || v.build != want.build {
			t.Errorf("parseVersion(%q) = %+v, want %+v", s, v, want)
		}
	}
	bad := []string{"", "1", "1.2", "1.2.3.4", "v1.2.3", "01.2.3", "1.02.3", "1.2.03", "1.2.3-",
		"1.2.3+", "1.2.3-01", "1.2.3-a..b", "1.2.3-a_b", "1.2.3+a..b", " 1.2.3", "1.2.3 ", "1.-2.3",
		"a.b.c", "1.2.x", "18446744073709551616.0.0", "1.2.3-Ω", strings.Repeat("1", 200) + ".0.0"}
	for _, s := range bad {
		if v, err := parseVersion(s); err == nil {
			t.Errorf("parseVersion(%q) = %v, want an error", s, v)
		}
	}
}

// TestPrecedence checks the order example of semver.org 2.0.0, section 11.
func TestPrecedence(t *testing.T) {
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0"}
	vs := make([]version, len(order))
	for i, s := range order {
		v, err := parseVersion(s)
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = v
	}
	for i := range vs {
		for j := range vs {
			want := cmpUint(uint64(i), uint64(j))
			if got := vs[i].compare(vs[j]); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	a, _ := parseVersion("1.0.0+a")
	b, _ := parseVersion("1.0.0+b")
	if a.compare(b) != 0 {
		t.Errorf("build metadata must not count in precedence")
	}
}

func TestRange(t *testing.T) {
	cases := []struct {
		rng     string
		in, out []string
	}{
		{">= 1.2, < 2.0", []string{"1.2.0", "1.2.0-rc.1", "1.9.99", "1.10.0"}, []string{"1.1.9", "2.0.0", "2.0.0-rc.1", "0.9.0"}},
		{">=1.2.3,<1.3", []string{"1.2.3", "1.2.4"}, []string{"1.2.3-rc.1", "1.3.0-0", "1.3.0"}},
		{"1.2", []string{"1.2.0", "1.2.9", "1.2.0-alpha"}, []string{"1.1.9", "1.3.0", "1.3.0-alpha"}},
		{"= 1.2", []string{"1.2.5"}, []string{"1.3.0"}},
		{"1", []string{"1.0.0", "1.99.99", "1.0.0-0"}, []string{"0.9.9", "2.0.0", "2.0.0-0"}},
		{"1.2.3", []string{"1.2.3", "1.2.3+build"}, []string{"1.2.4", "1.2.3-rc.1"}},
		{"=1.2.3-rc.1", []string{"1.2.3-rc.1"}, []string{"1.2.3", "1.2.3-rc.2"}},
		{"> 1.2", []string{"1.3.0", "1.3.0-alpha", "2.0.0"}, []string{"1.2.0", "1.2.99", "1.1.0"}},
		{"> 1.2.3", []string{"1.2.4", "1.3.0"}, []string{"1.2.3", "1.2.3-rc.1"}},
		{"<= 1.2", []string{"1.2.99", "1.0.0", "1.2.0-alpha"}, []string{"1.3.0", "1.3.0-alpha"}},
		{"<= 1.2.3", []string{"1.2.3", "1.2.3-rc.1", "0.1.0"}, []string{"1.2.4"}},
		{"< 1.2", []string{"1.1.99"}, []string{"1.2.0", "1.2.0-alpha"}},
		{"< 2.0.0", []string{"1.9.9", "2.0.0-rc.1"}, []string{"2.0.0"}},
		{">= 2", []string{"2.0.0", "2.0.0-alpha", "3.0.0"}, []string{"1.99.99"}},
		{"> 1", []string{"2.0.0"}, []string{"1.99.99"}},
		{" >= 1.0.0 , <= 1.0.0 ", []string{"1.0.0"}, []string{"1.0.1", "0.9.9"}},
		{">= 2, < 1", nil, []string{"1.5.0", "2.5.0", "0.5.0"}},
		{"18446744073709551615", []string{"18446744073709551615.3.4"}, []string{"1.0.0"}},
		{"> 1.18446744073709551615", []string{"2.0.0"}, []string{"1.18446744073709551615.7"}},
		{"<= 1.18446744073709551615", []string{"1.18446744073709551615.7", "0.0.0"}, []string{"2.0.0-0"}},
		{"> 18446744073709551615", nil, []string{"18446744073709551615.7.0"}},
	}
	for _, c := range cases {
		r, err := parseRange(c.rng)
		if err != nil {
			t.Errorf("parseRange(%q): %v", c.rng, err)
			continue
		}
		for _, s := range c.in {
			if !r.contains(mustVersion(t, s)) {
				t.Errorf("%q should contain %s", c.rng, s)
			}
		}
		for _, s := range c.out {
			if r.contains(mustVersion(t, s)) {
				t.Errorf("%q should not contain %s", c.rng, s)
			}
		}
	}
}

func TestRangeErrors(t *testing.T) {
	for _, s := range []string{"", " ", ",", ">=1,", ",<2", ">=1,,<2", ">= 1.x", "~1.2", "^1.2", "1.2.3 - 2",
		"=>1", "==1", "> ", ">=", "1.2-rc.1", "1+b", "v1", "< 1.2.3.4", ">= 1 < 2", "*",
		strings.Repeat(">=1,", 300) + ">=1"} {
		if r, err := parseRange(s); err == nil {
			t.Errorf("parseRange(%q) = %+v, want an error", s, r)
		}
	}
}

// TestRangeAgainstReference checks comparators on partial versions against their
// definition as intervals, over a grid of versions: a naive reference implementation.
func TestRangeAgainstReference(t *testing.T) {
	var grid []version
	for _, s := range []string{"0.0.0", "0.9.9", "1.0.0-0", "1.0.0-rc.1", "1.0.0", "1.1.0", "1.1.0-a",
		"1.1.5", "1.2.0-0", "1.2.0", "1.9.9", "2.0.0-0", "2.0.0-beta", "2.0.0", "2.1.0", "3.0.0"} {
		grid = append(grid, mustVersion(t, s))
	}
	for _, p := range []string{"1", "1.1", "2", "2.0", "0"} {
		v, parts, err := parsePartial(p)
		if err != nil {
			t.Fatal(err)
		}
		// The interval of p: the versions whose first `parts` components are p's.
		inP := func(w version) bool {
			return w.major == v.major && (parts < 2 || w.minor == v.minor)
		}
		below := func(w version) bool { // under every version p prefixes
			lo := v
			lo.pre = []string{"0"}
			return w.compare(lo) < 0
		}
		ref := map[string]func(version) bool{
			"=":  inP,
			">=": func(w version) bool { return !below(w) },
			"<":  below,
			"<=": func(w version) bool { return below(w) || inP(w) },
			">":  func(w version) bool { return !below(w) && !inP(w) },
		}
		for op, want := range ref {
			r, err := parseRange(op + p)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range grid {
				if got := r.contains(w); got != want(w) {
					t.Errorf("%s%s contains %s: %v, reference says %v", op, p, w, got, want(w))
				}
			}
		}
	}
}

// FuzzParseVersion: whatever parses prints back as itself, and compares equal to itself.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.2.3", "1.0.0-alpha.1+b.2", "0.0.0-0", "1.2", "v1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseVersion(s)
		if err != nil {
			return
		}
		if v.String() != s {
			t.Fatalf("parseVersion(%q).String() = %q", s, v.String())
		}
		if v.compare(v) != 0 {
			t.Fatalf("%q does not equal itself", s)
		}
	})
}

// FuzzParseRange: a range either fails to parse or answers for any version without
// panicking; a bare full version contains itself.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{">= 1.2, < 2.0", "1.2.3", "> 1", "<=1.2.3-rc.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRange(s)
		if err != nil {
			return
		}
		for _, v := range []string{"0.0.0", "1.2.3", "1.2.3-rc.1", "2.0.0"} {
			r.contains(mustVersion(t, v))
		}
		if v, err := parseVersion(strings.TrimSpace(s)); err == nil && !r.contains(v) {
			t.Fatalf("%q does not contain itself", s)
		}
	})
}

func mustVersion(t testing.TB, s string) version {
	t.Helper()
	v, err := parseVersion(s)
	if err != nil {
		t.Fatalf("bad test version: %v", err)
	}
	return v
}

func Example_parseRange() {
	r, _ := parseRange(">= 1.2, < 2.0")
	for _, s := range []string{"1.1.9", "1.2.0", "1.9.3", "2.0.0-rc.1", "2.0.0"} {
		v, _ := parseVersion(s)
		fmt.Println(s, r.contains(v))
	}
	// Output:
	// 1.1.9 false
	// 1.2.0 true
	// 1.9.3 true
	// 2.0.0-rc.1 false
	// 2.0.0 false
}
