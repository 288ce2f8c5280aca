package goray

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// actorTypeNames maps a state type to the names of the actor types built on
// it, so GetActor can check a found actor has the state type asked for. It
// is part of the registry: filled at package initialisation, read after.
var actorTypeNames = struct {
	sync.RWMutex
	m map[reflect.Type][]string
}{m: map[reflect.Type][]string{}}

func stateTypeHas[S any](name string) bool {
	actorTypeNames.RLock()
	defer actorTypeNames.RUnlock()
	return slices.Contains(actorTypeNames.m[reflect.TypeFor[S]()], name)
}

// class is what Method needs of an actor type.
type class[S any] interface {
	typeName() string
	regErr() error
}

func registerActor[S any](name string, n int, ctor actors.Constructor) error {
	err := actors.Default.RegisterActor(&actors.ActorType{Name: name, NumArgs: n, New: ctor})
	if err == nil {
		actorTypeNames.Lock()
		t := reflect.TypeFor[S]()
		actorTypeNames.m[t] = append(actorTypeNames.m[t], name)
		actorTypeNames.Unlock()
	}
	return err
}

// ActorType0 is a registered actor type whose constructor takes no argument.
type ActorType0[S any] struct {
	name string
	err  error
}

// Actor0 registers an actor type whose constructor takes no argument.
func Actor0[S any](name string, ctor func(context.Context) (*S, error)) *ActorType0[S] {
	err := registerActor[S](name, 0, func(ctx context.Context, _ [][]byte) (any, error) {
		s, err := ctor(ctx)
		return nilCheck(name, s, err)
	})
	return &ActorType0[S]{name: name, err: err}
}

func (t *ActorType0[S]) typeName() string { return t.name }
func (t *ActorType0[S]) regErr() error    { return t.err }

// New creates an actor and returns its handle once it is alive (its
// constructor has run), or the reason it could not be created.
func (t *ActorType0[S]) New(ctx context.Context, opts ...Option) (ActorRef[S], error) {
	return newActor[S](ctx, t.name, nil, t.err, opts)
}

// ActorType is a registered actor type whose constructor takes an argument.
type ActorType[S, A any] struct {
	name string
	err  error
}

// Actor registers an actor type: a constructor building the state *S, whose
// methods are then registered with Method. Register at package level:
//
//	var counter = goray.Actor("counter", func(ctx context.Context, start int) (*Counter, error) {
//		return &Counter{n: start}, nil
//	})
func Actor[S, A any](name string, ctor func(context.Context, A) (*S, error)) *ActorType[S, A] {
	err := registerActor[S](name, 1, func(ctx context.Context, args [][]byte) (any, error) {
		a, err := decodeArg[A](name, args, 0)
		if err != nil {
			return nil, err
		}
		s, err := ctor(ctx, a)
		return nilCheck(name, s, err)
	})
	return &ActorType[S, A]{name: name, err: err}
}

func nilCheck[S any](name string, s *S, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%w: constructor of %s returned a nil state", ErrInvalidArgument, name)
	}
	return s, nil
}

func (t *ActorType[S, A]) typeName() string { return t.name }
func (t *ActorType[S, A]) regErr() error    { return t.err }

// New creates an actor from a plain constructor argument; see ActorType0.New.
func (t *ActorType[S, A]) New(ctx context.Context, a A, opts ...Option) (ActorRef[S], error) {
	s, err := encodeArg(a)
	return newActor[S](ctx, t.name, []argSpec{s}, firstErr(t.err, err), opts)
}

// NewFrom creates an actor whose constructor argument is an Arg (a Ref, or Val).
func (t *ActorType[S, A]) NewFrom(ctx context.Context, a Arg[A], opts ...Option) (ActorRef[S], error) {
	specs, err := argSpecs(a)
	return newActor[S](ctx, t.name, specs, firstErr(t.err, err), opts)
}

// ActorRef is a handle to a live actor whose state has type S. Copies refer
// to the same actor. Calls made through it from one goroutine run in the
// order they were made.
type ActorRef[S any] struct{ a *actorHandle }

// AnyActor is any ActorRef: what Kill takes.
type AnyActor interface {
	actorHandle() *actorHandle
}

func (r ActorRef[S]) actorHandle() *actorHandle { return r.a }

// ID returns the actor's ID in hex.
func (r ActorRef[S]) ID() string {
	if r.a == nil {
		return ""
	}
	return fmt.Sprintf("%x", r.a.id)
}

// Name returns the actor's name ("" when unnamed).
func (r ActorRef[S]) Name() string {
	if r.a == nil {
		return ""
	}
	return r.a.name
}

type actorHandle struct {
	rt       *runtime
	id       []byte
	typeName string
	name     string
	pid      *actor.PID

	// Calls whose Ref arguments are not ready wait here, and calls made
	// after them wait behind them, so calls keep the order they were made.
	mu      sync.Mutex
	backlog []*queuedCall
}

type queuedCall struct {
	call *pb.ActorCall
	args []argSpec
	slot *objects.Slot
}

