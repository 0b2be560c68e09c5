package gossip

import (
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"io"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// fuzzLimits are small limits, so that the fuzzer reaches them.
var fuzzLimits = streamLimits{nodes: 16, userBytes: 64, bytes: 4096}

// memberlistHeaders decodes stream as memberlist v0.7.0's handleConn and readStream do
// (with codec, as memberlist does), and returns the push/pull or user message header it
// would act on, if any.
func memberlistHeaders(t *testing.T, l streamLimits, stream []byte) {
	if len(stream) > 0 && stream[0] == msgLabel {
		if len(stream) < 2 || len(stream) < 2+int(stream[1]) {
			return
		}
		stream = stream[2+int(stream[1]):]
	}
	if len(stream) == 0 {
		return
	}
	t.Helper()
	typ, r := stream[0], io.Reader(bytes.NewReader(stream[1:]))
	hd := codec.MsgpackHandle{}
	dec := codec.NewDecoder(r, &hd)
	switch typ {
	case msgEncrypt:
		if len(stream) >= 5 && int64(binary.BigEndian.Uint32(stream[1:5])) > int64(l.bytes) {
			t.Fatalf("accepted an encrypted message of %d bytes", binary.BigEndian.Uint32(stream[1:5]))
		}
		return
	case msgCompress:
		var c struct {
			Algo uint8
			Buf  []byte
		}
		if dec.Decode(&c) != nil || c.Algo != 0 {
			return
		}
		var b bytes.Buffer
		n, err := io.CopyN(&b, lzw.NewReader(bytes.NewReader(c.Buf), lzw.LSB, 8), int64(l.bytes)+1)
		if err != nil && err != io.EOF {
			return
		}
		if n > int64(l.bytes) {
			t.Fatalf("accepted a message inflating to more than %d bytes", l.bytes)
		}
		if b.Len() == 0 {
			return
		}
		typ, dec = b.Bytes()[0], codec.NewDecoder(bytes.NewReader(b.Bytes()[1:]), &hd)
	}
	switch typ {
	case msgPushPull:
		var h struct {
			Nodes        int
			UserStateLen int
			Join         bool
		}
		if dec.Decode(&h) == nil && (h.Nodes < 0 || h.Nodes > l.nodes || h.UserStateLen < 0 || h.UserStateLen > l.userBytes) {
			t.Fatalf("accepted a push/pull header %+v", h)
		}
	case msgUser:
		var h struct{ UserMsgLen int }
		if dec.Decode(&h) == nil && (h.UserMsgLen < 0 || h.UserMsgLen > l.userBytes) {
			t.Fatalf("accepted a user message header %+v", h)
		}
	}
}

// FuzzStreamHeader: whatever the guard lets through, memberlist decodes into a header
// within the limits (or fails to decode), and memberlist then reads the stream the
// guard was given, byte for byte, up to the stream limit.
func FuzzStreamHeader(f *testing.F) {
	header := func(nodes, user int64) []byte {
		b := append([]byte{msgPushPull, 0x83, 0xa5}, "Nodes"...)
		b = binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(nodes))
		b = append(append(b, 0xac), "UserStateLen"...)
		b = binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(user))
		return append(append(append(b, 0xa4), "Join"...), 0xc2)
	}
	compress := func(msg []byte) []byte {
		var z bytes.Buffer
		w := lzw.NewWriter(&z, lzw.LSB, 8)
		w.Write(msg)
		w.Close()
		b := append([]byte{msgCompress, 0x82, 0xa4}, "Algo"...)
		b = append(append(append(b, 0x00, 0xa3), "Buf"...), 0xc6)
		b = binary.BigEndian.AppendUint32(b, uint32(z.Len()))
		return append(b, z.Bytes()...)
	}
	user := append([]byte{msgUser, 0x81, 0xaa}, "UserMsgLen"...)
	for _, s := range [][]byte{
		header(3, 0), header(16, 64), header(17, 0), header(0, 65), header(-1, 0),
		compress(header(2, 10)), compress(header(1<<20, 0)), compress(nil),
		append([]byte{msgLabel, 4}, append([]byte("test"), header(1, 0)...)...),
		append(user, 0x10), append(user, 0xcd, 0xff, 0xff),
		{msgEncrypt, 0, 0, 0x10, 0}, {msgEncrypt, 0, 0, 0x20, 0}, {0, 0x81, 0xa4, 'N', 'o', 'd', 'e', 0xa1, 'x'}, {},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		if fuzzLimits.check(bytes.NewReader(stream)) != nil {
			return
		}
		memberlistHeaders(t, fuzzLimits, stream)
		r, err := fuzzLimits.guard(bytes.NewReader(stream))
		if err != nil {
			t.Fatalf("check accepted, guard refused: %v", err)
		}
		got, _ := io.ReadAll(r)
		if want := stream[:min(len(stream), fuzzLimits.bytes)]; !bytes.Equal(got, want) {
			t.Fatalf("replayed %x, want %x", got, want)
		}
	})
}
