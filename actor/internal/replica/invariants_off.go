//go:build !invariants

package replica

const invariants = false
