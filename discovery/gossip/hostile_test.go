package gossip_test

import (
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/legion-go/legion/discovery/discoverytest"
	"github.com/legion-go/legion/discovery/gossip"
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

// Limits of the stream guard at its defaults (gossip.DefaultMaxMembers node states, 1 MiB
// of user state), spelled out so the test also reads (and fails) without the guard.
const (
	guardMaxMembers   = 4096
	guardMaxUserState = 1 << 20
)

// labeled prefixes a stream message with memberlist's label header.
func labeled(label string, msg []byte) []byte {
	return append(append([]byte{hasLabelMsg, byte(len(label))}, label...), msg...)
}

// heapGrowth opens conns connections to addr, writes msg on each and keeps them open
// until the member closes them (it refused the message, or its TCPTimeout ended the
// exchange), sampling the heap meanwhile; it returns the largest growth of HeapAlloc
// over the heap before the first connection.
func heapGrowth(t *testing.T, addr string, conns int, msg []byte) (growth uint64) {
	t.Helper()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var wg sync.WaitGroup
	for range conns {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(msg)
			io.Copy(io.Discard, c) // until the member closes the connection
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > base {
			growth = max(growth, ms.HeapAlloc-base)
		}
		select {
		case <-done:
			return growth
		case <-time.After(2 * time.Millisecond): // sampling interval
		}
	}
}

// TestHostileHeadersBoundMemory sends push/pull headers that announce what memberlist
// v0.7.0 accepts (2^20 node states, 20 MiB of user state: it allocates that much for the
// connection before reading any of it, about 110 MB for the node states), the guard's
// limits and one beyond, on many connections at once, to a member without a key and to
// one with a key and a label. The heap never grows by more than 64 MiB, and both members
// still serve: a new member joins each and is seen.
func TestHostileHeadersBoundMemory(t *testing.T) {
	log := discoverytest.NewLog(t)
	a := startGossip(t, testConfig(log.Logger(), nil), discoverytest.NewMember("a"))
	keyed := func(seeds ...string) gossip.Config {
		c := testConfig(log.Logger(), seeds)
		c.SecretKey, c.Label = bytes.Repeat([]byte{7}, 32), "legion-test"
		return c
	}
	k := startGossip(t, keyed(), discoverytest.NewMember("k"))

	const bound = 64 << 20
	header := func(nodes, user int64) []byte { return append([]byte{pushPullMsg}, pushPullHeader(nodes, user)...) }
	for _, p := range []struct {
		name  string
		conns int
		msg   []byte
	}{
		{"2^20 nodes", 4, header(1<<20, 0)},
		{"20 MiB of user state", 4, header(0, 20<<20)},
		{"compressed, 2^20 nodes", 4, compressed(header(1<<20, 0))},
		{"the node limit", 200, header(guardMaxMembers, 0)},
		{"the user state limit", 200, header(0, guardMaxUserState)},
		{"both limits, compressed", 200, compressed(header(guardMaxMembers, guardMaxUserState))},
		{"one node beyond", 200, header(guardMaxMembers+1, 0)},
		{"one user state byte beyond", 200, header(0, guardMaxUserState+1)},
	} {
		for _, n := range []struct {
			node *gossipNode
			msg  []byte
		}{{a, p.msg}, {k, labeled("legion-test", p.msg)}} {
			g := heapGrowth(t, n.node.Addr(), p.conns, n.msg)
			t.Logf("%s, %d connections to %s: heap grew by %.1f MiB", p.name, p.conns, n.node.self.ID(), float64(g)/(1<<20))
			if g > bound {
				t.Errorf("%s, %d connections to %s: heap grew by %.1f MiB, want at most %d MiB",
					p.name, p.conns, n.node.self.ID(), float64(g)/(1<<20), bound>>20)
			}
		}
	}

	b := startGossip(t, testConfig(log.Logger(), []string{a.Addr()}), discoverytest.NewMember("b"))
	waitView(t, b, a.self, b.self)
	waitView(t, a, a.self, b.self)
	c := startGossip(t, keyed(k.Addr()), discoverytest.NewMember("c"))
	waitView(t, c, k.self, c.self)
	waitView(t, k, k.self, c.self)
}
