package replica

import "hash/maphash"

// Outputs is where a node's replicas keep the outputs of recent requests (by replica and
// request key), so that a call retried after a timeout is answered with its original
// output. Every replica puts the output of every request it folds; a retried call looks
// one up. The node's is bounded in bytes for the whole node, least recently used out,
// across partitions (actor/outputs.go): an active replica costs what its recent requests
// take, not a fixed ring of its own (512 outputs each were most of an active replica's
// memory; #25).
//
// The node's replicas share one from their shards' goroutines: its methods may be called
// concurrently, and do not block but for a short lock.
type Outputs interface {
	// Owner returns a number that no other replica of the node was given: the first part
	// of the keys of the replica's outputs. A replica made again from the store, or after
	// its copy was discarded, has a number of its own, and never finds a provisional output
	// of an earlier one; unless the earlier one left memory idle, every output it cached
	// final, and the shell hands its number on (Replica.ResumeOutputs).
	Owner() uint64
	// Set records what request k came to (an output, or a rejection), replacing what was
	// recorded for it.
	Set(k OutputKey, out []byte, rej error)
	// Result returns what request k came to, if recorded, and marks it used.
	Result(k OutputKey) (out []byte, rej error, ok bool)
}

// OutputKey names an output: its replica's Owner number and the request key.
type OutputKey struct {
	Owner uint64
	Req   string
}

// Hash returns a hash of the key (for a cache to pick a stripe by).
func (k OutputKey) Hash() uint64 {
	return maphash.String(outputSeed, k.Req) ^ k.Owner*0x9e3779b97f4a7c15
}

// OutputLRU is a cache of outputs bounded in bytes (each counts its request key, its
// output and OutputEntryBytes), least recently used out: its entries in one array (no
// allocation per entry, and an index without pointers for the garbage collector to
// follow), linked by position in least recently used order. Not safe for concurrent use.
type OutputLRU struct {
	index map[uint64]int32 // a key's hash -> its slot
	slots []outputSlot
	free  int32 // the first free slot, or -1
	head  int32 // the most recently used slot, or -1
	tail  int32 // the least recently used slot, or -1
	bytes int
	limit int
}

type outputSlot struct {
	key        OutputKey
	out        []byte
	rej        error // the request's rejection (Apply rejected it when it folded), or nil
	hash       uint64
	prev, next int32 // toward the most, the least recently used; -1 at the ends
}

// OutputEntryBytes is what an entry counts for beyond its key's and output's bytes: its
// slot and its index entry, about.
const OutputEntryBytes = 112

// privateOutputBytes is the budget of the cache of a replica whose Config names none
// (a test's, the simulation's): about 512 small outputs, as each replica had before.
const privateOutputBytes = 512 * (OutputEntryBytes + 32)

var outputSeed = maphash.MakeSeed()

// NewOutputLRU returns a cache of at most about bytes (the newest entry always stays).
func NewOutputLRU(bytes int) *OutputLRU {
	return &OutputLRU{index: map[uint64]int32{}, free: -1, head: -1, tail: -1, limit: max(1, bytes)}
}

// Len returns how many outputs the cache holds, and their bytes as counted against its
// budget.
func (c *OutputLRU) Len() (n, bytes int) { return len(c.index), c.bytes }

// Set records what request k came to, replacing what the cache held for it.
func (c *OutputLRU) Set(k OutputKey, out []byte, rej error) {
	h := k.Hash()
	if i, ok := c.index[h]; ok {
		// This key, or (as rarely as two keys' 64-bit hashes agree) another, which it
		// replaces: a forgotten output only answers a retry ErrOutputUnknown.
		e := &c.slots[i]
		c.bytes += len(k.Req) + len(out) - len(e.key.Req) - len(e.out)
		e.key, e.out, e.rej = k, out, rej
		c.touch(i)
	} else {
		i := c.free
		if i >= 0 {
			c.free = c.slots[i].next
		} else {
			i = int32(len(c.slots))
			c.slots = append(c.slots, outputSlot{})
		}
		c.slots[i] = outputSlot{key: k, out: out, rej: rej, hash: h, prev: -1, next: -1}
		c.index[h] = i
		c.bytes += slotBytes(&c.slots[i])
		c.pushFront(i)
	}
	for c.bytes > c.limit && c.tail != c.head { // the newest always stays
		i := c.tail
		c.unlink(i)
		e := &c.slots[i]
		delete(c.index, e.hash)
		c.bytes -= slotBytes(e)
		*e = outputSlot{next: c.free} // let its key and output be collected
		c.free = i
	}
}

