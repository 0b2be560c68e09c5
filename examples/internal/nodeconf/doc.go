// Package nodeconf is the node configuration of Legion's example binaries, and a
// pattern for an application's own: one flag per setting, each also settable by an
// environment variable (a flag on the command line wins), a remoting and a gossip
// address to advertise apart from the ones bound (a container binds its pod IP or
// 0.0.0.0 and is reached at its DNS name or pod IP), an HTTP server with read, write and
// idle timeouts and a cap on the connections it serves at once, and the health paths an
// orchestrator probes.
//
// In a program:
//
//	var n nodeconf.Node
//	fs := flag.NewFlagSet("node", flag.ContinueOnError)
//	n.Register(fs)
//	fs.Parse(os.Args[1:])
//	err := nodeconf.FromEnv(fs, "COUNTER", os.LookupEnv) // COUNTER_NAME, COUNTER_GOSSIP_ADVERTISE, ...
//
// docs/operations.md shows the settings a Kubernetes StatefulSet and a Compose file give.
package nodeconf
