package discovery

import "sync"

// Feed is the latest-wins channel behind [Provider.Views], for provider
// implementations.
//
// Its channel has a buffer of one view. Publish replaces an unread view with
// the new one, so a slow reader only ever sees the newest view and never an
// older one after a newer one. Publish never blocks. All methods are safe for
// concurrent use.
type Feed struct {
	mu     sync.Mutex
	ch     chan View
	last   View
	sent   bool
	closed bool
}

// NewFeed returns an open feed.
func NewFeed() *Feed { return &Feed{ch: make(chan View, 1)} }

// C returns the receive side of the feed. It is closed by Close.
func (f *Feed) C() <-chan View { return f.ch }

// Publish offers v to the reader. It returns false, and does nothing, if the
// feed is closed or v equals the last published view. The caller must not
// modify v afterwards.
func (f *Feed) Publish(v View) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || (f.sent && f.last.Equal(v)) {
		return false
	}
	select {
	case <-f.ch: // drop the unread, older view
	default:
	}
	f.ch <- v // cannot block: the buffer is empty and only Publish sends, under mu
	f.last, f.sent = v, true
	return true
}

// Last returns the last published view and whether there was one.
func (f *Feed) Last() (View, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last, f.sent
}

// Close closes the channel after the unread view, if any. Later Publish calls
// do nothing. Close may be called more than once.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.ch)
	}
}
