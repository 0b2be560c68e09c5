package main

import (
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/legion-go/legion/examples/discovery/registrypb"
	"github.com/legion-go/legion/lattice"
)

const sec = int64(time.Second)

func pingEvent(addr, ver string, ttl int64) *pb.ServiceEvent {
	return &pb.ServiceEvent{Kind: &pb.ServiceEvent_Ping{Ping: &pb.Ping{Address: addr, Version: ver, TtlNanos: ttl}}}
}

func lookupAt(now int64) *pb.ServiceEvent {
	return &pb.ServiceEvent{Kind: &pb.ServiceEvent_Lookup{Lookup: &pb.Lookup{NowNanos: now}}}
}

func mustApply(t *testing.T, s *pb.Service, e *pb.ServiceEvent, at int64) (*pb.Service, *pb.ServiceOutput) {
	t.Helper()
	s, out, err := applyService(s, e, lattice.Meta{Time: at})
	if err != nil {
		t.Fatalf("apply %v at %d: %v", e, at, err)
	}
	return s, out
}

func liveAt(t *testing.T, s *pb.Service, now int64) []string {
	t.Helper()
	out, err := queryService(s, lookupAt(now))
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(out.GetInstances()))
}

// TestServiceExpiry: liveness is a function of the state and the lookup's time only;
// pings prune what expired at their own time.
func TestServiceExpiry(t *testing.T) {
	ttl := 30 * sec
	s := &pb.Service{}
	s, out := mustApply(t, s, pingEvent("https://a:1", "1.0.0", ttl), 100*sec)
	if !out.Registered || out.Indexed {
		t.Fatalf("first ping: %v", out)
	}
	s, out = mustApply(t, s, pingEvent("https://b:1", "1.1.0", ttl), 110*sec)
	if !out.Registered {
		t.Fatalf("b's first ping: %v", out)
	}
	s, out = mustApply(t, s, pingEvent("https://a:1", "1.0.1", ttl), 115*sec)
	if out.Registered {
		t.Fatalf("a refreshed: %v", out)
	}
	if got := s.Instances["https://a:1"]; got.Version != "1.0.1" || got.LastPing != 115*sec || got.ExpiresAt != 145*sec {
		t.Fatalf("a after its refresh: %v", got)
	}
	for now, want := range map[int64][]string{
		0: {"https://a:1", "https://b:1"}, 139 * sec: {"https://a:1", "https://b:1"},
		140 * sec: {"https://a:1"}, 144 * sec: {"https://a:1"}, 145 * sec: nil,
	} {
		if got := liveAt(t, s, now); !slices.Equal(got, want) {
			t.Errorf("live at %ds: %v, want %v", now/sec, got, want)
		}
	}
	// A ping at 141s prunes b (expired at 140s) from the state.
	s, out = mustApply(t, s, pingEvent("https://c:1", "2.0.0", ttl), 141*sec)
	if got := slices.Sorted(maps.Keys(s.Instances)); !slices.Equal(got, []string{"https://a:1", "https://c:1"}) {
		t.Fatalf("after pruning at 141s: %v", got)
	}
	// b pings again after expiring: a new registration.
	_, out = mustApply(t, s, pingEvent("https://b:1", "1.1.0", ttl), 150*sec)
	if !out.Registered {
		t.Fatalf("b re-registering: %v", out)
	}
}

// TestServiceOutOfOrder: the log may order a ping with an earlier time after one with a
// later time (ids are Lamport clocks, not timestamps); the later time wins.
func TestServiceOutOfOrder(t *testing.T) {
	s := &pb.Service{}
	s, _ = mustApply(t, s, pingEvent("https://a:1", "1.2.0", 10*sec), 200*sec)
	s, _ = mustApply(t, s, pingEvent("https://a:1", "1.1.0", 10*sec), 195*sec)
	if got := s.Instances["https://a:1"]; got.Version != "1.2.0" || got.LastPing != 200*sec || got.ExpiresAt != 210*sec {
		t.Fatalf("after an older ping: %v", got)
	}
}

// TestServiceDeterministic: the same events in the same order give the same state,
// whatever state object they start from (Apply reads nothing but its arguments).
func TestServiceDeterministic(t *testing.T) {
	events := []*pb.ServiceEvent{pingEvent("https://a:1", "1.0.0", 5*sec), pingEvent("https://b:1", "1.0.0", 5*sec),
		{Kind: &pb.ServiceEvent_Indexed{Indexed: &pb.Indexed{}}}, pingEvent("https://a:1", "1.0.1", 5*sec)}
	times := []int64{1 * sec, 3 * sec, 4 * sec, 9 * sec} // the last ping prunes b (expired at 8s)
	var states []*pb.Service
	for range 2 {
		s := &pb.Service{}
		for i, e := range events {
			s, _ = mustApply(t, s, e, times[i])
		}
		states = append(states, s)
	}
	if !proto.Equal(states[0], states[1]) {
		t.Fatalf("two folds differ: %v and %v", states[0], states[1])
	}
	if !states[0].Indexed || len(states[0].Instances) != 1 {
		t.Fatalf("final state: %v", states[0])
	}
}

