// Package memory is an in-process membership provider, for tests and for
// clusters whose nodes all live in one process.
//
// A [Registry] is the shared membership of one process; each node gets its
// own provider from [Registry.Provider]. Starting a provider adds its member
// to the registry and every started provider receives the new view at once;
// stopping it removes the member (a graceful leave). [Registry.Kill] makes a
// member vanish without leaving, as a crash would: the others see it gone,
// and the killed provider itself receives no further views.
//
// The provider starts no goroutines: views are published synchronously, under
// the registry's lock, into each provider's latest-wins [discovery.Feed].
package memory
