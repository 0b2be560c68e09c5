// Package registrypb holds the protobuf messages of the discovery example's partitions:
// states, events and outputs of the kinds "service" and "index". registry.pb.go is
// generated from registry.proto by gen.sh.
package registrypb

//go:generate ./gen.sh
