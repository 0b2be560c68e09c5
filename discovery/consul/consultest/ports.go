package consultest

import (
	"fmt"
	"net"
	"strconv"
	"sync"
)

// handedOut is the ports freePort returned: never twice in one process. (The five ports
// of one agent were picked one after another, each listener closed before the next, and
// the kernel can give the next the same port again: an agent once refused to start with
// its Serf LAN port equal to its HTTP port, "already configured for HTTP".)
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freePort returns a port of 127.0.0.1 that is free for TCP, and also for
// UDP if udp is true (Serf listens on both), and that it has not returned
// before. Another process may still take it before the agent binds it; that
// is rare on a test machine.
func freePort(udp bool) (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if handedOut.ports[port] {
			l.Close()
			continue
		}
		if !udp {
			l.Close()
			handedOut.ports[port] = true
			return port, nil
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			pc.Close()
			handedOut.ports[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("consultest: no free port found")
}
