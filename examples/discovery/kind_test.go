package main

import (
	"math/rand/v2"
	"testing"

	"github.com/legion-go/legion/actor/actortest"
	pb "github.com/legion-go/legion/examples/discovery/registrypb"
)

// t0 is near the times CheckKind stamps on events (it starts at 1.8e18 ns and steps by
// about a millisecond), so that pings expire within a history.
const t0 = 1_800_000_000_000_000_000

var names = []string{"api", "db", "web", "bad name", ""}

// TestServiceKind: the service kind follows the rules of a kind (actortest.CheckKind), on
// pings (good, bad address, bad TTL, bad version) that expire within a history, Expire
// events (its timer's), Indexed events, lookups sent as events (rejected) and empty
// events; queries are lookups at random times, and non-lookups (rejected).
func TestServiceKind(t *testing.T) {
	actortest.CheckKind(t, Service, actortest.Gen[*pb.ServiceEvent, *pb.ServiceEvent]{
		Event: func(r *rand.Rand) *pb.ServiceEvent {
			switch r.IntN(10) {
			case 0:
				return &pb.ServiceEvent{Kind: &pb.ServiceEvent_Indexed{Indexed: &pb.Indexed{}}}
			case 1:
				return &pb.ServiceEvent{Kind: &pb.ServiceEvent_Lookup{Lookup: &pb.Lookup{}}}
			case 2:
				return &pb.ServiceEvent{}
			case 3: // a timer's event, at a time within the history's
				return &pb.ServiceEvent{Kind: &pb.ServiceEvent_Expire{Expire: &pb.Expire{At: t0 + r.Int64N(20_000_000)}}}
			}
			p := &pb.Ping{
				Address:  []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", ""}[r.IntN(4)],
				Version:  []string{"1.0.0", "1.2.3", "2.0.0-rc.1", "x"}[r.IntN(4)],
				TtlNanos: r.Int64N(5_000_000) - 100_000,
			}
			return &pb.ServiceEvent{Kind: &pb.ServiceEvent_Ping{Ping: p}}
		},
		Query: func(r *rand.Rand) *pb.ServiceEvent {
			if r.IntN(5) == 0 {
				return &pb.ServiceEvent{Kind: &pb.ServiceEvent_Indexed{Indexed: &pb.Indexed{}}}
			}
			return &pb.ServiceEvent{Kind: &pb.ServiceEvent_Lookup{Lookup: &pb.Lookup{NowNanos: t0 + r.Int64N(20_000_000)}}}
		},
	})
}

// TestIndexKind: the index kind follows the rules of a kind (actortest.CheckKind), on
// AddService and AddCall events with good and bad names, lists sent as events (rejected)
// and empty events; queries are lists, and non-lists (rejected).
func TestIndexKind(t *testing.T) {
	name := func(r *rand.Rand) string { return names[r.IntN(len(names))] }
	actortest.CheckKind(t, Index, actortest.Gen[*pb.IndexEvent, *pb.IndexEvent]{
		Event: func(r *rand.Rand) *pb.IndexEvent {
			switch r.IntN(8) {
			case 0:
				return &pb.IndexEvent{Kind: &pb.IndexEvent_List{List: &pb.List{}}}
			case 1:
				return &pb.IndexEvent{}
			case 2, 3, 4:
				return &pb.IndexEvent{Kind: &pb.IndexEvent_AddService{AddService: &pb.AddService{Name: name(r)}}}
			}
			return &pb.IndexEvent{Kind: &pb.IndexEvent_AddCall{AddCall: &pb.AddCall{Caller: name(r), Callee: name(r)}}}
		},
		Query: func(r *rand.Rand) *pb.IndexEvent {
			if r.IntN(5) == 0 {
				return &pb.IndexEvent{}
			}
			return &pb.IndexEvent{Kind: &pb.IndexEvent_List{List: &pb.List{}}}
		},
	})
}