func TestServiceRejects(t *testing.T) {
	for name, e := range map[string]*pb.ServiceEvent{
		"empty":       {},
		"lookup":      lookupAt(1),
		"no address":  pingEvent("", "1.0.0", sec),
		"bad version": pingEvent("https://a:1", "1.0", sec),
		"no ttl":      pingEvent("https://a:1", "1.0.0", 0),
	} {
		if _, _, err := applyService(&pb.Service{}, e, lattice.Meta{Time: 1}); err == nil {
			t.Errorf("%s: applied, want a rejection", name)
		}
	}
	if _, err := queryService(&pb.Service{}, pingEvent("https://a:1", "1.0.0", sec)); err == nil {
		t.Errorf("a ping as a query: answered, want an error")
	}
}

// TestQueryDoesNotModify: a lookup's answer does not alias the state.
func TestQueryDoesNotModify(t *testing.T) {
	s, _ := mustApply(t, &pb.Service{}, pingEvent("https://a:1", "1.0.0", 10*sec), sec)
	before := proto.Clone(s)
	out, _ := queryService(s, lookupAt(0))
	out.Instances["https://a:1"].Version = "9.9.9"
	out.Instances["https://z:1"] = &pb.Instance{}
	if !proto.Equal(s, before) {
		t.Fatalf("the query's answer aliases the state: %v", s)
	}
}

func TestIndexIdempotent(t *testing.T) {
	add := func(name string) *pb.IndexEvent {
		return &pb.IndexEvent{Kind: &pb.IndexEvent_AddService{AddService: &pb.AddService{Name: name}}}
	}
	call := func(caller, callee string) *pb.IndexEvent {
		return &pb.IndexEvent{Kind: &pb.IndexEvent_AddCall{AddCall: &pb.AddCall{Caller: caller, Callee: callee}}}
	}
	s := &pb.Index{}
	for i, e := range []*pb.IndexEvent{add("billing"), add("billing"), call("web", "billing"), call("web", "billing"), add("users")} {
		var err error
		if s, _, err = applyIndex(s, e, lattice.Meta{Time: int64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	want := &pb.Index{Services: map[string]int64{"billing": 1, "users": 5},
		Callers: map[string]*pb.Callers{"billing": {FirstSeen: map[string]int64{"web": 3}}}}
	if !proto.Equal(s, want) {
		t.Fatalf("index: %v, want %v", s, want)
	}
	for name, e := range map[string]*pb.IndexEvent{"empty": {}, "list": {Kind: &pb.IndexEvent_List{List: &pb.List{}}},
		"bad name": add("no spaces"), "bad caller": call("", "billing")} {
		if _, _, err := applyIndex(&pb.Index{}, e, lattice.Meta{}); err == nil {
			t.Errorf("%s: applied, want a rejection", name)
		}
	}
	got, err := queryIndex(s, &pb.IndexEvent{Kind: &pb.IndexEvent_List{List: &pb.List{}}})
	if err != nil || !proto.Equal(got, want) {
		t.Fatalf("list: %v, %v", got, err)
	}
}

func TestIndexShard(t *testing.T) {
	seen := map[string]bool{}
	for i := range 200 {
		k := indexShard("service-" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
		seen[k] = true
	}
	if len(seen) != indexShards {
		t.Fatalf("200 names land on %d shards of %d", len(seen), indexShards)
	}
	if indexShard("billing") != indexShard("billing") {
		t.Fatal("indexShard is not a function")
	}
}

func TestCheckName(t *testing.T) {
	for _, s := range []string{"billing", "a", "A-b_c.d", "9lives", "x"} {
		if err := checkName(s); err != nil {
			t.Errorf("checkName(%q): %v", s, err)
		}
	}
	long := string(slices.Repeat([]byte("a"), maxNameBytes+1))
	for _, s := range []string{"", "-a", ".a", "_a", "a b", "a/b", "é", "a\x00", long} {
		if err := checkName(s); err == nil {
			t.Errorf("checkName(%q): ok, want an error", s)
		}
	}
}

// TestServiceTimers: the service's durable timer is due at its earliest expiry and its
// event removes what expired by then, and nothing later; a service without instances
// has no timer.
func TestServiceTimers(t *testing.T) {
	if ts := serviceTimers(&pb.Service{}); len(ts) != 0 {
		t.Fatalf("timers of an empty service: %v", ts)
	}
	s := &pb.Service{}
	s, _ = mustApply(t, s, pingEvent("https://a:1", "1.0.0", 30*sec), 100*sec) // until 130s
	s, _ = mustApply(t, s, pingEvent("https://b:1", "1.0.0", 10*sec), 105*sec) // until 115s
	ts := serviceTimers(s)
	if len(ts) != 1 || ts[0].At != 115*sec || ts[0].Event.GetExpire().GetAt() != 115*sec {
		t.Fatalf("timers %v, want one due at 115s expiring what expired then", ts)
	}
	s, _ = mustApply(t, s, ts[0].Event, 116*sec)
	if _, ok := s.Instances["https://b:1"]; ok || len(s.Instances) != 1 {
		t.Fatalf("after the timer: %v, want a only", s.Instances)
	}
	if ts := serviceTimers(s); len(ts) != 1 || ts[0].At != 130*sec {
		t.Fatalf("next timer %v, want one due at 130s", ts)
	}
	// An Expire that sorts after a ping extending a does not remove it.
	s, _ = mustApply(t, s, pingEvent("https://a:1", "1.0.0", 30*sec), 120*sec) // until 150s
	s, _ = mustApply(t, s, &pb.ServiceEvent{Kind: &pb.ServiceEvent_Expire{Expire: &pb.Expire{At: 130 * sec}}}, 131*sec)
	if len(s.Instances) != 1 {
		t.Fatalf("an Expire of 130s removed an instance extended to 150s: %v", s.Instances)
	}
}
