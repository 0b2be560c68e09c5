// Package wire holds the protobuf messages Legion nodes exchange, and their conversion
// to and from the lattice's types.
package wire

//go:generate ./gen.sh
