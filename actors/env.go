package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// DefaultInlineLimit is the encoded size from which a result is kept in the
// object store instead of travelling inline to its owner (Ray's 100 KiB).
const DefaultInlineLimit = 100 << 10

// Env is what executors and hosts on one node need from their node. It is
// immutable once the node has started, but for a cache of owner PIDs.
type Env struct {
	Registry    *Registry
	NodeID      string
	System      *actor.ActorSystem
	Raylet      *actor.PID
	Store       *actor.PID
	Directory   *actor.PID
	GCS         *actor.PID
	InlineLimit int
	// Base is the context every call's context takes its values from: the
	// runtime, for nested calls. It is never cancelled.
	Base context.Context
	// RestartBackoff is the delay before an actor's first restart.
	RestartBackoff time.Duration
	// Pool runs tasks and actor mailboxes on reused goroutines.
	Pool   *Pool
	Logger *slog.Logger

	lastOwner atomic.Pointer[ownerPID]
}

// ownerPID caches the conversion of the wire PID most recently delivered to:
// the calls of one caller name the same owner (in process, the same wire
// PID; from another node, equal ones), and reusing one actor.PID saves its
// allocation and lets protoactor keep the process it resolved, which for
// another node's PID is a new one at every lookup.
type ownerPID struct {
	wire *pb.Pid
	pid  *actor.PID
}

func (e *Env) ownerPID(p *pb.Pid) *actor.PID {
	if c := e.lastOwner.Load(); c != nil && (c.wire == p || c.wire.GetId() == p.GetId() && c.wire.GetAddress() == p.GetAddress()) {
		return c.pid
	}
	pid := PID(p)
	e.lastOwner.Store(&ownerPID{wire: p, pid: pid})
	return pid
}

// Props returns props for an actor of this node: its mailbox runs on the
// node's goroutine pool.
func (e *Env) Props(producer actor.Producer, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(producer, append(opts, actor.WithDispatcher(Dispatcher{Pool: e.Pool}))...)
}

// Guard returns a Guard logging to the node's logger.
func (e *Env) Guard(component string, onPanic func(actor.Context, any)) *Guard {
	return &Guard{Component: component, Logger: e.Logger, OnPanic: onPanic}
}

// PID converts a wire PID to a protoactor PID.
func PID(p *pb.Pid) *actor.PID {
	if p == nil {
		return nil
	}
	return actor.NewPID(p.Address, p.Id)
}

// WirePID converts a protoactor PID to its wire form.
func WirePID(p *actor.PID) *pb.Pid {
	if p == nil {
		return nil
	}
	return &pb.Pid{Address: p.Address, Id: p.Id}
}

// FetchArgs returns the encoded value of every argument, reading store
// objects from the local store.
func (e *Env) FetchArgs(ctx context.Context, args []*pb.Arg) ([][]byte, error) {
	out := make([][]byte, len(args))
	for i, a := range args {
		switch k := a.Kind.(type) {
		case *pb.Arg_Inline:
			out[i] = k.Inline
		case *pb.Arg_Ref:
			data, err := e.Fetch(ctx, k.Ref)
			if err != nil {
				return nil, fmt.Errorf("argument %d: %w", i, err)
			}
			out[i] = data
		default:
			return nil, fmt.Errorf("argument %d: %w", i, ErrMalformedArg)
		}
	}
	return out, nil
}

// Fetch reads one object through the local store, until ctx ends: the
// store pulls it from the stores ref names when it holds no copy, and the
// owner's directory records the new copy.
func (e *Env) Fetch(ctx context.Context, ref *pb.ObjectRef) ([]byte, error) {
	req := &pb.FetchObject{ObjectId: ref.Id, Sources: ref.Locations}
	if ref.Size > 0 {
		req.Size = &ref.Size
	}
	if ref.Owner != nil {
		req.Directory = &pb.Pid{Address: ref.Owner.Address, Id: objects.DirectoryProcessID}
	}
	data, err := objects.Fetch(ctx, e.System.Root, e.Store, req)
	var fe *objects.FetchError
	switch {
	case errors.As(err, &fe):
		return nil, &RemoteError{E: fe.Err}
	case err != nil:
		return nil, fmt.Errorf("fetch object %x: %w", ref.Id, err)
	}
	return data, nil
}

