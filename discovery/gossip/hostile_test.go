package gossip_test

import (
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery/discoverytest"
)

// memberlist's message types (net.go) and what a push/pull header holds.
const (
	pushPullMsg = 6
	compressMsg = 9
	encryptMsg  = 10
	hasLabelMsg = 244
)

// msgpackInt appends v as a msgpack int64.
func msgpackInt(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

// pushPullHeader is memberlist's push/pull header, msgpack-encoded as memberlist does (a
// map of its field names), announcing nodes node states and userState bytes.
func pushPullHeader(nodes, userState int64) []byte {
	b := append([]byte{0x83, 0xa5}, "Nodes"...)
	b = msgpackInt(b, nodes)
	b = append(append(b, 0xac), "UserStateLen"...)
	b = msgpackInt(b, userState)
	return append(append(append(b, 0xa4), "Join"...), 0xc2)
}

// compressed wraps a stream message in memberlist's compress envelope (LZW).
func compressed(msg []byte) []byte {
	var z bytes.Buffer
	w := lzw.NewWriter(&z, lzw.LSB, 8)
	w.Write(msg)
	w.Close()
	b := append([]byte{compressMsg, 0x82, 0xa4}, "Algo"...)
	b = append(append(append(b, 0x00, 0xa3), "Buf"...), 0xc6)
	b = binary.BigEndian.AppendUint32(b, uint32(z.Len()))
	return append(b, z.Bytes()...)
}

// hostileStreams are TCP messages that killed a memberlist v0.5.4 node or made it
// allocate what the sender asked (issue #18).
func hostileStreams() map[string][]byte {
	header := func(nodes, user int64) []byte { return append([]byte{pushPullMsg}, pushPullHeader(nodes, user)...) }
	bin32 := func(n uint32) []byte { return binary.BigEndian.AppendUint32([]byte{0xc6}, n) }
	return map[string][]byte{
		"push/pull with -1 nodes":        header(-1, 0),
		"push/pull with 2^40 nodes":      header(1<<40, 0),
		"push/pull with 2^62 nodes":      header(1<<62, 0),
		"push/pull with 2^40 user bytes": header(0, 1<<40),
		"push/pull with -1 user bytes":   header(0, -1),
		"compressed, -1 nodes":           compressed(header(-1, 0)),
		"compressed, nothing inside":     compressed(nil),
		"compressed, 4 GiB buffer":       append(append([]byte{compressMsg, 0x82, 0xa4}, "Algo"...), append([]byte{0, 0xa3, 'B', 'u', 'f'}, bin32(1<<32-1)...)...),
		"node state with a 4 GiB name": append(header(1, 0),
			append(append([]byte{0x81, 0xa4}, "Name"...), append([]byte{0xdb}, binary.BigEndian.AppendUint32(nil, 1<<32-1)...)...)...),
		"encrypted, unconfigured": {encryptMsg, 0, 0, 0, 1},
		"label 255 bytes, cut":    {hasLabelMsg, 255, 'x'},
		"empty":                   {},
	}
}

// sendStream writes msg to the member's TCP port and waits until the member closes the
// connection (it read and refused the message) or the deadline passes.
func sendStream(t *testing.T, addr string, msg []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Logf("write: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
}

// TestHostileGossip sends the push/pull frames that killed a node (issue #18: a negative
// node count panicked in makeslice, 2^40 was a fatal out-of-memory in memberlist v0.5.4)
// and other hostile TCP and UDP messages to a live member; it still serves: a new member
// joins through it, and the member that was there all along still sees it.
func TestHostileGossip(t *testing.T) {
	log := discoverytest.NewLog(t)
	a := startGossip(t, testConfig(log.Logger(), nil), discoverytest.NewMember("a"))
	b := startGossip(t, testConfig(log.Logger(), []string{a.Addr()}), discoverytest.NewMember("b"))
	waitView(t, a, a.self, b.self)

	for name, msg := range hostileStreams() {
		t.Logf("sending %s (%d bytes)", name, len(msg))
		sendStream(t, a.Addr(), msg)
	}
	rng := rand.New(rand.NewPCG(18, 2))
	junk := func() []byte {
		b := make([]byte, 1+rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		b[0] = []byte{pushPullMsg, compressMsg, encryptMsg, hasLabelMsg, 0, 1, 2, 3, 4, 5, 7, 8, 11, 12}[rng.IntN(14)]
		return b
	}
	for range 50 {
		sendStream(t, a.Addr(), junk())
	}
	udp, err := net.Dial("udp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, msg := range hostileStreams() {
		udp.Write(msg)
	}
	for range 200 {
		udp.Write(junk())
	}

	c := startGossip(t, testConfig(log.Logger(), []string{a.Addr()}), discoverytest.NewMember("c"))
	waitView(t, c, a.self, b.self, c.self)
	waitView(t, a, a.self, b.self, c.self)
	waitView(t, b, a.self, b.self, c.self)
}
