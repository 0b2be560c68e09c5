package actor_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/lattice"
)

type ledger struct {
	Owner    string            `json:"owner"`
	Balances map[string]int64  `json:"balances"`
	ByDay    map[int]string    `json:"by_day"`
	Tags     []string          `json:"tags,omitempty"`
	Nested   map[string]ledger `json:"nested,omitempty"`
}

// shuffledLedger builds the same ledger with its maps filled in a random order.
func shuffledLedger(r *rand.Rand) ledger {
	l := ledger{Owner: "ann <&>", Balances: map[string]int64{}, ByDay: map[int]string{}, Tags: []string{"b", "a"},
		Nested: map[string]ledger{}}
	for _, i := range r.Perm(20) {
		l.Balances[fmt.Sprintf("acct-%02d", i)] = int64(i * 1000)
		l.ByDay[i-10] = fmt.Sprint("day", i)
	}
	for _, i := range r.Perm(3) {
		l.Nested[fmt.Sprint("n", i)] = ledger{Balances: map[string]int64{"x": int64(i), "y": -1}}
	}
	return l
}

// TestJSONDeterministic: a value encodes to the same bytes whatever order its maps were
// filled in, on every run (the bytes are pinned), and decodes back to an equal value.
func TestJSONDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	first, err := actor.JSON.Marshal(shuffledLedger(r))
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		b, err := actor.JSON.Marshal(shuffledLedger(r))
		if err != nil || !bytes.Equal(b, first) {
			t.Fatalf("encodings differ:\n%s\n%s (%v)", first, b, err)
		}
	}
	const pinned = `{"owner":"ann \u003c\u0026\u003e","balances":{"acct-00":0,"acct-01":1000,`
	if !strings.HasPrefix(string(first), pinned) || !strings.Contains(string(first), `"by_day":{"-1":"day9","-10":"day0",`) {
		t.Fatalf("the encoding changed: %s", first)
	}
	var back ledger
	if err := actor.JSON.Unmarshal(first, &back); err != nil {
		t.Fatal(err)
	}
	if again, _ := actor.JSON.Marshal(back); !bytes.Equal(again, first) {
		t.Fatalf("a round trip changed the value:\n%s\n%s", first, again)
	}
}

// TestJSONUnmarshal: decoding replaces what the target held (encoding/json alone merges),
// and refuses trailing data and a target that is not a pointer.
func TestJSONUnmarshal(t *testing.T) {
	l := ledger{Owner: "old", Balances: map[string]int64{"stale": 1}}
	if err := actor.JSON.Unmarshal([]byte(`{"balances":{"new":2}}`), &l); err != nil {
		t.Fatal(err)
	}
	if l.Owner != "" || len(l.Balances) != 1 || l.Balances["new"] != 2 {
		t.Fatalf("decoded into %+v: merged with what it held", l)
	}
	if err := actor.JSON.Unmarshal([]byte(`{} {}`), &l); err == nil {
		t.Fatal("trailing data accepted")
	}
	if err := actor.JSON.Unmarshal([]byte(`{}`), l); err == nil {
		t.Fatal("decoded into a non-pointer")
	}
}

// TestProtobufDeterministic: the protobuf codec writes maps in key order, so one message
// encodes to the same bytes whatever order its map was filled in.
func TestProtobufDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	build := func() *structpb.Struct {
		s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for _, i := range r.Perm(30) {
			s.Fields[fmt.Sprint("f", i)] = structpb.NewNumberValue(float64(i))
		}
		return s
	}
	first, err := actor.Protobuf.Marshal(build())
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if b, _ := actor.Protobuf.Marshal(build()); !bytes.Equal(b, first) {
			t.Fatal("encodings differ")
		}
	}
	var m *structpb.Struct // decoding into a nil message pointer allocates one
	if err := actor.Protobuf.Unmarshal(first, &m); err != nil || len(m.GetFields()) != 30 {
		t.Fatalf("decoded %v, %v", m, err)
	}
	direct := &structpb.Struct{}
	if err := actor.Protobuf.Unmarshal(first, direct); err != nil || !proto.Equal(direct, m) {
		t.Fatalf("decoded into a message: %v, %v", direct, err)
	}
	if _, err := actor.Protobuf.Marshal(ledger{}); err == nil {
		t.Fatal("encoded a plain struct as protobuf")
	}
	if err := actor.Protobuf.Unmarshal(first, &ledger{}); err == nil {
		t.Fatal("decoded protobuf into a plain struct")
	}
}

