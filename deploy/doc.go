// Package deploy holds the deployment files of Legion's examples and the tests that keep
// them true: the Kubernetes manifests under kubernetes/ (a StatefulSet with gossip, and
// one with Consul), the Compose files (../compose.yaml and compose/), the image
// (../Dockerfile), and secrets.sh, which issues the certificates, the gossip key and the
// Consul token they mount (docs/operations.md, "Security").
//
// It is a module of its own so that the Kubernetes API types its tests decode the
// manifests with (k8s.io/api) stay out of the framework's dependency graph (decision
// 0008). Its tests build the example binary with the Dockerfile's own build line, check
// every manifest's invariants against the flags that binary defines, and start three
// nodes with the StatefulSet's command, arguments and environment, names and DNS
// replaced by loopback addresses and its Secrets by certificates and a key the test
// makes. Run them with
//
//	cd deploy && go test ./...
package deploy
