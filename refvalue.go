package goray

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/actors/codec"
	pb "github.com/goray-dev/goray/proto"
)

// Refs and actor handles inside values.
//
// A Ref[T] or ActorRef[S] may sit anywhere in a value that goray encodes: a
// parameter, an exported struct field, a slice or array element, a map
// value, behind pointers. It travels as a CBOR tag holding its wire form
// (an ObjectRef: ID, owner, locations; or an actor's ID and type). Whether
// a type can hold one is decided once per type (holdsRefs), so values of
// other types pay nothing for it.
//
// Before such a value is encoded, a walk over it collects the references
// it holds and refuses what cannot travel: a Ref to a freed object, a
// handle of a dead actor, a Ref in an unexported field or inside an
// interface value (which the decoder could not rebuild). After it is
// decoded, a walk binds each reference to the decoding process: a Ref to
// an object this process owns or already holds is that same reference; any
// other becomes a borrow, registered at the object's owner.

// CBOR tag numbers of references inside values.
const (
	cborTagRef   = 0x676f7261 // "gora"
	cborTagActor = 0x676f7262
)

// refValue is implemented by Ref and ActorRef: values the walks stop at.
type refValue interface {
	scanRef(s *refScan) error
}

// refBinder is implemented by *Ref and *ActorRef.
type refBinder interface {
	bindRef(b *binder) error
}

var refValueType = reflect.TypeFor[refValue]()

// refKinds says how a type can hold references: concrete, through its
// own fields, elements and pointers; dynamic, through an interface.
type refKinds struct{ concrete, dynamic bool }

// refKindsCache maps a reflect.Type to its refKinds. It is filled as types
// are met and never changed after.
var refKindsCache sync.Map

func refKindsOf(t reflect.Type) refKinds {
	switch t.Kind() {
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return refKinds{dynamic: true} // any: only its content decides
		}
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
	default:
		// Scalars, strings, funcs and channels hold no references (only
		// the structs Ref and ActorRef are refValues): skip the cache.
		return refKinds{}
	}
	if v, ok := refKindsCache.Load(t); ok {
		return v.(refKinds)
	}
	var k refKinds
	typeRefKinds(t, map[reflect.Type]bool{}, &k)
	refKindsCache.Store(t, k)
	return k
}

// holdsRefs reports whether a value of type t can hold a Ref or ActorRef
// when it is encoded: such values are walked before encoding. Interfaces
// count, since what they hold is only known at run time.
func holdsRefs(t reflect.Type) bool {
	k := refKindsOf(t)
	return k.concrete || k.dynamic
}

// decodesRefs reports whether decoding into a t can produce references
// (never inside an interface): such values are walked after decoding.
func decodesRefs(t reflect.Type) bool { return refKindsOf(t).concrete }

// holdsRefsOf is holdsRefs for a type parameter.
func holdsRefsOf[T any]() bool { return holdsRefs(reflect.TypeFor[T]()) }

// decodesRefsOf is decodesRefs for a type parameter.
func decodesRefsOf[T any]() bool { return decodesRefs(reflect.TypeFor[T]()) }

func typeRefKinds(t reflect.Type, seen map[reflect.Type]bool, k *refKinds) {
	if t.Implements(refValueType) {
		k.concrete = true
		return
	}
	if seen[t] {
		return // a cycle: its other paths decide
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		k.dynamic = true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		typeRefKinds(t.Elem(), seen, k)
	case reflect.Map:
		typeRefKinds(t.Key(), seen, k)
		typeRefKinds(t.Elem(), seen, k)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				typeRefKinds(f.Type, seen, k)
			} else {
				// Unexported fields are not encoded: only a concrete
				// reference there matters (scan refuses it).
				var u refKinds
				typeRefKinds(f.Type, map[reflect.Type]bool{}, &u)
				k.concrete = k.concrete || u.concrete
			}
		}
	}
}

// maxWalkDepth bounds the walks, so that a cyclic value fails instead of
// recursing forever (the codec refuses such values as well).
const maxWalkDepth = 10_000

var errWalkDepth = fmt.Errorf("%w: value nests more than %d levels deep (a cycle?)", ErrInvalidArgument, maxWalkDepth)

// refScan collects the references a value holds, before it is encoded.
type refScan struct {
	refs   []*handle
	actors []*actorHandle
}

