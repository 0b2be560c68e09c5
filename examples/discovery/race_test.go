//go:build race

package main

// raceEnabled: the tests run with the race detector, and build the binary with it too.
const raceEnabled = true
