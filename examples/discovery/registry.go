package main

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor"
	pb "github.com/legion-go/legion/examples/discovery/registrypb"
	"github.com/legion-go/legion/lattice"
)

// indexShards is the number of partitions of the index kind. Every node of a cluster must
// use the same number: it is a constant, not a flag.
const indexShards = 8

// maxNameBytes bounds a service name.
const maxNameBytes = 64

// Service is the kind of a service's partition (key: the service name). Its state holds
// the service's instances with their last ping and expiry times; pings are events, lookups
// are queries.
var Service = &actor.Kind[*pb.Service, *pb.ServiceEvent, *pb.ServiceOutput]{
	Name:   "service",
	Apply:  applyService,
	Query:  queryService,
	Timers: serviceTimers,
}

// Index is the kind of the cross-service index (key: a shard number, "0" to
// indexShards-1): each shard lists the services whose names hash to it, and who calls
// them (the graph's edges into those services).
var Index = &actor.Kind[*pb.Index, *pb.IndexEvent, *pb.Index]{
	Name:  "index",
	Apply: applyIndex,
	Query: queryIndex,
}

// indexShard returns the key of the index shard that lists the service name.
func indexShard(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return strconv.Itoa(int(h.Sum32() % indexShards))
}

// applyService folds a ping or an Indexed event into a service's state. It reads no
// clock: a ping's time is meta.Time, the origin's hybrid-logical-clock timestamp, the same
// on every replica.
func applyService(s *pb.Service, e *pb.ServiceEvent, meta lattice.Meta) (*pb.Service, *pb.ServiceOutput, error) {
	switch ev := e.GetKind().(type) {
	case *pb.ServiceEvent_Ping:
		return applyPing(s, ev.Ping, meta.Time)
	case *pb.ServiceEvent_Indexed:
		s.Indexed = true
		return s, &pb.ServiceOutput{Indexed: true}, nil
	case *pb.ServiceEvent_Expire:
		expire(s, ev.Expire.GetAt())
		return s, &pb.ServiceOutput{Indexed: s.Indexed}, nil
	case *pb.ServiceEvent_Lookup:
		return s, nil, errors.New("a lookup is a query, not an event")
	}
	return s, nil, errors.New("empty service event")
}

// serviceTimers is the service's durable timer: due at its earliest expiry, it logs an
// Expire of that time, which removes the instances that expired then. A ping that
// extends the instance first moves the timer (a new schedule: the old one never fires);
// an Expire that sorts after such a ping removes nothing it extended.
func serviceTimers(s *pb.Service) []actor.DurableTimer[*pb.ServiceEvent] {
	at := int64(math.MaxInt64)
	for _, in := range s.GetInstances() {
		at = min(at, in.GetExpiresAt())
	}
	if at == math.MaxInt64 {
		return nil
	}
	return []actor.DurableTimer[*pb.ServiceEvent]{{ID: "expire", At: at,
		Event: &pb.ServiceEvent{Kind: &pb.ServiceEvent_Expire{Expire: &pb.Expire{At: at}}}}}
}

// expire removes the instances that expire at or before at.
func expire(s *pb.Service, at int64) {
	for addr, in := range s.Instances {
		if in.GetExpiresAt() <= at {
			delete(s.Instances, addr)
		}
	}
}

// applyPing prunes the instances expired at time now, then registers or refreshes the
// pinging instance: it lives until now + TTL (or longer, if a ping that sorts earlier in
// the log carries a later time: events are applied in log order, not time order).
func applyPing(s *pb.Service, p *pb.Ping, now int64) (*pb.Service, *pb.ServiceOutput, error) {
	switch {
	case p.GetAddress() == "":
		return s, nil, errors.New("ping without an address")
	case p.GetTtlNanos() <= 0:
		return s, nil, fmt.Errorf("ping with TTL %dns", p.GetTtlNanos())
	}
	if _, err := parseVersion(p.GetVersion()); err != nil {
		return s, nil, err
	}
	expire(s, now)
	if s.Instances == nil {
		s.Instances = map[string]*pb.Instance{}
	}
	in, ok := s.Instances[p.Address]
	if !ok {
		in = &pb.Instance{}
		s.Instances[p.Address] = in
	}
	if now >= in.LastPing {
		in.LastPing, in.Version = now, p.Version
	}
	expires := int64(math.MaxInt64)
	if now <= math.MaxInt64-p.TtlNanos {
		expires = now + p.TtlNanos
	}
	in.ExpiresAt = max(in.ExpiresAt, expires)
	return s, &pb.ServiceOutput{Registered: !ok, Indexed: s.Indexed}, nil
}

// queryService answers a lookup: the instances live at the lookup's time (expiring
// strictly after it). The answer depends only on the state and the query.
func queryService(s *pb.Service, q *pb.ServiceEvent) (*pb.ServiceOutput, error) {
	l := q.GetLookup()
	if l == nil {
		return nil, errors.New("only lookups are queries")
	}
	out := &pb.ServiceOutput{Indexed: s.GetIndexed(), Instances: map[string]*pb.Instance{}}
	for addr, in := range s.GetInstances() {
		if in.GetExpiresAt() > l.GetNowNanos() {
			out.Instances[addr] = proto.CloneOf(in)
		}
	}
	return out, nil
}

// applyIndex folds an AddService or an AddCall into an index shard. Both are idempotent:
// the first one applied sets the time, later ones change nothing.
func applyIndex(s *pb.Index, e *pb.IndexEvent, meta lattice.Meta) (*pb.Index, *pb.Index, error) {
	switch ev := e.GetKind().(type) {
	case *pb.IndexEvent_AddService:
		name := ev.AddService.GetName()
		if err := checkName(name); err != nil {
			return s, nil, err
		}
		if s.Services == nil {
			s.Services = map[string]int64{}
		}
		if _, ok := s.Services[name]; !ok {
			s.Services[name] = meta.Time
		}
		return s, &pb.Index{}, nil
	case *pb.IndexEvent_AddCall:
		caller, callee := ev.AddCall.GetCaller(), ev.AddCall.GetCallee()
		if err := errors.Join(checkName(caller), checkName(callee)); err != nil {
			return s, nil, err
		}
		if s.Callers == nil {
			s.Callers = map[string]*pb.Callers{}
		}
		c, ok := s.Callers[callee]
		if !ok {
			c = &pb.Callers{FirstSeen: map[string]int64{}}
			s.Callers[callee] = c
		}
		if _, ok := c.FirstSeen[caller]; !ok {
			c.FirstSeen[caller] = meta.Time
		}
		return s, &pb.Index{}, nil
	case *pb.IndexEvent_List:
		return s, nil, errors.New("a list is a query, not an event")
	}
	return s, nil, errors.New("empty index event")
}

// queryIndex answers a list: the whole shard.
func queryIndex(s *pb.Index, q *pb.IndexEvent) (*pb.Index, error) {
	if q.GetList() == nil {
		return nil, errors.New("only lists are queries")
	}
	return proto.CloneOf(s), nil
}

// checkName checks a service name: 1 to maxNameBytes of [A-Za-z0-9._-], starting with a
// letter or a digit.
func checkName(name string) error {
	if name == "" || len(name) > maxNameBytes {
		return fmt.Errorf("service name %q: want 1 to %d bytes", name, maxNameBytes)
	}
	for i, c := range []byte(name) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return fmt.Errorf("service name %q: want letters, digits, '.', '_' or '-', starting with a letter or a digit", name)
		}
	}
	return nil
}
