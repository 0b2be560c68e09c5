package consultest

import (
	"fmt"
	"net"
	"strconv"
)

// freePort returns a port of 127.0.0.1 that is free for TCP, and also for
// UDP if udp is true (Serf listens on both). Another process may still take
// it before the agent binds it; that is rare on a test machine.
func freePort(udp bool) (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !udp {
			l.Close()
			return port, nil
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("consultest: no free port found")
}
