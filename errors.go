package goray

import (
	"errors"
	"fmt"

	pb "github.com/goray-dev/goray/proto"
)

// Sentinel errors. Every error goray returns wraps one of these (or a user
// error inside a *TaskError), so callers test them with errors.Is.
var (
	// ErrNotInitialized: the context carries no runtime (call Init first).
	ErrNotInitialized = errors.New("goray: runtime not initialized (call goray.Init)")
	// ErrShutdown: the runtime has shut down.
	ErrShutdown = errors.New("goray: runtime shut down")
	// ErrTaskFailed: user code returned an error or panicked.
	ErrTaskFailed = errors.New("goray: task failed")
	// ErrTaskCancelled: the task or call was cancelled.
	ErrTaskCancelled = errors.New("goray: task cancelled")
	// ErrActorDied: the actor is dead (restarts exhausted, killed, or its
	// constructor failed).
	ErrActorDied = errors.New("goray: actor died")
	// ErrObjectLost: an object's value cannot be found any more.
	ErrObjectLost = errors.New("goray: object lost")
	// ErrObjectFreed: the object was freed with Free.
	ErrObjectFreed = errors.New("goray: object freed")
	// ErrInfeasible: no node of the cluster could ever fit the request.
	ErrInfeasible = errors.New("goray: infeasible resource request")
	// ErrTimeout: a deadline passed before the result was ready.
	ErrTimeout = errors.New("goray: timeout")
	// ErrNotFound: no actor, function or actor type by that name.
	ErrNotFound = errors.New("goray: not found")
	// ErrAlreadyExists: an actor of that name already exists.
	ErrAlreadyExists = errors.New("goray: already exists")
	// ErrInvalidArgument: a call or option was malformed (bad resources,
	// unencodable value, invalid Ref, wrong option for the call).
	ErrInvalidArgument = errors.New("goray: invalid argument")
	// ErrSystem: the runtime failed for a reason outside user code.
	ErrSystem = errors.New("goray: system error")
	// ErrHeadUnavailable reports an operation that needs the head node
	// (actor creation and lookup, listings, jobs) while the cluster's head
	// is gone; the node keeps running its work and rejoins when the head
	// is back.
	ErrHeadUnavailable = errors.New("goray: the head node is unavailable")
	// ErrPlacementGroupRemoved: the placement group was removed (work
	// scheduled into it fails; removing it again fails too).
	ErrPlacementGroupRemoved = errors.New("goray: placement group removed")
)

// TaskError is the failure of a remote task or actor call: the user's error
// message (or the panic value) and, for a panic, the stack where it happened.
type TaskError struct {
	// Function is the task or Type.method that failed.
	Function string
	// Message is the user's error text.
	Message string
	// Stack is the goroutine stack at a panic, on the node that ran it.
	Stack string
	// NodeID is where the code ran.
	NodeID string
	// Panicked reports that user code panicked rather than returned an error.
	Panicked bool
	kind     error
	// user is the error of a registered type (RegisterError) the function
	// returned, decoded; errType and errData are its wire form.
	user    error
	errType string
	errData []byte
}

func (e *TaskError) Error() string {
	s := fmt.Sprintf("%s: %s", e.Function, e.Message)
	if e.Stack != "" {
		s += "\n\nremote stack:\n" + e.Stack
	}
	return s
}

// Unwrap returns the sentinel for the kind of failure and, when the
// function returned an error of a registered type (RegisterError), that
// error, decoded: errors.As finds it with its fields.
func (e *TaskError) Unwrap() []error {
	if e.user != nil {
		return []error{e.kind, e.user}
	}
	return []error{e.kind}
}

