package keys

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/legion-go/legion/storage"
)

// Key space and tag bytes.
const (
	SpaceMeta      byte = 'm' // store bookkeeping, e.g. the identity record
	SpacePartition byte = 'p'
	SpaceMark      byte = 'i' // the marks (storage.Mark): the index of partitions to wake
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

// MarkPrefix appends the prefix shared by every mark of reason.
func MarkPrefix(dst []byte, reason storage.Reason) []byte {
	return append(dst, SpaceMark, byte(reason))
}

// Mark appends the key of the mark m: its reason's prefix, Due as 8 bytes
// big-endian with the sign bit flipped (bytewise order is numeric order), then
// esc(kind) esc(key).
func Mark(dst []byte, m storage.Mark) []byte {
	dst = MarkPrefix(dst, m.Reason)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.Due)^1<<63)
	return AppendString(AppendString(dst, m.Partition.Kind), m.Partition.Key)
}

// MarkUntil returns the smallest key above every mark of reason due at or
// before until.
func MarkUntil(reason storage.Reason, until int64) []byte {
	if until == math.MaxInt64 {
		return PrefixEnd(MarkPrefix(nil, reason))
	}
	return binary.BigEndian.AppendUint64(MarkPrefix(nil, reason), uint64(until+1)^1<<63)
}

// ParseMark decodes a mark's key.
func ParseMark(key []byte) (storage.Mark, error) {
	if len(key) < 10 || key[0] != SpaceMark {
		return storage.Mark{}, ErrMalformed
	}
	m := storage.Mark{Reason: storage.Reason(key[1]), Due: int64(binary.BigEndian.Uint64(key[2:10]) ^ 1<<63)}
	rest := key[10:]
	kind, n, err := DecodeString(rest)
	if err != nil {
		return storage.Mark{}, err
	}
	k, n2, err := DecodeString(rest[n:])
	if err != nil {
		return storage.Mark{}, err
	}
	if n+n2 != len(rest) {
		return storage.Mark{}, ErrMalformed
	}
	m.Partition = storage.Partition{Kind: kind, Key: k}
	return m, nil
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
