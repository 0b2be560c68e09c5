package lattice

import "hash/maphash"

// recentIndex finds a request key in the infimum's dedup window (Infimum.Recent). Every
// fold adds a request to the window and drops the oldest, at every replica, and every
// call and fold looks a key up: a map from the keys themselves (a string each, in a map
// too big for the caches) cost about 5% of the CPU of an increment. This one maps a 64-bit
// hash of each key to the request's sequence number: no pointers for the garbage
// collector to follow, no string hashed twice. A key found by its hash is compared in
// full; the rare key whose hash another key in the window holds goes to a map of its own.
type recentIndex struct {
	byHash   map[uint64]uint64 // a key's hash -> its request's sequence number
	collided map[string]uint64 // keys whose hash byHash gives another key's
	first    uint64            // the sequence number of recent[0]
}

// reqSeed seeds reqHash. Like a map's seed it changes from process to process, and like
// a map's it decides nothing: a hash only points at a key to compare.
var reqSeed = maphash.MakeSeed()

// reqHash hashes a request key (a variable so that a test can make keys collide).
var reqHash = func(req string) uint64 { return maphash.String(reqSeed, req) }

// find returns the id of the request whose key is req, if recent (the window the index
// was built for) holds it.
func (x *recentIndex) find(recent []Request, req string) (EventID, bool) {
	if seq, ok := x.byHash[reqHash(req)]; ok {
		if i := seq - x.first; i < uint64(len(recent)) && recent[i].Key == req {
			return recent[i].ID, true
		}
	}
	if seq, ok := x.collided[req]; ok {
		if i := seq - x.first; i < uint64(len(recent)) {
			return recent[i].ID, true
		}
	}
	return EventID{}, false
}

// add indexes the request just appended to recent.
func (x *recentIndex) add(recent []Request) {
	if x.byHash == nil {
		x.byHash = map[uint64]uint64{}
	}
	seq, key := x.first+uint64(len(recent)-1), recent[len(recent)-1].Key
	h := reqHash(key)
	if _, taken := x.byHash[h]; !taken {
		x.byHash[h] = seq
		return
	}
	if x.collided == nil {
		x.collided = map[string]uint64{}
	}
	x.collided[key] = seq
}

// dropFirst forgets recent[0], which the window is about to drop.
func (x *recentIndex) dropFirst(recent []Request) {
	key := recent[0].Key
	if h := reqHash(key); x.holds(h, x.first) {
		delete(x.byHash, h)
	} else {
		delete(x.collided, key)
	}
	x.first++
}

func (x *recentIndex) holds(h, seq uint64) bool {
	got, ok := x.byHash[h]
	return ok && got == seq
}

// rebuild indexes recent anew.
func (x *recentIndex) rebuild(recent []Request) {
	*x = recentIndex{byHash: make(map[uint64]uint64, len(recent))}
	for i := range recent {
		x.add(recent[:i+1])
	}
}