// kindSentinels maps wire kinds to sentinels; sentinelKinds is the reverse,
// in a fixed order so that toWire is deterministic.
var kindSentinels = map[pb.ErrorKind]error{
	pb.ErrorKind_ERROR_KIND_USER:           ErrTaskFailed,
	pb.ErrorKind_ERROR_KIND_PANIC:          ErrTaskFailed,
	pb.ErrorKind_ERROR_KIND_CANCELLED:      ErrTaskCancelled,
	pb.ErrorKind_ERROR_KIND_ACTOR_DIED:     ErrActorDied,
	pb.ErrorKind_ERROR_KIND_INFEASIBLE:     ErrInfeasible,
	pb.ErrorKind_ERROR_KIND_OBJECT_LOST:    ErrObjectLost,
	pb.ErrorKind_ERROR_KIND_NOT_FOUND:      ErrNotFound,
	pb.ErrorKind_ERROR_KIND_SYSTEM:         ErrSystem,
	pb.ErrorKind_ERROR_KIND_INVALID:        ErrInvalidArgument,
	pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS: ErrAlreadyExists,
	pb.ErrorKind_ERROR_KIND_OBJECT_FREED:   ErrObjectFreed,
	pb.ErrorKind_ERROR_KIND_NO_CAPACITY:    ErrSystem,

	pb.ErrorKind_ERROR_KIND_PLACEMENT_GROUP_REMOVED: ErrPlacementGroupRemoved,
}

// fromWire turns a wire error into a Go error. User failures become a
// *TaskError; the others wrap their sentinel directly.
func fromWire(e *pb.Error) error {
	kind := kindSentinels[e.Kind]
	if kind == nil {
		kind = ErrSystem
	}
	switch e.Kind {
	case pb.ErrorKind_ERROR_KIND_USER, pb.ErrorKind_ERROR_KIND_PANIC:
		te := &TaskError{Function: e.Function, Message: e.Message, Stack: e.Stack, NodeID: e.NodeId,
			Panicked: e.Kind == pb.ErrorKind_ERROR_KIND_PANIC, kind: kind, errType: e.ErrorType, errData: e.ErrorData}
		user, err := decodeUserError(e)
		if err != nil {
			te.Message += " (" + err.Error() + ")"
		}
		te.user = user
		return te
	}
	if e.Function != "" {
		return fmt.Errorf("%w: %s: %s", kind, e.Function, e.Message)
	}
	return fmt.Errorf("%w: %s", kind, e.Message)
}

var sentinelKinds = []struct {
	kind     pb.ErrorKind
	sentinel error
}{
	{pb.ErrorKind_ERROR_KIND_PLACEMENT_GROUP_REMOVED, ErrPlacementGroupRemoved},
	{pb.ErrorKind_ERROR_KIND_CANCELLED, ErrTaskCancelled},
	{pb.ErrorKind_ERROR_KIND_ACTOR_DIED, ErrActorDied},
	{pb.ErrorKind_ERROR_KIND_OBJECT_FREED, ErrObjectFreed},
	{pb.ErrorKind_ERROR_KIND_OBJECT_LOST, ErrObjectLost},
	{pb.ErrorKind_ERROR_KIND_INFEASIBLE, ErrInfeasible},
	{pb.ErrorKind_ERROR_KIND_NOT_FOUND, ErrNotFound},
	{pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS, ErrAlreadyExists},
	{pb.ErrorKind_ERROR_KIND_INVALID, ErrInvalidArgument},
	{pb.ErrorKind_ERROR_KIND_SYSTEM, ErrSystem},
}

// toWire renders a local error for a slot; kinds follow the sentinels, the
// first that the error wraps in sentinelKinds' order.
func toWire(err error) *pb.Error {
	var te *TaskError
	if errors.As(err, &te) {
		k := pb.ErrorKind_ERROR_KIND_USER
		if te.Panicked {
			k = pb.ErrorKind_ERROR_KIND_PANIC
		}
		return &pb.Error{Kind: k, Message: te.Message, Stack: te.Stack, Function: te.Function, NodeId: te.NodeID,
			ErrorType: te.errType, ErrorData: te.errData}
	}
	for _, s := range sentinelKinds {
		if errors.Is(err, s.sentinel) {
			return &pb.Error{Kind: s.kind, Message: trimSentinel(err, s.sentinel)}
		}
	}
	return &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_INVALID, Message: err.Error()}
}

// trimSentinel drops the "sentinel: " prefix fromWire will add back.
func trimSentinel(err, sentinel error) string {
	msg, prefix := err.Error(), sentinel.Error()+": "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}