// scan walks v and collects its references, refusing those that cannot
// travel.
func (s *refScan) scan(v reflect.Value, path string, depth int) error {
	if depth > maxWalkDepth {
		return errWalkDepth
	}
	t := v.Type()
	if !holdsRefs(t) {
		return nil
	}
	if t.Implements(refValueType) {
		if err := v.Interface().(refValue).scanRef(s); err != nil {
			return fmt.Errorf("%s: %w", pathOr(path), err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			return s.scan(v.Elem(), path, depth+1)
		}
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		e := v.Elem()
		found := &refScan{}
		if err := found.scan(e, path, depth+1); err != nil {
			return err
		}
		if !found.empty() {
			return fmt.Errorf("%w: %s: a Ref or ActorRef inside an interface value (%s) cannot be decoded; give it a concrete type", ErrInvalidArgument, pathOr(path), e.Type())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := s.scan(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		if holdsRefs(t.Key()) && v.Len() > 0 {
			return fmt.Errorf("%w: %s: map keys cannot hold a Ref or ActorRef", ErrInvalidArgument, pathOr(path))
		}
		it := v.MapRange()
		for it.Next() {
			if err := s.scan(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key()), depth+1); err != nil {
				return err
			}
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !holdsRefs(f.Type) {
				continue
			}
			fv := v.Field(i)
			if !f.IsExported() {
				if refKindsOf(f.Type).concrete && !fv.IsZero() {
					return fmt.Errorf("%w: %s.%s: an unexported field holding a Ref or ActorRef is not encoded; export it", ErrInvalidArgument, pathOr(path), f.Name)
				}
				continue
			}
			if err := s.scan(fv, path+"."+f.Name, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *refScan) empty() bool { return len(s.refs) == 0 && len(s.actors) == 0 }

func pathOr(path string) string {
	if path == "" {
		return "value"
	}
	return "value" + path
}

// scanValue collects the references v holds; it returns nil when it holds
// none.
func scanValue[T any](v T) (*refScan, error) {
	s := &refScan{}
	if err := s.scan(reflect.ValueOf(&v).Elem(), "", 0); err != nil {
		return nil, err
	}
	if s.empty() {
		return nil, nil
	}
	return s, nil
}

// encodeValue encodes v, a value of a type that may hold references (refs
// true), and returns the references it holds.
func encodeValue[T any](v T, refs bool) ([]byte, *refScan, error) {
	var s *refScan
	if refs {
		var err error
		if s, err = scanValue(v); err != nil {
			return nil, nil, err
		}
		if s != nil {
			for _, h := range s.refs {
				h.rt.export(h)
			}
		}
	}
	b, err := codec.Encode(v)
	if err != nil {
		return nil, nil, err
	}
	return b, s, nil
}

// decodeValue decodes data into a T and binds the references it holds to
// the runtime of ctx, waiting until their owners registered the borrows.
func decodeValue[T any](ctx context.Context, data []byte, refs bool) (T, error) {
	if !refs {
		return codec.Decode[T](data)
	}
	return decodeBound[T](ctx, data)
}

// decodeBound is decodeValue of a type that can hold references; apart, so
// that a plain value does not escape to the heap.
func decodeBound[T any](ctx context.Context, data []byte) (T, error) {
	v, err := codec.Decode[T](data)
	if err != nil {
		return v, err
	}
	rt, err := runtimeOf(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	b := rt.newBinder()
	if err := b.bind(reflect.ValueOf(&v).Elem(), 0); err != nil {
		var zero T
		return zero, err
	}
	if err := b.finish(ctx); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// bind walks a decoded, addressable value and binds its references.
func (b *binder) bind(v reflect.Value, depth int) error {
	if depth > maxWalkDepth {
		return errWalkDepth
	}
	t := v.Type()
	if !decodesRefs(t) {
		return nil
	}
	if t.Implements(refValueType) {
		return v.Addr().Interface().(refBinder).bindRef(b)
	}
	switch t.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			return b.bind(v.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := b.bind(v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		if !decodesRefs(t.Elem()) {
			return nil
		}
		it := v.MapRange()
		for it.Next() {
			e := reflect.New(t.Elem()).Elem()
			e.Set(it.Value())
			if err := b.bind(e, depth+1); err != nil {
				return err
			}
			v.SetMapIndex(it.Key(), e)
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && decodesRefs(f.Type) {
				if err := b.bind(v.Field(i), depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// scanRef implements refValue: a zero Ref travels as a zero Ref; one that
// failed, was freed or whose runtime ended cannot travel.
func (r Ref[T]) scanRef(s *refScan) error {
	h := r.h
	if h == nil {
		return nil
	}
	if h.slot == nil {
		return fmt.Errorf("%w: a Ref that was not bound to a runtime", ErrInvalidArgument)
	}
	if h.err != nil {
		return h.err
	}
	if err := h.ended(); err != nil {
		return err
	}
	if _, _, _, _, freed := h.slot.Value(); freed {
		return fmt.Errorf("%w: %s", ErrObjectFreed, h.slot.ID)
	}
	s.refs = append(s.refs, h)
	return nil
}

// MarshalCBOR encodes the reference for the codec: its object's ID, owner
// and locations.
func (r Ref[T]) MarshalCBOR() ([]byte, error) {
	if r.h == nil {
		return []byte{0xf6}, nil // null: a zero Ref
	}
	if r.h.slot == nil {
		return nil, errors.New("goray: Ref not bound to a runtime")
	}
	b, err := proto.Marshal(r.h.wireRef())
	if err != nil {
		return nil, err
	}
	return cbor.Marshal(cbor.Tag{Number: cborTagRef, Content: b})
}

// UnmarshalCBOR decodes a reference; it is bound to a runtime once the
// whole value is decoded.
func (r *Ref[T]) UnmarshalCBOR(data []byte) error {
	if len(data) == 1 && (data[0] == 0xf6 || data[0] == 0xf7) {
		r.h = nil
		return nil
	}
	var tag cbor.RawTag
	if err := cbor.Unmarshal(data, &tag); err != nil {
		return err
	}
	if tag.Number != cborTagRef {
		return fmt.Errorf("goray: CBOR tag %d is not a Ref", tag.Number)
	}
	var b []byte
	if err := cbor.Unmarshal(tag.Content, &b); err != nil {
		return err
	}
	ref := &pb.ObjectRef{}
	if err := proto.Unmarshal(b, ref); err != nil {
		return err
	}
	if err := ref.Validate(); err != nil {
		return err
	}
	r.h = &handle{wire: ref}
	return nil
}

func (r *Ref[T]) bindRef(b *binder) error {
	if r.h == nil {
		return nil
	}
	if r.h.wire == nil || r.h.slot != nil {
		return nil // bound already
	}
	r.h = b.ref(r.h.wire)
	return nil
}

// scanRef implements refValue: the handle of a dead actor cannot travel.
func (r ActorRef[S]) scanRef(s *refScan) error {
	a := r.a
	if a == nil {
		return nil
	}
	if a.rt == nil {
		return fmt.Errorf("%w: an ActorRef that was not bound to a runtime", ErrInvalidArgument)
	}
	if err := a.rt.err(); err != nil {
		return err
	}
	a.mu.Lock()
	dead := a.dead
	a.mu.Unlock()
	if dead != nil {
		return fmt.Errorf("%w: actor %s (%x): %s", ErrActorDied, a.typeName, a.id, dead.Message)
	}
	s.actors = append(s.actors, a)
	if life := a.lifeRef(); life != nil {
		// The handle references the actor's lifetime: it travels as a Ref.
		s.refs = append(s.refs, life)
	}
	return nil
}

// actorWire is an ActorRef's wire form inside a value. Owner names the
// core that owns the actor's lifetime object (empty for a detached actor).
type actorWire struct {
	_            struct{} `cbor:",toarray"`
	ID           []byte
	TypeName     string
	Name         string
	OwnerAddress string
	OwnerID      string
}

// MarshalCBOR encodes the actor handle for the codec: the actor's ID and
// type.
func (r ActorRef[S]) MarshalCBOR() ([]byte, error) {
	if r.a == nil {
		return []byte{0xf6}, nil
	}
	w := actorWire{ID: r.a.id, TypeName: r.a.typeName, Name: r.a.name}
	if life := r.a.lifeRef(); life != nil {
		owner := life.owner
		if owner == nil {
			owner = life.rt.ownerPID
		}
		w.OwnerAddress, w.OwnerID = owner.Address, owner.Id
	}
	return cbor.Marshal(cbor.Tag{Number: cborTagActor, Content: w})
}

// UnmarshalCBOR decodes an actor handle; it is bound to a runtime once the
// whole value is decoded.
func (r *ActorRef[S]) UnmarshalCBOR(data []byte) error {
	if len(data) == 1 && (data[0] == 0xf6 || data[0] == 0xf7) {
		r.a = nil
		return nil
	}
	var tag cbor.RawTag
	if err := cbor.Unmarshal(data, &tag); err != nil {
		return err
	}
	if tag.Number != cborTagActor {
		return fmt.Errorf("goray: CBOR tag %d is not an ActorRef", tag.Number)
	}
	var w actorWire
	if err := cbor.Unmarshal(tag.Content, &w); err != nil {
		return err
	}
	if len(w.ID) != pb.IDLen {
		return fmt.Errorf("goray: actor ID of %d bytes", len(w.ID))
	}
	r.a = &actorHandle{id: w.ID, key: string(w.ID), typeName: w.TypeName, name: w.Name}
	if w.OwnerID != "" {
		// Bound, like a Ref, once the whole value is decoded.
		r.a.life = &handle{wire: &pb.ObjectRef{Id: w.ID, Owner: &pb.Pid{Address: w.OwnerAddress, Id: w.OwnerID}}}
	}
	return nil
}

func (r *ActorRef[S]) bindRef(b *binder) error {
	if r.a == nil || r.a.rt != nil {
		return nil
	}
	if !stateTypeHas[S](r.a.typeName) {
		return fmt.Errorf("%w: an ActorRef[%v] holds an actor of type %s", ErrInvalidArgument, reflect.TypeFor[S](), r.a.typeName)
	}
	var life *handle
	if r.a.life != nil {
		life = b.ref(r.a.life.wire)
	}
	r.a = b.rt.actorHandleFor(&pb.ActorInfo{ActorId: r.a.id, TypeName: r.a.typeName, Name: r.a.name, State: pb.ActorState_ACTOR_STATE_PENDING}, life)
	return nil
}
