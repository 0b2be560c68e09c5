package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxVersionBytes and maxRangeBytes bound what the parsers accept.
const (
	maxVersionBytes = 128
	maxRangeBytes   = 1024
)

// version is a semantic version (https://semver.org, 2.0.0): MAJOR.MINOR.PATCH with an
// optional pre-release ("-rc.1") and optional build metadata ("+linux"), which precedence
// ignores.
type version struct {
	major, minor, patch uint64
	pre                 []string // pre-release identifiers; nil for a release
	build               string   // without the '+'
}

// parseVersion parses a full semantic version, strictly: three numeric components without
// leading zeros, no "v" prefix, no spaces.
func parseVersion(s string) (version, error) {
	v, parts, err := parsePartial(s)
	if err != nil {
		return version{}, err
	}
	if parts != 3 {
		return version{}, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", s)
	}
	return v, nil
}

// parsePartial parses a version of which MINOR and PATCH may be missing ("1", "1.2",
// "1.2.3"); only a full one may have a pre-release or build metadata. It returns how many
// numeric components there were.
func parsePartial(s string) (version, int, error) {
	bad := func(why string) (version, int, error) {
		return version{}, 0, fmt.Errorf("version %q: %s", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if len(s) > maxVersionBytes {
		return bad(fmt.Sprintf("longer than %d bytes", maxVersionBytes))
	}
	var v version
	rest := s
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		rest, v.build = rest[:i], rest[i+1:]
		if err := checkIdentifiers(v.build, false); err != nil {
			return bad("build metadata: " + err.Error())
		}
	}
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		var pre string
		rest, pre = rest[:i], rest[i+1:]
		if err := checkIdentifiers(pre, true); err != nil {
			return bad("pre-release: " + err.Error())
		}
		v.pre = strings.Split(pre, ".")
	}
	nums := strings.Split(rest, ".")
	if len(nums) > 3 {
		return bad("more than three numeric components")
	}
	fields := []*uint64{&v.major, &v.minor, &v.patch}
	for i, n := range nums {
		x, err := parseNumeric(n)
		if err != nil {
			return bad(err.Error())
		}
		*fields[i] = x
	}
	if len(nums) < 3 && (v.pre != nil || v.build != "") {
		return bad("a pre-release or build metadata needs MAJOR.MINOR.PATCH")
	}
	return v, len(nums), nil
}

// parseNumeric parses a numeric component or identifier: digits, no leading zero.
func parseNumeric(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty numeric component")
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", s)
	}
	x, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return x, nil
}

// checkIdentifiers checks dot-separated identifiers: non-empty, [0-9A-Za-z-]; for a
// pre-release, numeric ones without leading zeros.
func checkIdentifiers(s string, pre bool) error {
	for id := range strings.SplitSeq(s, ".") {
		if id == "" {
			return errors.New("empty identifier")
		}
		numeric := true
		for _, c := range []byte(id) {
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				numeric = false
			default:
				return fmt.Errorf("identifier %q: only [0-9A-Za-z-]", id)
			}
		}
		if pre && numeric && len(id) > 1 && id[0] == '0' {
			return fmt.Errorf("identifier %q has a leading zero", id)
		}
	}
	return nil
}

// String formats the version as parseVersion reads it.
func (v version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
	if v.pre != nil {
		s += "-" + strings.Join(v.pre, ".")
	}
	if v.build != "" {
		s += "+" + v.build
	}
	return s
}

// compare orders versions by semver precedence: -1, 0 or +1. Build metadata is ignored.
func (v version) compare(w version) int {
	for _, c := range [][2]uint64{{v.major, w.major}, {v.minor, w.minor}, {v.patch, w.patch}} {
		if c[0] != c[1] {
			return cmpUint(c[0], c[1])
		}
	}
	switch {
	case v.pre == nil && w.pre == nil:
		return 0
	case v.pre == nil:
		return 1 // a release is above its pre-releases
	case w.pre == nil:
		return -1
	}
	for i := 0; i < len(v.pre) && i < len(w.pre); i++ {
		if c := comparePre(v.pre[i], w.pre[i]); c != 0 {
			return c
		}
	}
	return cmpUint(uint64(len(v.pre)), uint64(len(w.pre)))
}

