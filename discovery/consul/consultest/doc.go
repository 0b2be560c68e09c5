// Package consultest provides a real Consul agent for tests.
//
// [Binary] finds or builds Consul v1.14.11 (MPL-2.0) and caches it:
//
//   - $LEGION_CONSUL_BIN, if set, is used as is;
//   - otherwise the binary lives at $LEGION_CACHE/consul-v1.14.11/consul, or
//     at os.UserCacheDir()/legion/consul-v1.14.11/consul when LEGION_CACHE is
//     unset;
//   - if it is missing, it is built from the Go module proxy in a throw-away
//     wrapper module (go mod init w; go get github.com/hashicorp/consul@v1.14.11;
//     go build), about 3 minutes cold on 2 cores. A file lock (flock) makes
//     parallel test binaries build it once; the binary is written to a
//     temporary name and renamed into place.
//
// CI should build it once before running the tests:
//
//	go run ./discovery/consul/consultest/cmd/consul-build
//
// prints the binary's path after building it if needed.
//
// [StartAgent] runs "consul agent -dev" bound to 127.0.0.1 on free ports with
// a temporary data dir, waits until it has a leader and its node is healthy,
// and stops it when the test ends. The agent can be stopped, started again
// and restarted on the same ports (dev mode keeps no state across restarts,
// so registrations are forgotten, as after a real agent crash). Options
// configure it further: [WithACL] turns ACLs on (default policy deny, a given
// initial management token, which the readiness check then sends);
// [WithTLS] opens an HTTPS API on a free loopback port ([Agent.HTTPSAddr])
// with given CA, certificate and key files, optionally verifying clients;
// [WithConfig] adds any other agent configuration in HCL. Each becomes a file
// passed with -config-file; the command-line flags (ports, addresses) win
// over them.
//
// When no binary can be had (no go command, no network), tests that need one
// are skipped, except when the environment variable CI is "true": then they
// fail, because CI must run them.
package consultest
