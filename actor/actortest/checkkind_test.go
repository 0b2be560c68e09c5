package actortest

import (
	"errors"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/lattice"
)

// The checker's test kinds: a tally of plain structs on JSON. good is right; each of the
// others breaks one rule.
type (
	tally struct {
		Sum    int            `json:"sum"`
		Counts map[string]int `json:"counts,omitempty"`
		Last   *tallyEvent    `json:"last,omitempty"`
		hidden int            // unexported: JSON drops it
	}
	tallyEvent struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	tallyQuery struct {
		Name string `json:"name"`
	}
	tallyKind = actor.KindOf[*tally, *tallyEvent, tallyQuery, map[string]int]
)

// goodApply adds an event to the tally; it rejects negative counts.
func goodApply(s *tally, e *tallyEvent, _ lattice.Meta) (*tally, map[string]int, error) {
	if e.N < 0 {
		return s, nil, errors.New("negative")
	}
	if s.Counts == nil {
		s.Counts = map[string]int{}
	}
	s.Sum += e.N
	s.Counts[e.Name] += e.N
	return s, map[string]int{e.Name: s.Counts[e.Name]}, nil
}

func goodQuery(s *tally, q tallyQuery) (map[string]int, error) {
	return map[string]int{q.Name: s.Counts[q.Name], "": s.Sum}, nil
}

func tallyOf(change func(k *tallyKind)) *tallyKind {
	k := &tallyKind{Name: "tally", Codec: actor.JSON, Apply: goodApply, Query: goodQuery}
	if change != nil {
		change(k)
	}
	return k
}

var tallyGen = Gen[*tallyEvent, tallyQuery]{
	Event: func(r *rand.Rand) *tallyEvent {
		return &tallyEvent{Name: []string{"a", "b", "c"}[r.IntN(3)], N: r.IntN(12) - 1}
	},
	Query: func(r *rand.Rand) tallyQuery { return tallyQuery{Name: []string{"a", "b", "z"}[r.IntN(3)]} },
}

// TestCheckKindPasses: kinds that follow the rules pass, a plain one and a protobuf one.
func TestCheckKindPasses(t *testing.T) {
	CheckKind(t, tallyOf(nil), tallyGen)
	type i64 = wrapperspb.Int64Value
	counter := &actor.Kind[*i64, *i64, *i64]{
		Name: "counter",
		Apply: func(s, e *i64, _ lattice.Meta) (*i64, *i64, error) {
			s.Value += e.Value
			return s, wrapperspb.Int64(s.Value), nil
		},
		Query: func(s, _ *i64) (*i64, error) { return s, nil },
	}
	CheckKind(t, counter, Gen[*i64, *i64]{
		Event: func(r *rand.Rand) *i64 { return wrapperspb.Int64(r.Int64N(100)) },
		Query: func(*rand.Rand) *i64 { return &i64{} },
	})
}

