package keys

import (
	"errors"

	"github.com/legion-go/legion/storage"
)

// Key space and tag bytes.
const (
	SpaceMeta      byte = 'm' // store bookkeeping, e.g. the identity record
	SpacePartition byte = 'p'
	TagSnapshot    byte = 0x01
	TagDelta       byte = 0x02

	escape     byte = 0x00
	escaped00  byte = 0xFF
	terminator byte = 0x01
)

// ErrMalformed: a key does not follow the layout.
var ErrMalformed = errors.New("malformed key")

// AppendString appends esc(s) to dst.
func AppendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == escape {
			dst = append(dst, escape, escaped00)
		} else {
			dst = append(dst, s[i])
		}
	}
	return append(dst, escape, terminator)
}

// DecodeString decodes the esc(s) that starts b, returning s and the number of
// bytes it took.
func DecodeString(b []byte) (s string, n int, err error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != escape {
			out = append(out, b[i])
			continue
		}
		if i+1 == len(b) {
			return "", 0, ErrMalformed
		}
		switch b[i+1] {
		case terminator:
			return string(out), i + 2, nil
		case escaped00:
			out = append(out, escape)
			i++
		default:
			return "", 0, ErrMalformed
		}
	}
	return "", 0, ErrMalformed
}

// Meta returns the key of the bookkeeping record name, outside every
// partition's range.
func Meta(name string) []byte {
	return append([]byte{SpaceMeta}, name...)
}

// KindPrefix appends the prefix shared by every key of every partition of
// kind.
func KindPrefix(dst []byte, kind string) []byte {
	return AppendString(append(dst, SpacePartition), kind)
}

// PartitionPrefix appends the prefix shared by every key of p, and by no key
// of another partition.
func PartitionPrefix(dst []byte, p storage.Partition) []byte {
	return AppendString(KindPrefix(dst, p.Kind), p.Key)
}

// Snapshot appends the key of p's snapshot.
func Snapshot(dst []byte, p storage.Partition) []byte {
	return append(PartitionPrefix(dst, p), TagSnapshot)
}

// Delta appends the key of p's delta id.
func Delta(dst []byte, p storage.Partition, id []byte) []byte {
	return append(append(PartitionPrefix(dst, p), TagDelta), id...)
}

// PrefixEnd returns the smallest key greater than every key starting with
// prefix (nil when there is none: prefix is all 0xFF). The result is a new
// slice.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Parsed is a decoded partition key.
type Parsed struct {
	Partition storage.Partition
	Tag       byte   // TagSnapshot or TagDelta
	ID        []byte // the delta id (aliases the key); nil for a snapshot
}

// Parse decodes a partition key.
func Parse(key []byte) (Parsed, error) {
	if len(key) == 0 || key[0] != SpacePartition {
		return Parsed{}, ErrMalformed
	}
	rest := key[1:]
	kind, n, err := DecodeString(rest)
	if err != nil {
		return Parsed{}, err
	}
	rest = rest[n:]
	k, n, err := DecodeString(rest)
	if err != nil {
		return Parsed{}, err
	}
	rest = rest[n:]
	p := Parsed{Partition: storage.Partition{Kind: kind, Key: k}}
	switch {
	case len(rest) == 1 && rest[0] == TagSnapshot:
		p.Tag = TagSnapshot
	case len(rest) >= 1 && rest[0] == TagDelta:
		p.Tag, p.ID = TagDelta, rest[1:]
	default:
		return Parsed{}, ErrMalformed
	}
	return p, nil
}
