package lattice

import "hash/maphash"

// The dedup horizon. Every fold of a request appends it to the infimum's window
// (Infimum.Recent) and then forgets the oldest requests while one of these holds:
//
//   - the window holds more than Behavior.DedupBytes (each request counts requestBytes);
//   - the oldest is older than the request just folded by more than DedupHorizon, in
//     event time (Delta.Time, the origin's hybrid logical clock);
//   - it holds more than DedupWindow requests, when that is set.
//
// The request just folded always stays. The rule reads nothing but the window and the
// folded request, which every replica folds in the same order with the same window (a
// snapshot carries it, times included), so every replica forgets the same requests at
// the same fold: the horizon decides whether a late copy of a request folds as a
// duplicate, and must not depend on anything local. Only the oldest requests go, in fold
// order: one whose time is older than a later one's stays until it reaches the front.
// Nothing is forgotten without a fold: an idle partition keeps its window as it is.
const (
	// DefaultDedupHorizon is the DedupHorizon of a Behavior that sets none: 10 minutes.
	DefaultDedupHorizon int64 = 10 * 60 * 1e9
	// DefaultDedupBytes is the DedupBytes of a Behavior that sets none: 8 KiB, about 200
	// of the runtime's own request keys (about 40 bytes each, with their ids and times).
	DefaultDedupBytes = 8 << 10
)

// requestBytes is what a request counts for against DedupBytes: about its encoded size.
func requestBytes(r *Request) int { return len(r.Key) + len(r.ID.Peer) + 24 }

func (b *Behavior[S, E, O]) dedupHorizon() int64 {
	if b.DedupHorizon == 0 {
		return DefaultDedupHorizon
	}
	return b.DedupHorizon
}

func (b *Behavior[S, E, O]) dedupBytes() int {
	if b.DedupBytes == 0 {
		return DefaultDedupBytes
	}
	return b.DedupBytes
}

// remember adds a folded request to the infimum's window and forgets the oldest ones
// past the horizon.
func (s *State[S, E, O]) remember(r Request) {
	// The window only moves forward: the oldest entries are resliced away and the new one
	// appended past the end, so no element that an Infimum handed out earlier shows is
	// ever overwritten (Snapshot and Restore copy it), and a fold costs O(1) amortised.
	s.inf.Recent = append(s.inf.Recent, r)
	s.recent.add(s.inf.Recent)
	for len(s.inf.Recent) > 1 && s.pastHorizon(&s.inf.Recent[0], &r) {
		if s.proj.skipped[s.inf.Recent[0].Key] > 0 {
			// A pending duplicate of this request, which the projection skipped, is no
			// longer one for the fold: the projection must be recomputed.
			s.proj.valid = false
		}
		s.recent.dropFirst(s.inf.Recent)
		s.inf.Recent = s.inf.Recent[1:]
	}
}

// pastHorizon reports whether the window, whose oldest request is oldest, forgets it
// now that newest folded.
func (s *State[S, E, O]) pastHorizon(oldest, newest *Request) bool {
	b := &s.behavior
	if limit := b.dedupBytes(); limit > 0 && s.recent.bytes > limit {
		return true
	}
	if h := b.dedupHorizon(); h > 0 && newest.Time > oldest.Time && newest.Time-oldest.Time > h {
		return true // (a difference that overflows is negative: kept)
	}
	return b.DedupWindow > 0 && len(s.inf.Recent) > b.DedupWindow
}

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
	bytes    int               // the requestBytes of the window's requests
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
	x.bytes += requestBytes(&recent[len(recent)-1])
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
	x.bytes -= requestBytes(&recent[0])
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