// TestCheckKindCatches: the checker fails on each kind of broken rule, and says which (a
// checker that passes everything proves nothing).
func TestCheckKindCatches(t *testing.T) {
	for _, c := range []struct {
		name, want string
		kind       *tallyKind
	}{
		{"mutates its event", "Apply modified event", tallyOf(func(k *tallyKind) {
			k.Apply = func(s *tally, e *tallyEvent, m lattice.Meta) (*tally, map[string]int, error) {
				e.N++
				return goodApply(s, e, m)
			}
		})},
		{"reads the clock", "Apply is not deterministic", tallyOf(func(k *tallyKind) {
			k.Apply = func(s *tally, e *tallyEvent, m lattice.Meta) (*tally, map[string]int, error) {
				s.Sum = int(time.Now().UnixNano())
				return goodApply(s, e, m)
			}
		})},
		{"reads randomness", "Apply is not deterministic", tallyOf(func(k *tallyKind) {
			k.Apply = func(s *tally, e *tallyEvent, m lattice.Meta) (*tally, map[string]int, error) {
				s, out, err := goodApply(s, e, m)
				if out != nil {
					out["luck"] = rand.IntN(1 << 30)
				}
				return s, out, err
			}
		})},
		{"panics", "Apply panicked on event", tallyOf(func(k *tallyKind) {
			k.Apply = func(s *tally, e *tallyEvent, m lattice.Meta) (*tally, map[string]int, error) {
				if e.N == 7 {
					var none map[string]int
					none["x"] = 1
				}
				return goodApply(s, e, m)
			}
		})},
		{"query mutates", "Query modified the state", tallyOf(func(k *tallyKind) {
			k.Query = func(s *tally, q tallyQuery) (map[string]int, error) {
				s.Sum++
				return goodQuery(s, q)
			}
		})},
		{"query panics", "Query panicked", tallyOf(func(k *tallyKind) {
			k.Query = func(s *tally, q tallyQuery) (map[string]int, error) {
				return map[string]int{"": s.Counts["a"] / s.Counts["z"]}, nil
			}
		})},
		{"shallow clone", "Clone shares memory", tallyOf(func(k *tallyKind) {
			k.Clone = func(s *tally) *tally { c := *s; return &c }
		})},
		{"state lost by its codec", "does not survive its codec", tallyOf(func(k *tallyKind) {
			k.Clone = func(s *tally) *tally { c := *s; c.Counts = maps.Clone(s.Counts); return &c }
			k.Apply = func(s *tally, e *tallyEvent, m lattice.Meta) (*tally, map[string]int, error) {
				s.hidden++
				s, out, err := goodApply(s, e, m)
				if out != nil {
					out["hidden"] = s.hidden
				}
				return s, out, err
			}
		})},
		{"output shares the state", "changed when later events applied", tallyOf(func(k *tallyKind) {
			k.Apply = func(s *tally, e *tallyEvent, m lattice.Meta) (*tally, map[string]int, error) {
				s, _, err := goodApply(s, e, m)
				return s, s.Counts, err
			}
		})},
		{"keeps its event", "the state keeps a reference to it", tallyOf(func(k *tallyKind) {
			k.Apply = func(s *tally, e *tallyEvent, m lattice.Meta) (*tally, map[string]int, error) {
				if e.N < 0 {
					return s, nil, errors.New("negative")
				}
				if s.Last != nil {
					s.Last.N += e.N // through the reference: the earlier event changes
				}
				s.Last = e
				return goodApply(s, e, m)
			}
		})},
		{"reads a global", "not deterministic", func() *tallyKind {
			calls := 0
			return tallyOf(func(k *tallyKind) {
				k.Apply = func(s *tally, e *tallyEvent, m lattice.Meta) (*tally, map[string]int, error) {
					calls++
					s.Sum += calls
					return goodApply(s, e, m)
				}
			})
		}()},
		{"initial shared", "Initial returns memory it shares", func() *tallyKind {
			shared := &tally{} // every partition starts on one value, which Apply modifies
			return tallyOf(func(k *tallyKind) { k.Initial = func() *tally { return shared } })
		}()},
		{"initial not deterministic", "Initial is not deterministic", tallyOf(func(k *tallyKind) {
			n := 0
			k.Initial = func() *tally { n++; return &tally{Sum: n} }
		})},
	} {
		t.Run(c.name, func(t *testing.T) {
			gen := tallyGen
			gen.Runs = 50
			err := checkKind(c.kind, gen, 1)
			if err == nil {
				t.Fatalf("not caught")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("caught as\n%v\nwant %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "seed ") {
				t.Fatalf("no seed in\n%v", err)
			}
			t.Logf("%v", err)
		})
	}
}

// TestCheckKindReplays: the seed a failure names gives the same failure, as the first
// history (so LEGION_CHECK_SEED=seed replays it at once).
func TestCheckKindReplays(t *testing.T) {
	k := tallyOf(func(k *tallyKind) {
		k.Apply = func(s *tally, e *tallyEvent, m lattice.Meta) (*tally, map[string]int, error) {
			if s.Sum > 40 && e.Name == "c" {
				panic("too much")
			}
			return goodApply(s, e, m)
		}
	})
	first := checkKind(k, tallyGen, 12345)
	if first == nil {
		t.Fatal("not caught")
	}
	again := checkKind(k, tallyGen, first.seed)
	if again == nil || again.seed != first.seed {
		t.Fatalf("replaying seed %d: %v", first.seed, again)
	}
	if a, b := strings.Split(first.msg, "\nseed")[0], strings.Split(again.msg, "\nseed")[0]; a != b {
		t.Fatalf("the replay found\n%s\nnot\n%s", b, a)
	}
}

// TestCheckKindProtobufEvent: a protobuf kind whose Apply modifies its event is caught
// too (the comparison is by the protobuf encoding).
func TestCheckKindProtobufEvent(t *testing.T) {
	type i64 = wrapperspb.Int64Value
	bad := &actor.Kind[*i64, *i64, *i64]{
		Name: "bad",
		Apply: func(s, e *i64, _ lattice.Meta) (*i64, *i64, error) {
			s.Value += e.Value
			e.Value = 0
			return s, proto.CloneOf(s), nil
		},
	}
	err := checkKind(bad, Gen[*i64, *i64]{Event: func(r *rand.Rand) *i64 { return wrapperspb.Int64(1 + r.Int64N(9)) }}, 7)
	if err == nil || !strings.Contains(err.Error(), "Apply modified event") {
		t.Fatalf("got %v", err)
	}
}
