package replica

import "hash/maphash"

// outputCache remembers the outputs of the last requests (by request key), so that a call
// retried after a timeout is answered with its original output. Bounded, oldest out.
//
// It is a ring, not a map: every replica puts the output of every request it folds, but
// looks one up only for a retried call, which is rare. A map paid an insertion and a
// deletion per fold, at every replica, in a map large enough to miss the caches (4.5% of
// the CPU of a fast increment). A put first looks for its key, since the replica that
// handles a fast call puts its projected output and then, once it folds, its final one;
// the look-up scans the keys' hashes, which lie side by side. Every other output is
// added without it: a request folds once.
type outputCache struct {
	hashes []uint64 // hash of each slot's request key
	reqs   []string
	outs   [][]byte
	rejs   []error // a slot's rejection (Apply rejected the request when it folded), or nil
	next   int     // the slot the next new key takes, once the ring is full
}

// outputCacheSize covers about the requests a retry can be recognised for: the folded
// ones in the dedup window (at most about 200 of the runtime's request keys in
// lattice.DefaultDedupBytes), and as many again still pending. An output older than that
// is seldom asked for, so a larger cache only holds memory in every active replica.
const outputCacheSize = 512

var outputSeed = maphash.MakeSeed()

func (c *outputCache) put(req string, out []byte) {
	if req == "" {
		return
	}
	h := maphash.String(outputSeed, req)
	if i := c.find(h, req); i >= 0 {
		c.outs[i], c.rejs[i] = out, nil
		return
	}
	c.insert(h, req, out, nil)
}

// reject records that the request req was rejected when it folded (its fast output, if
// cached, was provisional), so that a consistent retry learns it.
func (c *outputCache) reject(req string, rej error) {
	if req == "" {
		return
	}
	h := maphash.String(outputSeed, req)
	if i := c.find(h, req); i >= 0 {
		c.outs[i], c.rejs[i] = nil, rej
		return
	}
	c.insert(h, req, nil, rej)
}

// add caches the output of a request the cache does not hold.
func (c *outputCache) add(req string, out []byte) {
	if req != "" {
		c.insert(maphash.String(outputSeed, req), req, out, nil)
	}
}

func (c *outputCache) insert(h uint64, req string, out []byte, rej error) {
	if len(c.reqs) < outputCacheSize {
		c.hashes, c.reqs, c.outs, c.rejs = append(c.hashes, h), append(c.reqs, req), append(c.outs, out), append(c.rejs, rej)
		return
	}
	c.hashes[c.next], c.reqs[c.next], c.outs[c.next], c.rejs[c.next] = h, req, out, rej
	c.next = (c.next + 1) % outputCacheSize
}

// get returns the output of request req, if cached and not rejected.
func (c *outputCache) get(req string) ([]byte, bool) {
	out, rej, ok := c.result(req)
	return out, ok && rej == nil
}

// result returns what request req came to, if cached: its output, or its rejection.
func (c *outputCache) result(req string) (out []byte, rej error, ok bool) {
	if i := c.find(maphash.String(outputSeed, req), req); i >= 0 {
		return c.outs[i], c.rejs[i], true
	}
	return nil, nil, false
}

// find returns the slot of req, whose hash is h, or -1.
func (c *outputCache) find(h uint64, req string) int {
	for i, x := range c.hashes {
		if x == h && c.reqs[i] == req {
			return i
		}
	}
	return -1
}
