package discovery

import "context"

// Provider tells a node which members are alive.
//
// Concurrency contract: Start is called once; Views may be called from any
// goroutine; Stop may be called concurrently with anything and more than once;
// it returns after every goroutine the provider started has exited.
type Provider interface {
	// Start registers self and begins watching. It returns once the watch
	// runs; it must not fail merely because the backend (Consul agent, seeds)
	// is unreachable right now: it keeps retrying with capped exponential
	// backoff and jitter in the background. It fails only on invalid
	// configuration or ctx cancellation. ctx bounds Start itself, not the
	// lifetime of the watch: that lasts until Stop.
	Start(ctx context.Context, self Member) error
	// Views delivers every new view (latest-wins: a slow reader sees the
	// newest view, never a stale one after a newer one; the channel is closed
	// after Stop). The first view is sent as soon as one is known. Every call
	// returns the same channel.
	Views() <-chan View
	// Stop leaves gracefully (deregister / leave message), stops every
	// goroutine, closes Views. ctx bounds the graceful part: if it ends first,
	// the leave is cut short and Stop returns an error wrapping ctx's; a
	// backend that cannot be told is logged, not returned (the others then
	// detect a failure instead). Either way Stop returns only after the
	// provider's goroutines exited, which does not wait on the backend.
	// Concurrent and later calls wait for the first one (or their own ctx).
	Stop(ctx context.Context) error
}
