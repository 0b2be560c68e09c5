package discovery

import (
	"fmt"
	"strings"
)

// Keys of the flat metadata map made by [EncodeMeta]. Providers may add keys
// of their own that do not start with MetaKeyPrefix and are not MetaKinds;
// [DecodeMeta] ignores them.
const (
	// MetaKinds holds the member's kinds: each kind with "%" and "," escaped
	// as "%25" and "%2C", joined by ",".
	MetaKinds = "kinds"
	// MetaKeyPrefix starts the key of each entry of Member.Meta. The rest of
	// the key is the original key with every byte outside [A-Za-z0-9-]
	// written as "_" and two upper-case hex digits. The value is kept as is.
	MetaKeyPrefix = "m-"
)

// EncodeMeta flattens kinds and meta into a string map whose keys use only
// ASCII letters, digits, '-' and '_' (what Consul service metadata allows).
// Any kind, key and value round-trips through [DecodeMeta]. Empty kinds or
// meta keys are rejected with [ErrInvalidMember]. The map is non-nil.
func EncodeMeta(kinds []string, meta map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(meta)+1)
	if len(kinds) > 0 {
		esc := make([]string, len(kinds))
		for i, k := range kinds {
			if k == "" {
				return nil, fmt.Errorf("%w: empty kind", ErrInvalidMember)
			}
			esc[i] = kindEscaper.Replace(k)
		}
		out[MetaKinds] = strings.Join(esc, ",")
	}
	for k, v := range meta {
		if k == "" {
			return nil, fmt.Errorf("%w: empty meta key", ErrInvalidMember)
		}
		out[MetaKeyPrefix+escapeKey(k)] = v
	}
	return out, nil
}

// DecodeMeta reverses [EncodeMeta]. Keys it does not know are ignored. Empty
// results are nil. A malformed entry is reported with [ErrBadMeta].
func DecodeMeta(flat map[string]string) (kinds []string, meta map[string]string, err error) {
	if s, ok := flat[MetaKinds]; ok && s != "" {
		for _, e := range strings.Split(s, ",") {
			k, err := unescapeKind(e)
			if err != nil {
				return nil, nil, err
			}
			kinds = append(kinds, k)
		}
	}
	for fk, v := range flat {
		ek, ok := strings.CutPrefix(fk, MetaKeyPrefix)
		if !ok {
			continue
		}
		k, err := unescapeKey(ek)
		if err != nil {
			return nil, nil, err
		}
		if meta == nil {
			meta = make(map[string]string)
		}
		meta[k] = v
	}
	return kinds, meta, nil
}

var kindEscaper = strings.NewReplacer("%", "%25", ",", "%2C")

func unescapeKind(e string) (string, error) {
	if e == "" {
		return "", fmt.Errorf("%w: empty kind", ErrBadMeta)
	}
	var b strings.Builder
	for i := 0; i < len(e); i++ {
		if e[i] != '%' {
			b.WriteByte(e[i])
			continue
		}
		switch {
		case strings.HasPrefix(e[i:], "%25"):
			b.WriteByte('%')
		case strings.HasPrefix(e[i:], "%2C"):
			b.WriteByte(',')
		default:
			return "", fmt.Errorf("%w: bad escape in kind %q", ErrBadMeta, e)
		}
		i += 2
	}
	return b.String(), nil
}

const hexDigits = "0123456789ABCDEF"

func keySafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

func escapeKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if keySafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func unescapeKey(e string) (string, error) {
	if e == "" {
		return "", fmt.Errorf("%w: empty meta key", ErrBadMeta)
	}
	var b strings.Builder
	for i := 0; i < len(e); i++ {
		c := e[i]
		if keySafe(c) {
			b.WriteByte(c)
			continue
		}
		if c != '_' || i+2 >= len(e) {
			return "", fmt.Errorf("%w: bad meta key %q", ErrBadMeta, e)
		}
		hi, lo := strings.IndexByte(hexDigits, e[i+1]), strings.IndexByte(hexDigits, e[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: bad meta key %q", ErrBadMeta, e)
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), nil
}