// TestGobIsNotDeterministic records why there is no gob codec: gob writes a map in its
// iteration order, so one value encodes to different bytes.
func TestGobIsNotDeterministic(t *testing.T) {
	m := map[string]int{}
	for i := range 32 {
		m[fmt.Sprint("k", i)] = i
	}
	seen := map[string]bool{}
	for range 20 {
		var b bytes.Buffer
		if err := gob.NewEncoder(&b).Encode(m); err != nil {
			t.Fatal(err)
		}
		seen[b.String()] = true
	}
	if len(seen) < 2 {
		t.Fatal("gob encoded a 32-key map identically 20 times: is it deterministic now? then a gob codec could be offered")
	}
}

// TestPlainKindNeedsCodec: a kind of plain types without a codec (protobuf by default)
// does not start, and the error says what to set.
func TestPlainKindNeedsCodec(t *testing.T) {
	k := &actor.KindOf[ledger, string, string, int]{Name: "ledger",
		Apply: func(s ledger, _ string, _ lattice.Meta) (ledger, int, error) { return s, 0, nil }}
	n, err := actor.Start(context.Background(), actor.Config{Name: "n", Membership: memory.NewRegistry().Provider(),
		Kinds: []actor.KindSpec{k}})
	if err == nil {
		n.Stop(context.Background())
		t.Fatal("started")
	}
	for _, want := range []string{"actor_test.ledger is not a protobuf message", "query type string", "actor.JSON"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// A state JSON cannot encode does not start either.
	type withChan struct{ C chan int }
	bad := &actor.KindOf[withChan, string, string, int]{Name: "chan", Codec: actor.JSON,
		Initial: func() withChan { return withChan{C: make(chan int)} },
		Apply:   func(s withChan, _ string, _ lattice.Meta) (withChan, int, error) { return s, 0, nil }}
	n, err = actor.Start(context.Background(), actor.Config{Name: "n", Membership: memory.NewRegistry().Provider(),
		Kinds: []actor.KindSpec{bad}})
	if err == nil {
		n.Stop(context.Background())
		t.Fatal("a kind whose state JSON cannot encode started")
	}
	if !strings.Contains(err.Error(), "the initial state does not encode") {
		t.Errorf("error %q", err)
	}
	// Protobuf types with the protobuf codec, and plain types with JSON, start.
	ok := &actor.KindOf[*wrapperspb.Int64Value, *wrapperspb.Int64Value, *wrapperspb.StringValue, *wrapperspb.Int64Value]{
		Name: "ok", Apply: func(s, _ *wrapperspb.Int64Value, _ lattice.Meta) (*wrapperspb.Int64Value, *wrapperspb.Int64Value, error) {
			return s, s, nil
		}}
	k.Codec = actor.JSON
	n, err = actor.Start(context.Background(), actor.Config{Name: "n", Membership: memory.NewRegistry().Provider(),
		Kinds: []actor.KindSpec{k, ok}})
	if err != nil {
		t.Fatal(err)
	}
	n.Stop(context.Background())
}

// TestInitialState: without Initial, a kind's state is the zero value, a new value for a
// pointer type, and an empty message for protobuf.
func TestInitialState(t *testing.T) {
	if s := (&actor.KindOf[ledger, int, int, int]{}).InitialState(); s.Owner != "" || s.Balances != nil {
		t.Errorf("value state: %+v", s)
	}
	if s := (&actor.KindOf[*ledger, int, int, int]{}).InitialState(); s == nil {
		t.Error("pointer state: nil")
	}
	if s := (&actor.Kind[*wrapperspb.Int64Value, *wrapperspb.Int64Value, *wrapperspb.Int64Value]{}).InitialState(); s == nil {
		t.Error("protobuf state: nil")
	}
	k := &actor.KindOf[*ledger, int, int, int]{Codec: actor.JSON}
	orig := &ledger{Balances: map[string]int64{"a": 1}}
	c := k.CloneState(orig)
	c.Balances["a"] = 2
	if orig.Balances["a"] != 1 {
		t.Error("the default Clone shares a map with the original")
	}
}
