package admin

import (
	"fmt"
	"net/http"

	"strconv"
	"strings"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// Status is /api/status: the node, its health and its counters.
type Status struct {
	Peer    string    `json:"peer"`
	Name    string    `json:"name"`
	Address string    `json:"address"` // remoting's host:port
	Time    time.Time `json:"time"`    // by the node's clock: the instant the figures are of
	Health  Health    `json:"health"`
	// Stats are the node's replication counters since it started (actor.Stats): a
	// client derives rates from two readings.
	Stats actor.Stats `json:"stats"`
	// Replicas is the number of replicas active on this node (in memory); Stalled, how
	// many of them have deltas pending; Pending, their pending deltas in all.
	Replicas int `json:"replicas"`
	Stalled  int `json:"stalled"`
	Pending  int `json:"pending"`
	// MaxLag is the longest time, in seconds, an active replica's infimum has not
	// advanced while it had deltas pending (0: none pending).
	MaxLag float64 `json:"max_lag_seconds"`
	// Handoffs is the handoffs (joins) this node has in flight.
	Handoffs int `json:"handoffs"`
	// Actions is whether the handler accepts the operator's actions.
	Actions bool `json:"actions"`
	// Divergences lists the partitions this node found diverged from another replica
	// (actor.Node.Divergences): they folded the same events into different values.
	// Empty in a healthy cluster; see docs/kinds.md, "Versions and upgrades".
	Divergences []actor.Divergence `json:"divergences,omitempty"`
	// KindVersions is the version this node stamps on new events of each kind (the
	// lowest the members hosting it advertise); OwnVersions, the version it runs.
	KindVersions map[string]uint32 `json:"kind_versions,omitempty"`
	OwnVersions  map[string]uint32 `json:"own_versions,omitempty"`
}

// Health is actor.Health in JSON, with Ready and the reasons it is not.
type Health struct {
	Running  bool     `json:"running"`
	Ready    bool     `json:"ready"`
	Err      string   `json:"error,omitempty"`
	Joined   bool     `json:"joined"`
	Partial  bool     `json:"partial"`
	Resynced bool     `json:"resynced"`
	Leaving  bool     `json:"leaving"`
	Members  int      `json:"members"`
	NotReady []string `json:"not_ready,omitempty"`
}

func healthOf(h actor.Health) Health {
	out := Health{Running: h.Running, Ready: h.Ready(), Joined: h.Joined, Partial: h.Partial,
		Resynced: h.Resynced, Leaving: h.Leaving, Members: h.Members, NotReady: notReady(h)}
	if h.Err != nil {
		out.Err = h.Err.Error()
	}
	return out
}

func (h *handler) status(w http.ResponseWriter, _ *http.Request) {
	n := h.node
	st := Status{Peer: string(n.Peer()), Address: n.Address(), Time: n.Now(), Health: healthOf(n.Health()),
		Stats: n.Stats(), Handoffs: n.Handoffs(), Actions: h.opts.Actions, Divergences: n.Divergences()}
	st.KindVersions, st.OwnVersions = n.KindVersions()
	if self, ok := n.View().Lookup(string(n.Peer())); ok {
		st.Name = self.Name
	}
	for _, r := range n.Replicas() {
		if r.Retired {
			continue
		}
		st.Replicas++
		if r.Pending > 0 {
			st.Stalled++
			st.Pending += r.Pending
			st.MaxLag = max(st.MaxLag, lag(st.Time, r))
		}
	}
	writeJSON(w, http.StatusOK, st)
}

// lag is how long r's infimum has not advanced while deltas are pending, in seconds.
func lag(now time.Time, r gc.Replica) float64 {
	if r.Pending == 0 || r.LastAdvance.IsZero() {
		return 0
	}
	return max(now.Sub(r.LastAdvance), 0).Seconds()
}

// Members is /api/members: every peer the node knows, live or a tombstone.
type Members struct {
	Self    string    `json:"self"`
	Time    time.Time `json:"time"`
	Partial bool      `json:"partial"` // the view is partial
	Live    int       `json:"live"`
	Members []Member  `json:"members"`
}

// Member is one peer: a live member of the view (with its address), or a tombstone of
// one membership reports gone.
type Member struct {
	Peer      string            `json:"peer"`
	Name      string            `json:"name,omitempty"`
	Instance  string            `json:"instance,omitempty"`
	Address   string            `json:"address,omitempty"`
	Kinds     []string          `json:"kinds"`
	Meta      map[string]string `json:"meta,omitempty"`
	Live      bool              `json:"live"`
	Since     time.Time         `json:"since"`          // when Live last changed (for a tombstone: when seen gone)
	For       float64           `json:"for_seconds"`    // seconds since Since
	Departing bool              `json:"departing"`      // announced a planned departure
	Self      bool              `json:"self,omitempty"` // the node serving this answer
	// Partitions is how many of this node's active replicas have the peer as a
	// participant: the partitions per node as this node sees them (each node holds only
	// its own; the peer's total is on its own admin API).
	Partitions int `json:"partitions"`
}

func (h *handler) members(w http.ResponseWriter, _ *http.Request) {
	n := h.node
	now := n.Now()
	out := Members{Self: string(n.Peer()), Time: now, Partial: n.View().Partial, Members: []Member{}}
	shared := map[lattice.Peer]int{}
	for _, r := range n.Replicas() {
		if !r.Retired {
			for _, p := range r.Participants {
				shared[p]++
			}
		}
	}
	for _, p := range n.Peers() {
		m := Member{Peer: string(p.Peer), Kinds: p.Kinds, Live: p.Live, Since: p.Since, Departing: p.Departing,
			Self: p.Peer == n.Peer(), Partitions: shared[p.Peer]}
		if m.Kinds == nil {
			m.Kinds = []string{}
		}
		if !p.Since.IsZero() {
			m.For = max(now.Sub(p.Since), 0).Seconds()
		}
		if p.Member != nil {
			m.Name, m.Instance, m.Address, m.Meta = p.Member.Name, p.Member.Instance, p.Member.Address, p.Member.Meta
		}
		if m.Live {
			out.Live++
		}
		out.Members = append(out.Members, m)
	}
	writeJSON(w, http.StatusOK, out)
}

// Partitions is /api/partitions: one page of the replicas active on this node, in
// (kind, key) order.
type Partitions struct {
	Time time.Time `json:"time"`
	// Total is how many replicas match the request's filters, on every page.
	Total      int         `json:"total"`
	Partitions []Partition `json:"partitions"`
	// Next is the ?after= of the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// Partition is one replica on this node, as of its last gc tick (actor.Node.Replicas).
type Partition struct {
	Kind string `json:"kind"`
	Key  string `json:"key"`
	// ReplicaSet is where placement puts the partition by the node's current view.
	ReplicaSet   []string `json:"replica_set"`
	Participants []string `json:"participants"`
	Joining      []string `json:"joining"`
	Leaving      []string `json:"leaving"`
	Pending      int      `json:"pending"`
	Owed         []Owed   `json:"owed"`
	OwnJoins     int      `json:"own_joins"` // handoffs of this node's in flight here
	// LastAdvance is when the infimum last advanced (or the replica was loaded); Lag is
	// seconds since then while deltas are pending, else 0.
	LastAdvance time.Time `json:"last_advance"`
	Lag         float64   `json:"lag_seconds"`
}

// Owed is one peer whose acks a replica's pending deltas wait for.
type Owed struct {
	Peer string `json:"peer"`
	Acks int    `json:"acks"`
}

func (h *handler) partitionOf(now time.Time, r gc.Replica) Partition {
	p := Partition{Kind: r.Kind, Key: r.Key, ReplicaSet: peers(h.node.ReplicaSet(r.Kind, r.Key)),
		Participants: peers(r.Participants), Joining: peers(r.Joining), Leaving: peers(r.Leaving),
		Pending: r.Pending, Owed: owed(r.Owed), OwnJoins: r.OwnJoins, LastAdvance: r.LastAdvance, Lag: lag(now, r)}
	return p
}

func peers(ps []lattice.Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

func owed(os []lattice.Owed) []Owed {
	out := make([]Owed, len(os))
	for i, o := range os {
		out[i] = Owed{Peer: string(o.Peer), Acks: o.Count}
	}
	return out
}

// pageParams reads ?limit= (at most MaxPage) and ?after=.
func (h *handler) limit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return h.opts.MaxPage, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("limit %q: want a positive number", s)
	}
	return min(n, h.opts.MaxPage), nil
}

// after reads ?after=: a cursor "kind/key" (the key may hold slashes; the kind does not).
func after(r *http.Request) (gc.Partition, bool, error) {
	s := r.URL.Query().Get("after")
	if s == "" {
		return gc.Partition{}, false, nil
	}
	kind, key, ok := strings.Cut(s, "/")
	if !ok || kind == "" {
		return gc.Partition{}, false, fmt.Errorf("after %q: want kind/key", s)
	}
	return gc.Partition{Kind: kind, Key: key}, true, nil
}

func (h *handler) partitions(w http.ResponseWriter, r *http.Request) {
	limit, err := h.limit(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	from, hasFrom, err := after(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	kind, onlyStalled := q.Get("kind"), q.Get("stalled") != "" && q.Get("stalled") != "0" && q.Get("stalled") != "false"
	now := h.node.Now()
	out := Partitions{Time: now, Partitions: []Partition{}}
	for _, rep := range h.node.Replicas() { // in partition order
		if rep.Retired || kind != "" && rep.Kind != kind || onlyStalled && rep.Pending == 0 {
			continue
		}
		out.Total++
		if hasFrom && rep.Partition().Compare(from) <= 0 {
			continue
		}
		if len(out.Partitions) == limit {
			if out.Next == "" {
				last := out.Partitions[limit-1]
				out.Next = last.Kind + "/" + last.Key
			}
			continue
		}
		out.Partitions = append(out.Partitions, h.partitionOf(now, rep))
	}
	writeJSON(w, http.StatusOK, out)
}

// Stalls is /api/stalls: gc's report of where garbage collection waits (gc.Stalls),
// the partitions bounded by ?limit= (at most MaxPage; the longest stalled first), every
// peer.
type Stalls struct {
	Time time.Time `json:"time"`
	// Total is the number of stalled partitions, listed or not.
	Total      int              `json:"total"`
	Partitions []PartitionStall `json:"partitions"`
	Peers      []PeerStall      `json:"peers"`
}

// PartitionStall is one replica whose infimum waits for acks.
type PartitionStall struct {
	Kind    string  `json:"kind"`
	Key     string  `json:"key"`
	Pending int     `json:"pending"`
	Stalled float64 `json:"stalled_seconds"`
	Owed    []Owed  `json:"owed"`
}

// PeerStall is one peer whose acks some replicas wait for.
type PeerStall struct {
	Peer       string    `json:"peer"`
	Partitions int       `json:"partitions"` // how many wait for it
	Acks       int       `json:"acks"`
	Since      time.Time `json:"since"`
	Stalled    float64   `json:"stalled_seconds"`
	// Live is whether membership lists the peer live (false: a tombstone, or unknown).
	Live bool `json:"live"`
}

func (h *handler) stalls(w http.ResponseWriter, r *http.Request) {
	limit, err := h.limit(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := h.node.Now()
	rep := gc.Stalls(now, h.node.Replicas())
	live := map[string]bool{}
	for _, m := range h.node.View().Members {
		live[m.Peer] = true
	}
	out := Stalls{Time: now, Total: len(rep.Partitions), Partitions: []PartitionStall{}, Peers: []PeerStall{}}
	for _, p := range rep.Partitions[:min(limit, len(rep.Partitions))] {
		out.Partitions = append(out.Partitions, PartitionStall{Kind: p.Partition.Kind, Key: p.Partition.Key,
			Pending: p.Pending, Stalled: p.Stalled.Seconds(), Owed: owed(p.Owed)})
	}
	for _, p := range rep.Peers {
		out.Peers = append(out.Peers, PeerStall{Peer: string(p.Peer), Partitions: len(p.Partitions), Acks: p.Acks,
			Since: p.Since, Stalled: p.Stalled.Seconds(), Live: live[string(p.Peer)]})
	}
	writeJSON(w, http.StatusOK, out)
}

// Handoffs is /api/handoffs: the handoffs in flight on this node.
type Handoffs struct {
	Time time.Time `json:"time"`
	// InFlight is the joins this node wrote that have not folded (its MaxHandoffs
	// budget in use).
	InFlight int `json:"in_flight"`
	// Total is how many of the node's active replicas have a join pending, listed or
	// not; Partitions lists them (at most MaxPage, ?limit=), in partition order.
	Total      int         `json:"total"`
	Partitions []Partition `json:"partitions"`
}

func (h *handler) handoffs(w http.ResponseWriter, r *http.Request) {
	limit, err := h.limit(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := h.node.Now()
	out := Handoffs{Time: now, InFlight: h.node.Handoffs(), Partitions: []Partition{}}
	for _, rep := range h.node.Replicas() {
		if rep.Retired || len(rep.Joining) == 0 {
			continue
		}
		out.Total++
		if len(out.Partitions) < limit {
			out.Partitions = append(out.Partitions, h.partitionOf(now, rep))
		}
	}
	writeJSON(w, http.StatusOK, out)
}