func newActor[S any](ctx context.Context, typeName string, args []argSpec, argErr error, opts []Option) (ActorRef[S], error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return ActorRef[S]{}, err
	}
	if argErr != nil {
		return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w", typeName, argErr)
	}
	o, err := buildOptions(forActor, opts)
	if err != nil {
		return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w", typeName, err)
	}
	res, err := o.wireResources(forActor)
	if err != nil {
		return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w", typeName, err)
	}
	if _, err := actors.Default.Actor(typeName); err != nil {
		return ActorRef[S]{}, fmt.Errorf("%w: creating actor: %w", ErrNotFound, err)
	}
	// Constructor arguments that are Refs must be ready first.
	for _, a := range args {
		if a.ref != nil {
			if err := wait(ctx, a.ref); err != nil {
				return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w", typeName, err)
			}
		}
	}
	wire, err := resolved(args)
	if err != nil {
		return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w", typeName, err)
	}
	ns := rt.namespace
	if o.nsSet {
		ns = o.namespace
	}
	id := rt.ids.Next()
	spec := &pb.ActorSpec{
		ActorId: id[:], TypeName: typeName, Args: wire, Name: o.name, Namespace: ns,
		Detached: o.detached, MaxRestarts: o.maxRestarts, MaxTaskRetries: o.taskRetries,
		MaxConcurrency: o.concurrency, Resources: res, JobId: rt.jobID, Owner: rt.ownerPID,
	}
	reply, err := rt.request(ctx, rt.node.GCS, &pb.CreateActor{Spec: spec})
	if err != nil {
		return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w", typeName, err)
	}
	r, ok := reply.(*pb.CreateActorReply)
	if !ok {
		return ActorRef[S]{}, fmt.Errorf("%w: creating actor %s: unexpected reply %T", ErrSystem, typeName, reply)
	}
	if r.Error != nil {
		err := fromWire(r.Error)
		if k := r.Error.Kind; k == pb.ErrorKind_ERROR_KIND_USER || k == pb.ErrorKind_ERROR_KIND_PANIC {
			// The constructor failed: the actor is dead, for that reason.
			return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w: %w", typeName, ErrActorDied, err)
		}
		return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w", typeName, err)
	}
	return ActorRef[S]{a: rt.actorFromInfo(r.Info)}, nil
}

func (rt *runtime) actorFromInfo(info *pb.ActorInfo) *actorHandle {
	return &actorHandle{rt: rt, id: info.ActorId, typeName: info.TypeName, name: info.Name, pid: actors.PID(info.Pid)}
}

// GetActor finds the live actor registered under name, in the runtime's
// namespace or the one given with Namespace. It fails with ErrNotFound when
// there is none, and with ErrInvalidArgument when it is not of type S.
func GetActor[S any](ctx context.Context, name string, opts ...Option) (ActorRef[S], error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return ActorRef[S]{}, err
	}
	o, err := buildOptions(forActor, opts)
	if err != nil {
		return ActorRef[S]{}, err
	}
	ns := rt.namespace
	if o.nsSet {
		ns = o.namespace
	}
	reply, err := rt.request(ctx, rt.node.GCS, &pb.LookupActor{Name: name, Namespace: ns})
	if err != nil {
		return ActorRef[S]{}, fmt.Errorf("looking up actor %q: %w", name, err)
	}
	r := reply.(*pb.LookupActorReply)
	if r.Error != nil {
		return ActorRef[S]{}, fromWire(r.Error)
	}
	if !stateTypeHas[S](r.Info.TypeName) {
		return ActorRef[S]{}, fmt.Errorf("%w: actor %q is of type %s, not %v", ErrInvalidArgument, name, r.Info.TypeName, reflect.TypeFor[S]())
	}
	if r.Info.State == pb.ActorState_ACTOR_STATE_DEAD {
		return ActorRef[S]{}, fmt.Errorf("%w: actor %q: %s", ErrActorDied, name, r.Info.DeathCause)
	}
	return ActorRef[S]{a: rt.actorFromInfo(r.Info)}, nil
}

// KillOption configures Kill.
type KillOption func(*pb.KillActor)

// AllowRestart lets a killed actor restart if its MaxRestarts allows; by
// default a killed actor stays dead.
func AllowRestart() KillOption { return func(k *pb.KillActor) { k.NoRestart = false } }

// Kill stops an actor at once: its running call's context is cancelled, and
// calls to it fail with ErrActorDied (unless AllowRestart restarts it).
func Kill(ctx context.Context, a AnyActor, opts ...KillOption) error {
	h := a.actorHandle()
	if h == nil {
		return fmt.Errorf("%w: Kill: zero ActorRef", ErrInvalidArgument)
	}
	if h.rt.closed.Load() {
		return ErrShutdown
	}
	msg := &pb.KillActor{ActorId: h.id, NoRestart: true}
	for _, o := range opts {
		o(msg)
	}
	reply, err := h.rt.request(ctx, h.rt.node.GCS, msg)
	if err != nil {
		return fmt.Errorf("killing actor %x: %w", h.id, err)
	}
	if r := reply.(*pb.KillActorReply); r.Error != nil {
		return fromWire(r.Error)
	}
	return nil
}

// ActorInfo describes an actor as the cluster knows it.
type ActorInfo struct {
	ID, TypeName, Name, Namespace, NodeID, State, DeathCause string
	Restarts                                                 int
	Detached                                                 bool
}

// ListActors returns every actor the cluster knows, dead ones included.
func ListActors(ctx context.Context) ([]ActorInfo, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return nil, err
	}
	reply, err := rt.request(ctx, rt.node.GCS, &pb.ListActors{})
	if err != nil {
		return nil, err
	}
	var out []ActorInfo
	for _, i := range reply.(*pb.ListActorsReply).Actors {
		out = append(out, ActorInfo{
			ID: fmt.Sprintf("%x", i.ActorId), TypeName: i.TypeName, Name: i.Name, Namespace: i.Namespace,
			NodeID: i.NodeId, State: i.State.String(), DeathCause: i.DeathCause,
			Restarts: int(i.NumRestarts), Detached: i.Detached,
		})
	}
	return out, nil
}
