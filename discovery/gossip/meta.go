package gossip

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"

	"github.com/legion-go/legion/discovery"
)

// metaVersion is the first byte of the node meta; a node with another
// version is skipped.
const metaVersion = 1

// encodeMeta packs what the node name does not carry (Name, Address, and the
// flat map of [discovery.EncodeMeta]) as length-prefixed strings:
//
//	version name address count (key value)*count
//
// where every string and the count are uvarint-prefixed and keys are sorted.
func encodeMeta(m discovery.Member) ([]byte, error) {
	flat, err := discovery.EncodeMeta(m.Kinds, m.Meta)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := []byte{metaVersion}
	b = appendString(b, m.Name)
	b = appendString(b, m.Address)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, flat[k])
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: gossip: node meta is %d bytes, memberlist allows %d (shorten Kinds or Meta)",
			discovery.ErrMetaTooLarge, len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decodeMember rebuilds the member of a memberlist node.
func decodeMember(name string, meta []byte) (discovery.Member, error) {
	var m discovery.Member
	var ok bool
	if m.Peer, m.Instance, ok = discovery.SplitID(name); !ok {
		return m, fmt.Errorf("%w: gossip: node name %q is not peer/instance", discovery.ErrBadMeta, name)
	}
	r := metaReader{b: meta}
	if v := r.byte(); v != metaVersion {
		return m, fmt.Errorf("%w: gossip: node %q: meta version %d", discovery.ErrBadMeta, name, v)
	}
	m.Name, m.Address = r.string(), r.string()
	n := r.uvarint()
	if n > uint64(len(meta)) {
		r.err = true
	}
	flat := make(map[string]string, min(n, 64))
	for i := uint64(0); i < n && !r.err; i++ {
		k := r.string()
		flat[k] = r.string()
	}
	if r.err || len(r.b) != 0 {
		return m, fmt.Errorf("%w: gossip: node %q: truncated or trailing meta", discovery.ErrBadMeta, name)
	}
	var err error
	if m.Kinds, m.Meta, err = discovery.DecodeMeta(flat); err != nil {
		return m, err
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("%w: gossip: node %q: %v", discovery.ErrBadMeta, name, err)
	}
	return m, nil
}

// metaReader reads the encoding of encodeMeta; err sticks after the first
// short read.
type metaReader struct {
	b   []byte
	err bool
}

func (r *metaReader) byte() byte {
	if r.err || len(r.b) == 0 {
		r.err = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *metaReader) uvarint() uint64 {
	if r.err {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *metaReader) string() string {
	n := r.uvarint()
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
