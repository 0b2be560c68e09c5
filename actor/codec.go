package actor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
)

// Codec encodes a kind's values (its state, events, queries and outputs) for the wire and
// the disk. Every node of a cluster must use the same codec for a kind: the bytes one
// node writes, another decodes.
//
// Encodings must be deterministic: the same value encodes to the same bytes on every node
// and every run (replicas compare and persist what they encode, and the kind checker
// compares encodings to find mutations). A value must also survive its encoding: what
// Unmarshal rebuilds from Marshal's bytes must behave as the original under Apply and
// Query, since a replica restored from a snapshot folds the rest of the log on it.
//
// Methods may be called concurrently, from any goroutine.
type Codec interface {
	// Marshal encodes v, a value of one of the kind's types.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into the value v points to, replacing what it held.
	Unmarshal(data []byte, v any) error
}

// Protobuf is the default codec: protobuf's binary encoding, with deterministic map
// ordering. Every type of a kind that uses it must be a protobuf message (a pointer to a
// generated struct, or a well-known type such as *wrapperspb.Int64Value).
var Protobuf Codec = protobufCodec{}

// JSON is a codec for plain Go types, on encoding/json, for kinds that need no protobuf
// and no generated code.
//
// Its encoding is deterministic: encoding/json writes struct fields in declaration order
// and sorts map keys, and its number formatting is fixed. What it keeps is what
// encoding/json keeps: exported fields only (an unexported field is lost on every replica
// that restores a snapshot: keep none in a state), no NaN or infinities (Marshal fails),
// no cycles, and strings as valid UTF-8 (invalid bytes become U+FFFD). Numbers decoded
// into an interface{} become float64: give fields concrete types. Types with their own
// MarshalJSON must keep it deterministic. actortest.CheckKind finds a state that does not
// survive its encoding.
//
// Decoding rejects trailing data after the value; unknown fields are ignored (a newer
// node's field is dropped by an older one).
var JSON Codec = jsonCodec{}

// Gob is not offered: encoding/gob's encoding of a map follows the map's iteration order,
// which differs from run to run, so two replicas would write different bytes for one
// state.

type protobufCodec struct{}

func (protobufCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("actor: protobuf codec: %T is not a protobuf message", v)
	}
	return deterministic.Marshal(m)
}

func (protobufCodec) Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("actor: protobuf codec: cannot decode into %T", v)
	}
	if m, ok := rv.Elem().Interface().(proto.Message); ok && rv.Elem().Kind() == reflect.Pointer {
		// v points to a message pointer (a *S for S = *pb.X): fill a new message.
		m = m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(data, m); err != nil {
			return err
		}
		rv.Elem().Set(reflect.ValueOf(m))
		return nil
	}
	if m, ok := v.(proto.Message); ok {
		return proto.Unmarshal(data, m)
	}
	return fmt.Errorf("actor: protobuf codec: %T is not a protobuf message", v)
}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

func (jsonCodec) Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("actor: json codec: cannot decode into %T", v)
	}
	// Decode into a fresh value: json.Unmarshal merges into what v holds.
	fresh := reflect.New(rv.Elem().Type())
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(fresh.Interface()); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("actor: json codec: data after the value")
	}
	rv.Elem().Set(fresh.Elem())
	return nil
}

// typedCodec returns the codec of M: protobuf's own functions when c is the protobuf codec
// (no reflection on the hot path), else c's methods.
func typedCodec[M any](c Codec) wire.Codec[M] {
	if _, ok := c.(protobufCodec); ok {
		if _, ok := any(*new(M)).(proto.Message); ok {
			return wire.Codec[M]{
				Encode: func(m M) ([]byte, error) { return deterministic.Marshal(any(m).(proto.Message)) },
				Decode: func(b []byte) (M, error) {
					m := emptyLike(any(*new(M)).(proto.Message))
					err := proto.Unmarshal(b, m)
					return m.(M), err
				},
			}
		}
	}
	return wire.Codec[M]{
		Encode: func(m M) ([]byte, error) { return c.Marshal(m) },
		Decode: func(b []byte) (M, error) {
			var m M
			err := c.Unmarshal(b, &m)
			return m, err
		},
	}
}

// deterministic marshals protobuf messages with maps in key order.
var deterministic = proto.MarshalOptions{Deterministic: true}

// emptyLike returns a new empty message of zero's type.
func emptyLike(zero proto.Message) proto.Message { return zero.ProtoReflect().New().Interface() }

// checkProto reports an error when the protobuf codec is chosen for a type that is not a
// protobuf message.
func checkProto[M any](kind, what string) error {
	if _, ok := any(*new(M)).(proto.Message); !ok {
		return fmt.Errorf("actor: kind %q: its %s type %T is not a protobuf message: set Kind.Codec (actor.JSON for plain Go types)",
			kind, what, *new(M))
	}
	return nil
}
