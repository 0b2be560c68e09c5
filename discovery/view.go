package discovery

import (
	"cmp"
	"slices"
	"strings"
)

// View is the set of live members at one moment, sorted by Peer then Instance.
//
// A Peer may appear more than once (with different Instances) while a
// restarted node's old instance has not been detected as gone yet.
type View struct {
	Members []Member
	// Partial is set by a provider that knows its view may lack members: it has not
	// reached the rest of the cluster yet (a gossip member whose seeds have not answered).
	// A node acts on no partial view as if it were the cluster: it starts no partition
	// from scratch and ejects nobody on its strength.
	Partial bool
}

// NewView returns a view of members, sorted by Peer then Instance. It copies
// the slice (not the members' Kinds and Meta); members with the same ID are
// kept once (the last one wins).
func NewView(members []Member) View {
	ms := slices.Clone(members)
	slices.SortStableFunc(ms, compareMembers)
	out := ms[:0]
	for _, m := range ms {
		if n := len(out); n > 0 && out[n-1].Peer == m.Peer && out[n-1].Instance == m.Instance {
			out[n-1] = m
			continue
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return View{}
	}
	return View{Members: out}
}

func compareMembers(a, b Member) int {
	return cmp.Or(strings.Compare(a.Peer, b.Peer), strings.Compare(a.Instance, b.Instance))
}

// Lookup returns the member with the given Peer. If the peer is present with
// several instances, Lookup returns the first in Instance order; use [View.All]
// to see every instance.
func (v View) Lookup(peer string) (Member, bool) {
	i, ok := slices.BinarySearchFunc(v.Members, peer, func(m Member, p string) int {
		return strings.Compare(m.Peer, p)
	})
	if !ok {
		return Member{}, false
	}
	return v.Members[i], true
}

// All returns every member (every instance) with the given Peer, in Instance order.
func (v View) All(peer string) []Member {
	var out []Member
	for _, m := range v.Members {
		if m.Peer == peer {
			out = append(out, m)
		}
	}
	return out
}

// Contains reports whether the view holds the member with m's Peer and Instance.
func (v View) Contains(m Member) bool {
	_, ok := slices.BinarySearchFunc(v.Members, m, compareMembers)
	return ok
}

// Peers returns the distinct Peers of the view, sorted.
func (v View) Peers() []string {
	var out []string
	for _, m := range v.Members {
		if len(out) == 0 || out[len(out)-1] != m.Peer {
			out = append(out, m.Peer)
		}
	}
	return out
}

// Equal reports whether v and o hold equal members in the same order, and are both
// partial or both not.
func (v View) Equal(o View) bool {
	return v.Partial == o.Partial && slices.EqualFunc(v.Members, o.Members, Member.Equal)
}

// Clone returns a deep copy of v.
func (v View) Clone() View {
	if len(v.Members) == 0 {
		return View{Partial: v.Partial}
	}
	ms := make([]Member, len(v.Members))
	for i, m := range v.Members {
		ms[i] = m.Clone()
	}
	return View{Members: ms, Partial: v.Partial}
}

// String lists the members' IDs, for logs and test failures.
func (v View) String() string {
	ids := make([]string, len(v.Members))
	for i, m := range v.Members {
		ids[i] = m.ID()
	}
	if v.Partial {
		return "[" + strings.Join(ids, " ") + "] (partial)"
	}
	return "[" + strings.Join(ids, " ") + "]"
}
