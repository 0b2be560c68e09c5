// Command legion is the operator's client of a Legion node's admin API (package
// actor/admin): it reads the node's view of the cluster and ejects dead peers.
//
//	legion status     [-addr A[,B...]] [-json]           health, counters and rates of each node
//	legion members    [-addr A[,B...]] [-json]           the cluster view: members, addresses, tombstones
//	legion partitions [-addr A] [-json] [-kind K] [-stalled] [-limit N] [-after kind/key] [-all]
//	legion stalls     [-addr A[,B...]] [-json] [-limit N] stalled partitions and the peers they wait for
//	legion eject      [-addr A[,B...]] -confirm PEER PEER  eject a dead peer now, on each node given
//	legion watch      [-addr A[,B...]] [-interval 2s]      status and stalls, redrawn until interrupted
//
// -addr is host:port (or a URL) of an admin API; default 127.0.0.1:9090, the address
// admin.Listen binds by default (the examples' nodes bind a free port and publish it in
// membership: 'legion members' lists every member's under ADMIN). Several, comma-separated, ask each node in turn. Output
// is human-readable tables; -json prints the API's JSON as it came. The exit status is 0
// on success, 1 when a node answered an error or could not be reached, 2 for bad usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
