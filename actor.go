package goray

import (
	"context"
	"fmt"
	"reflect"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"weak"

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

// registerActor registers ctor as actor type name; nilFn reports that the
// user's constructor is nil, which the registry refuses.
func registerActor[S any](name string, n int, fn any, nilFn bool, ctor actors.Constructor) error {
	if nilFn {
		ctor = nil
	}
	err := actors.Default.RegisterActor(&actors.ActorType{Name: name, NumArgs: n, New: ctor, Signature: fmt.Sprintf("%T", fn)})
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
	err := registerActor[S](name, 0, ctor, ctor == nil, func(ctx context.Context, _ [][]byte) (any, error) {
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
	err := registerActor[S](name, 1, ctor, ctor == nil, func(ctx context.Context, args [][]byte) (any, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
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

// actorHandle is this process's view of one actor, shared by every ActorRef
// to it that the process holds. Calls queue here while the actor has no
// host yet or a call ahead of them waits for its Ref arguments, so calls
// leave in the order they were made. No callback runs under mu: slots are
// completed only after it is released.
type actorHandle struct {
	rt       *runtime
	id       []byte
	key      string // string(id)
	typeName string
	name     string
	// life is this process's reference to the actor's lifetime object
	// (nil for a detached actor): owned when this process created the
	// actor, else borrowed from the process that did. The actor is killed
	// once no process reaches that object any more.
	life *handle

	mu        sync.Mutex
	pid       *actor.PID // nil until the actor has a host
	dead      *pb.Error  // set once the actor is known dead
	resolving bool       // a ResolveActor is on its way to the GCS
	backlog   []*queuedCall
}

type queuedCall struct {
	call *pb.ActorCall
	args []argSpec
	h    *handle
}

// failedCall is a call that could not be sent, to fail once mu is released.
type failedCall struct {
	id   objects.ID
	perr *pb.Error
}

// actorHandleFor returns the process's handle of the actor info describes,
// creating it on first use. Handles are dropped when no ActorRef reaches
// them.
func (rt *runtime) actorHandleFor(info *pb.ActorInfo, life *handle) *actorHandle {
	key := string(info.ActorId)
	if life != nil && life.err != nil {
		life = nil
	}
	rt.handlesMu.Lock()
	defer rt.handlesMu.Unlock()
	if a := rt.handles[key].Value(); a != nil {
		if a.life == nil && life != nil {
			a.mu.Lock()
			a.life = life
			a.mu.Unlock()
		}
		return a
	}
	a := &actorHandle{rt: rt, id: info.ActorId, key: key, typeName: info.TypeName, name: info.Name, life: life}
	if info.State != pb.ActorState_ACTOR_STATE_PENDING {
		a.pid = actors.PID(info.Pid)
	}
	rt.handles[key] = weak.Make(a)
	goruntime.AddCleanup(a, rt.dropActorHandle, key)
	return a
}

// lifeRef returns the handle's reference to the actor's lifetime, or nil.
func (a *actorHandle) lifeRef() *handle {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.life
}

func (rt *runtime) dropActorHandle(key string) {
	rt.handlesMu.Lock()
	if rt.handles[key].Value() == nil {
		delete(rt.handles, key)
	}
	rt.handlesMu.Unlock()
}

func (rt *runtime) actorHandleOf(id []byte) *actorHandle {
	rt.handlesMu.Lock()
	defer rt.handlesMu.Unlock()
	return rt.handles[string(id)].Value()
}

// actorDied fails every call this process still waits for on the actor, and
// every later one, with its death.
func (rt *runtime) actorDied(id []byte, perr *pb.Error) {
	if perr == nil {
		perr = &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: fmt.Sprintf("actor %x died", id)}
	}
	if perr.Kind != pb.ErrorKind_ERROR_KIND_ACTOR_DIED {
		// What killed the actor (its constructor failed, say) is the
		// cause; for its calls, the actor is dead.
		perr = &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: "actor is dead: " + perr.Message, Function: perr.Function, NodeId: perr.NodeId}
	}
	if a := rt.actorHandleOf(id); a != nil {
		a.markDead(perr)
	}
	rt.ctorPins.Delete(string(id))
	rt.owner.FailActor(string(id), perr, nil)
}

// actorMoved handles an actor restarting on another node after its node
// died: the calls this process sent to its old host fail, and later calls
// wait until the actor runs again.
func (rt *runtime) actorMoved(id []byte, from string) {
	if a := rt.actorHandleOf(id); a != nil {
		a.mu.Lock()
		a.pid = nil
		resolve := !a.resolving && a.dead == nil
		a.resolving = a.resolving || resolve
		a.mu.Unlock()
		if resolve {
			rt.root.RequestWithCustomSender(rt.node.GCS, &pb.ResolveActor{ActorId: id}, rt.node.OwnerPID)
		}
	}
	perr := &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED,
		Message: fmt.Sprintf("actor %x lost its node %s while the call ran; it restarts elsewhere", id, from)}
	rt.owner.FailActor(string(id), perr, func(holder any) bool {
		h, ok := holder.(*handle)
		return ok && h.sent.Load() == callSent
	})
}

// actorResolved takes the GCS's answer to a ResolveActor.
func (rt *runtime) actorResolved(r *pb.LookupActorReply) {
	if r.Info == nil {
		return
	}
	a := rt.actorHandleOf(r.Info.ActorId)
	switch {
	case a == nil:
	case r.Error != nil:
		rt.actorDied(r.Info.ActorId, r.Error)
	case r.Info.State == pb.ActorState_ACTOR_STATE_DEAD:
		rt.actorDied(r.Info.ActorId, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: r.Info.DeathCause})
	default:
		a.mu.Lock()
		a.pid, a.resolving = actors.PID(r.Info.Pid), false
		a.mu.Unlock()
		a.flush()
	}
}

// markDead records the actor's death and fails the calls still queued here.
func (a *actorHandle) markDead(perr *pb.Error) {
	a.mu.Lock()
	if a.dead == nil {
		a.dead = perr
	}
	queued := a.backlog
	a.backlog = nil
	a.mu.Unlock()
	for _, q := range queued {
		a.rt.owner.Fail(q.h.slot.ID, perr)
	}
}

// call queues or sends one call.
func (a *actorHandle) call(q queuedCall) {
	a.mu.Lock()
	if dead := a.dead; dead != nil {
		a.mu.Unlock()
		a.rt.owner.Fail(q.h.slot.ID, dead)
		return
	}
	if a.pid != nil && len(a.backlog) == 0 && argsReady(q.args) {
		failed := a.sendLocked(&q)
		a.mu.Unlock()
		a.fail(failed)
		return
	}
	queued := q // only a queued call needs its own allocation
	a.backlog = append(a.backlog, &queued)
	resolve := a.pid == nil && !a.resolving
	a.resolving = a.resolving || resolve
	a.mu.Unlock()
	if resolve {
		// The GCS answers the core once the actor has a host, or is dead.
		a.rt.root.RequestWithCustomSender(a.rt.node.GCS, &pb.ResolveActor{ActorId: a.id}, a.rt.node.OwnerPID)
	}
	// Flush once the arguments are ready: they may have become ready since
	// they were checked above, so this runs even if they look ready now.
	a.rt.whenReady(q.args, a.flush)
}

// sendLocked resolves a call's arguments and sends it; a.mu is held. A call
// that cannot be sent is returned, to fail once a.mu is released.
func (a *actorHandle) sendLocked(q *queuedCall) *failedCall {
	wire, err := resolved(q.args)
	if err != nil {
		if q.h.sent.Load() == callCancelled {
			return nil
		}
		return &failedCall{id: q.h.slot.ID, perr: toWire(fmt.Errorf("%s.%s: %w", a.typeName, q.call.Method, err))}
	}
	q.call.Args = wire
	if q.h.markSent() {
		a.rt.root.Send(a.pid, q.call)
	}
	return nil
}

func (a *actorHandle) fail(calls ...*failedCall) {
	for _, f := range calls {
		if f != nil {
			a.rt.owner.Fail(f.id, f.perr)
		}
	}
}

// flush sends the queued calls at the head of the backlog that are ready.
func (a *actorHandle) flush() {
	var failed []*failedCall
	a.mu.Lock()
	for a.pid != nil && a.dead == nil && len(a.backlog) > 0 && argsReady(a.backlog[0].args) {
		q := a.backlog[0]
		a.backlog[0] = nil
		a.backlog = a.backlog[1:]
		failed = append(failed, a.sendLocked(q))
	}
	a.mu.Unlock()
	a.fail(failed...)
}

// sendCancel tells the actor's host to cancel a call that was sent to it.
func (a *actorHandle) sendCancel(m *pb.CancelTask) {
	a.mu.Lock()
	pid := a.pid
	a.mu.Unlock()
	if pid != nil {
		a.rt.root.Send(pid, m)
	}
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
	typ, err := actors.Default.Actor(typeName)
	if err != nil {
		return ActorRef[S]{}, fmt.Errorf("%w: creating actor: %w", ErrNotFound, err)
	}
	for _, g := range typ.Groups() {
		if _, ok := o.groups[g]; !ok {
			return ActorRef[S]{}, fmt.Errorf("%w: creating actor %s: its methods run in concurrency group %q, which it is not given (ConcurrencyGroup)", ErrInvalidArgument, typeName, g)
		}
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
		MaxConcurrency: o.concurrency, Resources: res, JobId: rt.jobOf(ctx), Owner: rt.ownerPID,
		Scheduling:        o.schedulingFrom(ctx),
		ConcurrencyGroups: o.groups,
	}
	// The actor holds a reference on each store argument for as long as it
	// lives, so a restart finds them; the GCS drops them when it lets go of
	// the actor.
	var pins [][]byte
	for _, a := range wire {
		if ref := a.GetRef(); ref != nil {
			pins = append(pins, ref.Id)
		}
	}
	if len(pins) > 0 {
		rt.root.Send(rt.node.Directory, &pb.RefDelta{Incr: pins})
	}
	// References inside the arguments' values (which the directory does
	// not count) are held here until the actor dies (ActorDied), so that
	// every incarnation's constructor finds them.
	if held := ctorRefs(args); len(held) > 0 {
		rt.ctorPins.Store(string(id[:]), held)
	}
	reply, err := rt.request(ctx, rt.node.GCS, &pb.CreateActor{Spec: spec})
	goruntime.KeepAlive(args)
	if err != nil {
		rt.ctorPins.Delete(string(id[:]))
		if ctx.Err() != nil {
			// Nobody will hold the actor: its creation is abandoned.
			rt.root.Send(rt.node.GCS, &pb.KillActor{ActorId: id[:], NoRestart: true})
		}
		return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w", typeName, err)
	}
	r, ok := reply.(*pb.CreateActorReply)
	if !ok {
		rt.ctorPins.Delete(string(id[:]))
		return ActorRef[S]{}, fmt.Errorf("%w: creating actor %s: unexpected reply %T", ErrSystem, typeName, reply)
	}
	if r.Error != nil {
		rt.ctorPins.Delete(string(id[:]))
		err := fromWire(r.Error)
		if k := r.Error.Kind; k == pb.ErrorKind_ERROR_KIND_USER || k == pb.ErrorKind_ERROR_KIND_PANIC {
			// The constructor failed: the actor is dead, for that reason.
			return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w: %w", typeName, ErrActorDied, err)
		}
		return ActorRef[S]{}, fmt.Errorf("creating actor %s: %w", typeName, err)
	}
	var life *handle
	if !o.detached {
		life = rt.newLife(id)
	}
	return ActorRef[S]{a: rt.actorHandleFor(r.Info, life)}, nil
}

// ctorRefs returns the handles of the references inside constructor
// arguments: those inside values, and Refs passed as arguments, which hold
// the references inside their own values.
func ctorRefs(args []argSpec) []*handle {
	var out []*handle
	for _, a := range args {
		out = append(out, a.nested...)
		if a.ref != nil && len(a.ref.nested) > 0 {
			out = append(out, a.ref)
		}
	}
	return out
}

// newLife returns the owned handle of the lifetime object of an actor this
// process created: when it becomes unreachable (no ActorRef in this
// process, and no borrower elsewhere), the actor is killed, as Ray does
// with an actor whose handles are all out of scope.
func (rt *runtime) newLife(id objects.ID) *handle {
	h := &handle{rt: rt}
	h.slot = rt.owner.Ready(id, h, &pb.Result{ObjectId: id[:]})
	rt.export(h)
	goruntime.AddCleanup(h, rt.actorOutOfScope, id)
	return h
}

// actorOutOfScope kills an actor no handle reaches any more.
func (rt *runtime) actorOutOfScope(id objects.ID) {
	if rt.err() != nil {
		return // the job ended: its actors die with it
	}
	rt.root.Send(rt.node.GCS, &pb.KillActor{ActorId: id[:], NoRestart: true, Cause: "out of scope: no handle to it is reachable"})
}

// lifeOf borrows the lifetime object of an actor from the core that owns
// it, as described by info; nil for a detached actor.
func (rt *runtime) lifeOf(ctx context.Context, info *pb.ActorInfo) (*handle, error) {
	if info.Owner == nil {
		return nil, nil
	}
	b := rt.newBinder()
	life := b.ref(&pb.ObjectRef{Id: info.ActorId, Owner: info.Owner})
	if err := b.finish(ctx); err != nil {
		return nil, err
	}
	return life, nil
}

// GetActor finds the actor registered under name, in the runtime's
// namespace or the one given with Namespace. It fails with ErrNotFound when
// there is none, and with ErrInvalidArgument when it is not of type S. An
// actor that is still pending gives a handle whose calls wait until the
// actor is placed and running.
func GetActor[S any](ctx context.Context, name string, opts ...Option) (ActorRef[S], error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return ActorRef[S]{}, err
	}
	o, err := buildOptions(forLookup, opts)
	if err != nil {
		return ActorRef[S]{}, fmt.Errorf("GetActor: %w", err)
	}
	ns := rt.namespace
	if o.nsSet {
		ns = o.namespace
	}
	reply, err := rt.request(ctx, rt.node.GCS, &pb.LookupActor{Name: name, Namespace: ns})
	if err != nil {
		return ActorRef[S]{}, fmt.Errorf("looking up actor %q: %w", name, err)
	}
	r, ok := reply.(*pb.LookupActorReply)
	if !ok {
		return ActorRef[S]{}, fmt.Errorf("%w: looking up actor %q: unexpected reply %T", ErrSystem, name, reply)
	}
	if r.Error != nil {
		return ActorRef[S]{}, fromWire(r.Error)
	}
	if !stateTypeHas[S](r.Info.TypeName) {
		return ActorRef[S]{}, fmt.Errorf("%w: actor %q is of type %s, not %v", ErrInvalidArgument, name, r.Info.TypeName, reflect.TypeFor[S]())
	}
	if r.Info.State == pb.ActorState_ACTOR_STATE_DEAD {
		return ActorRef[S]{}, fmt.Errorf("%w: actor %q: %s", ErrActorDied, name, r.Info.DeathCause)
	}
	life, err := rt.lifeOf(ctx, r.Info)
	if err != nil {
		return ActorRef[S]{}, fmt.Errorf("looking up actor %q: %w", name, err)
	}
	return ActorRef[S]{a: rt.actorHandleFor(r.Info, life)}, nil
}

// ExitActor ends the actor whose method calls it, as Ray's exit_actor
// does: the method's result is delivered as usual once it returns, then the
// actor is dead for good (no restart), every call still queued fails with
// ErrActorDied, and its state is reclaimed. Call it from the method's own
// goroutine. Outside an actor method (in a task, a constructor or a
// driver) it returns ErrInvalidArgument.
func ExitActor(ctx context.Context) error {
	info := callOf(ctx)
	if info == nil || len(info.ActorID) == 0 || info.Owner == nil {
		return fmt.Errorf("%w: ExitActor called outside an actor method", ErrInvalidArgument)
	}
	info.Exit = true
	return nil
}

// KillOption configures Kill.
type KillOption func(*pb.KillActor)

// AllowRestart lets a killed actor restart if its MaxRestarts allows; by
// default a killed actor stays dead.
func AllowRestart() KillOption { return func(k *pb.KillActor) { k.NoRestart = false } }

// Kill stops an actor at once, in whatever state it is (pending, alive or
// restarting): its running calls' contexts are cancelled, and every call to
// it fails with ErrActorDied (unless AllowRestart restarts it).
func Kill(ctx context.Context, a AnyActor, opts ...KillOption) error {
	if a == nil || a.actorHandle() == nil {
		return fmt.Errorf("%w: Kill: zero ActorRef", ErrInvalidArgument)
	}
	h := a.actorHandle()
	if err := h.rt.err(); err != nil {
		return err
	}
	msg := &pb.KillActor{ActorId: h.id, NoRestart: true}
	for _, o := range opts {
		o(msg)
	}
	reply, err := h.rt.request(ctx, h.rt.node.GCS, msg)
	if err != nil {
		return fmt.Errorf("killing actor %x: %w", h.id, err)
	}
	r, ok := reply.(*pb.KillActorReply)
	if !ok {
		return fmt.Errorf("%w: killing actor %x: unexpected reply %T", ErrSystem, h.id, reply)
	}
	if r.Error != nil {
		return fromWire(r.Error)
	}
	if msg.NoRestart {
		h.rt.actorDied(h.id, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: fmt.Sprintf("actor %s (%x) was killed", h.typeName, h.id)})
	}
	return nil
}

// ActorInfo describes an actor as the cluster knows it. State is PENDING,
// ALIVE, RESTARTING or DEAD; Resources is what the actor holds of its node
// while it lives.
type ActorInfo struct {
	ID, TypeName, Name, Namespace, NodeID, State, DeathCause string
	Restarts                                                 int
	Detached                                                 bool
	Resources                                                map[string]float64
	// PendingReason says why a pending actor waits for a node.
	PendingReason string
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
	r, ok := reply.(*pb.ListActorsReply)
	if !ok {
		return nil, fmt.Errorf("%w: listing actors: unexpected reply %T", ErrSystem, reply)
	}
	var out []ActorInfo
	for _, i := range r.Actors {
		out = append(out, ActorInfo{
			ID: fmt.Sprintf("%x", i.ActorId), TypeName: i.TypeName, Name: i.Name, Namespace: i.Namespace,
			NodeID: i.NodeId, State: strings.TrimPrefix(i.State.String(), "ACTOR_STATE_"), DeathCause: i.DeathCause,
			Restarts: int(i.NumRestarts), Detached: i.Detached, Resources: floats(i.Resources), PendingReason: i.PendingReason,
		})
	}
	return out, nil
}