// comparePre orders two pre-release identifiers: numeric ones numerically and below
// alphanumeric ones, which compare in ASCII order.
func comparePre(a, b string) int {
	na, ea := strconv.ParseUint(a, 10, 64)
	nb, eb := strconv.ParseUint(b, 10, 64)
	switch {
	case ea == nil && eb == nil:
		return cmpUint(na, nb)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// versionRange is a conjunction of comparators: a version satisfies it when it satisfies
// every one.
type versionRange []comparator

// comparator is one condition of a range, as an interval of versions [lo, hi): hi nil
// means no upper bound, and a bound is inclusive or not as the operator says.
type comparator struct {
	op     string // ">", ">=", "<", "<=" or "="
	lo, hi version
	// unbounded: hi does not exist (the partial version's last component is the maximum).
	unbounded bool
	exact     bool // a full version: the interval is the single point lo
}

// parseRange parses a range: comparators separated by commas, all of which must hold.
// A comparator is an optional operator (>, >=, <, <=, =; none means =) and a version,
// with optional spaces between. A full version is that version; a partial one ("1",
// "1.2") stands for every version it prefixes, pre-releases included: "= 1.2" (or "1.2")
// is 1.2.0-0 <= v < 1.3.0-0, "> 1.2" is v >= 1.3.0-0, "<= 1.2" is v < 1.3.0-0, "< 1.2"
// is v < 1.2.0-0 and ">= 1.2" is v >= 1.2.0-0. Full versions compare by semver
// precedence, so "< 2.0.0" holds for 2.0.0-rc.1.
func parseRange(s string) (versionRange, error) {
	if len(s) > maxRangeBytes {
		return nil, fmt.Errorf("range longer than %d bytes", maxRangeBytes)
	}
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty range")
	}
	var r versionRange
	for part := range strings.SplitSeq(s, ",") {
		c, err := parseComparator(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("range %q: %w", s, err)
		}
		r = append(r, c)
	}
	return r, nil
}

func parseComparator(s string) (comparator, error) {
	if s == "" {
		return comparator{}, errors.New("empty comparator (two commas in a row, or a comma at an end)")
	}
	c := comparator{op: "="}
	for _, op := range []string{">=", "<=", ">", "<", "="} {
		if rest, ok := strings.CutPrefix(s, op); ok {
			c.op, s = op, strings.TrimSpace(rest)
			break
		}
	}
	v, parts, err := parsePartial(s)
	if err != nil {
		return comparator{}, err
	}
	c.lo, c.exact = v, parts == 3
	if c.exact {
		return c, nil
	}
	// The interval of a partial version: [lo-0, next-0).
	c.lo.pre = []string{"0"}
	c.hi = version{major: v.major, minor: v.minor, pre: []string{"0"}}
	if parts == 2 && v.minor < math.MaxUint64 {
		c.hi.minor++
		return c, nil
	}
	// The next major version (a minor version past the maximum carries into it).
	c.unbounded = v.major == math.MaxUint64
	c.hi.major, c.hi.minor = v.major+1, 0
	return c, nil
}

// contains reports whether v satisfies every comparator of the range.
func (r versionRange) contains(v version) bool {
	for _, c := range r {
		if !c.contains(v) {
			return false
		}
	}
	return true
}

func (c comparator) contains(v version) bool {
	lo := v.compare(c.lo)
	if c.exact {
		switch c.op {
		case ">":
			return lo > 0
		case ">=":
			return lo >= 0
		case "<":
			return lo < 0
		case "<=":
			return lo <= 0
		}
		return lo == 0
	}
	belowHi := c.unbounded || v.compare(c.hi) < 0
	switch c.op {
	case ">":
		return !belowHi
	case ">=":
		return lo >= 0
	case "<":
		return lo < 0
	case "<=":
		return belowHi
	}
	return lo >= 0 && belowHi
}