// Result returns what request k came to, if cached, and marks it used.
func (c *OutputLRU) Result(k OutputKey) (out []byte, rej error, ok bool) {
	i, ok := c.index[k.Hash()]
	if !ok || c.slots[i].key != k {
		return nil, nil, false
	}
	c.touch(i)
	return c.slots[i].out, c.slots[i].rej, true
}

func slotBytes(e *outputSlot) int { return len(e.key.Req) + len(e.out) + OutputEntryBytes }

func (c *OutputLRU) touch(i int32) {
	if c.head != i {
		c.unlink(i)
		c.pushFront(i)
	}
}

func (c *OutputLRU) unlink(i int32) {
	e := &c.slots[i]
	if e.prev >= 0 {
		c.slots[e.prev].next = e.next
	} else {
		c.head = e.next
	}
	if e.next >= 0 {
		c.slots[e.next].prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (c *OutputLRU) pushFront(i int32) {
	e := &c.slots[i]
	e.prev, e.next = -1, c.head
	if c.head >= 0 {
		c.slots[c.head].prev = i
	}
	c.head = i
	if c.tail < 0 {
		c.tail = i
	}
}

// privateOutputs is the Outputs of a replica whose Config names none: its own.
type privateOutputs struct{ *OutputLRU }

func (privateOutputs) Owner() uint64 { return 1 }

// outputCache is one replica's view of its node's Outputs.
type outputCache struct {
	c     Outputs
	owner uint64
}

// newOutputCache returns a replica's view of c; with c nil, of a private cache of the
// size each replica had its own before the node-wide one.
func newOutputCache(c Outputs) outputCache {
	if c == nil {
		c = privateOutputs{NewOutputLRU(privateOutputBytes)}
	}
	return outputCache{c: c, owner: c.Owner()}
}

// forget makes every output cached so far unreachable (a delete of the partition
// folded): the replica takes a new owner number, and its old entries go as the node's
// cache evicts the least recently used; a private cache is replaced.
func (c *outputCache) forget() {
	if _, private := c.c.(privateOutputs); private {
		*c = newOutputCache(nil)
		return
	}
	c.owner = c.c.Owner()
}

// resume names the cache's outputs with owner, the number of a replica of the same
// partition that left memory idle (Replica.ResumeOutputs); a private cache went with it.
func (c *outputCache) resume(owner uint64) {
	if _, private := c.c.(privateOutputs); !private {
		c.owner = owner
	}
}

func (c *outputCache) put(req string, out []byte) {
	if req != "" {
		c.c.Set(OutputKey{c.owner, req}, out, nil)
	}
}

// reject records that the request req was rejected when it folded (its fast output, if
// cached, was provisional), so that a consistent retry learns it.
func (c *outputCache) reject(req string, rej error) {
	if req != "" {
		c.c.Set(OutputKey{c.owner, req}, nil, rej)
	}
}

// add caches the output of a request the cache does not hold (put, under the name the
// ring this cache replaced gave it: it skipped the look-up).
func (c *outputCache) add(req string, out []byte) { c.put(req, out) }

// get returns the output of request req, if cached and not rejected.
func (c *outputCache) get(req string) ([]byte, bool) {
	out, rej, ok := c.result(req)
	return out, ok && rej == nil
}

// result returns what request req came to, if cached: its output, or its rejection.
func (c *outputCache) result(req string) (out []byte, rej error, ok bool) {
	if req == "" {
		return nil, nil, false
	}
	return c.c.Result(OutputKey{c.owner, req})
}
