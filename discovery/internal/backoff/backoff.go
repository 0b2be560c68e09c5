// Package backoff computes capped exponential retry delays with jitter for
// the discovery providers.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff yields delays that double from Min up to Max. Each delay is drawn
// uniformly from [d/2, d] ("equal jitter") so that members restarted together
// do not retry in lockstep. The zero value is not usable; set Min and Max.
// A Backoff is not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	// Rand returns a float in [0,1); nil uses math/rand/v2.
	Rand func() float64

	cur time.Duration
}

// Next returns the next delay and doubles the base for the one after.
func (b *Backoff) Next() time.Duration {
	if b.cur < b.Min {
		b.cur = b.Min
	}
	d := b.cur
	b.cur = min(2*b.cur, b.Max)
	if d > b.Max {
		d = b.Max
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	half := d / 2
	return half + time.Duration(r()*float64(d-half))
}

// Reset makes the next delay start from Min again.
func (b *Backoff) Reset() { b.cur = 0 }

// Wait sleeps for the next delay or until ctx ends; it reports whether the
// full delay elapsed.
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Sleep waits for d or until ctx ends; it reports whether d elapsed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