// Deliver sends a call's outcome to its owner: inline when small, else the
// value goes to the local store, which tells the owner where it is once it
// can be read (or that storing it failed). contained are the references
// the value holds, which travel with it.
func (e *Env) Deliver(owner *pb.Pid, returnID, data []byte, perr *pb.Error, contained []*pb.Contained) {
	perr = ClipError(perr)
	if perr == nil && len(data) >= e.InlineLimit {
		e.System.Root.Send(e.Store, &pb.PutObject{ObjectId: returnID, Data: data, Owner: owner, Contained: contained})
		return
	}
	res := &pb.Result{ObjectId: returnID, Error: perr, Contained: contained}
	if perr == nil {
		res.Inline = data
	}
	e.System.Root.Send(e.ownerPID(owner), res)
}

// DeliverCall sends the outcome of a call that may return several values:
// every further value to its own object first, then the first value (or
// the error) to returnID. An error goes to returnID alone: the owner fails
// the call's other objects with it. The references every value holds
// travel with the first result when the call failed, so that the owner
// lets go of them.
func (e *Env) DeliverCall(owner *pb.Pid, returnID []byte, extraIDs [][]byte, data []byte, perr *pb.Error, info *CallInfo) {
	if perr == nil && len(info.Extra) != len(extraIDs) {
		perr = &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_INVALID, NodeId: e.NodeID,
			Message: fmt.Sprintf("the call returned %d values, its caller expects %d", len(info.Extra)+1, len(extraIDs)+1)}
	}
	if perr != nil {
		contained := info.Contained
		for _, r := range info.Extra {
			contained = append(contained, r.Contained...)
		}
		e.Deliver(owner, returnID, nil, perr, contained)
		return
	}
	for i, r := range info.Extra {
		e.Deliver(owner, extraIDs[i], r.Data, nil, r.Contained)
	}
	e.Deliver(owner, returnID, data, nil, info.Contained)
}

// ClipError returns e within what every receiver accepts (valid UTF-8,
// pb's length limits), so a long or odd user message can never get its
// result refused on the way: e itself when it is, else a clipped copy (in
// process, messages are shared and never changed once sent).
func ClipError(e *pb.Error) *pb.Error {
	if e == nil {
		return nil
	}
	msg, fn, stack := clip(e.Message, pb.MaxTextLen), clip(e.Function, pb.MaxTextLen), clip(e.Stack, pb.MaxStackLen)
	if msg == e.Message && fn == e.Function && stack == e.Stack && len(e.ErrorType) <= pb.MaxNameLen && len(e.ErrorData) <= pb.MaxTextLen {
		return e
	}
	out := &pb.Error{Kind: e.Kind, Message: msg, Function: fn, Stack: stack, NodeId: e.NodeId, ErrorType: e.ErrorType, ErrorData: e.ErrorData}
	if len(out.ErrorType) > pb.MaxNameLen || len(out.ErrorData) > pb.MaxTextLen {
		out.ErrorType, out.ErrorData = "", nil // the message says what it was
	}
	return out
}

const clipMark = "… (truncated)"

func clip(s string, limit int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= limit {
		return s
	}
	cut := limit - len(clipMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + clipMark
}

// RemoteError is an error that arrived as a message.
type RemoteError struct{ E *pb.Error }

func (r *RemoteError) Error() string { return r.E.Message }

// ErrorOf converts a Go error into its wire form, keeping a RemoteError's
// kind and stack as they are.
func ErrorOf(kind pb.ErrorKind, err error, function, node string) *pb.Error {
	var re *RemoteError
	if errors.As(err, &re) {
		if re == err {
			if re.E.Kind != pb.ErrorKind_ERROR_KIND_USER || re.E.Function != "" || function == "" {
				return re.E
			}
			// A user error that names no function (one its invoker
			// encoded) is the function's own.
			e := proto.Clone(re.E).(*pb.Error)
			e.Function = function
			if e.NodeId == "" {
				e.NodeId = node
			}
			return e
		}
		e := proto.Clone(re.E).(*pb.Error)
		e.Message, e.Function, e.NodeId = err.Error(), function, node
		return e
	}
	return &pb.Error{Kind: kind, Message: err.Error(), Function: function, NodeId: node}
}

// Invoke runs fn, turning a panic into a PANIC error with the stack.
func Invoke(function, node string, fn func() ([]byte, error)) (data []byte, perr *pb.Error) {
	defer func() {
		if r := recover(); r != nil {
			perr = &pb.Error{
				Kind:     pb.ErrorKind_ERROR_KIND_PANIC,
				Message:  fmt.Sprintf("panic: %v", r),
				Stack:    string(debug.Stack()),
				Function: function,
				NodeId:   node,
			}
		}
	}()
	data, err := fn()
	if err != nil {
		return nil, ErrorOf(pb.ErrorKind_ERROR_KIND_USER, err, function, node)
	}
	return data, nil
}
