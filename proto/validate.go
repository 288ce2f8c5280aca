package pb

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Validation of inbound messages. Every message type of goray.proto has a
// Validate method that a system actor's receive middleware calls before any
// handler sees the message. Validate checks what a handler relies on without
// looking further: nested messages it dereferences are present, IDs have
// their length, enums hold a defined value, counts and sizes are bounded. It
// does not check what only the handler's state can tell (whether an actor
// exists, a node is alive, a resource name is one the node knows).
//
// Validate never allocates when the message is valid, so that it can run on
// every task and actor call. Each message type validates its own fields and
// calls Validate on the messages it contains; a new field or message type
// needs only a few lines in its own method.

// Limits checked by Validate.
const (
	// IDLen is the length in bytes of object, task, return and actor IDs
	// (the objects package's ID).
	IDLen = 16
	// NodeIDLen is the length of node and job IDs: lower-case hex digits
	// of 8 random bytes.
	NodeIDLen = 16
	// MaxAddressLen bounds a protoactor address (host:port, or "nonhost"
	// in process); a DNS name and a port fit well within it.
	MaxAddressLen = 512
	// MaxNameLen bounds names: functions, actor types, methods, actor and
	// task names, namespaces, process IDs, resource names, label keys and
	// label values.
	MaxNameLen = 1024
	// MaxTextLen bounds free text: an error's message and function, an
	// actor's death cause. Producers of user-supplied text must truncate
	// it, leaving room for the prefixes added on the way.
	MaxTextLen = 256 << 10
	// MaxStackLen bounds the stack trace an error carries.
	MaxStackLen = 1 << 20
	// MaxArgs bounds the arguments of one task, actor call or constructor.
	MaxArgs = 1024
	// MaxMapEntries bounds a resource or label map.
	MaxMapEntries = 1024
	// MaxNodes bounds the nodes of a ClusterView.
	MaxNodes = 10_000
	// MaxLocations bounds the stores an ObjectRef names.
	MaxLocations = 1024
	// MaxIDs bounds a repeated field of IDs (objects to delete or free,
	// reference deltas, locations): larger batches must be split.
	MaxIDs = 10_000
	// MaxGPUIDs bounds the GPU indices assigned to one task or actor.
	MaxGPUIDs = 1024
)

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("pb: invalid message")

// Validator is implemented by every message of goray.proto.
type Validator interface {
	// Validate returns an error wrapping ErrInvalid, a *FieldError, when
	// the message breaks a rule a handler relies on.
	Validate() error
}

// FieldError is the error Validate returns: which field of which message
// type breaks which rule. Its Error reads, for example,
// "pb: invalid message: TaskSpec.args[1].object_id: 3 bytes, want 16".
type FieldError struct {
	// Type is the message type Validate was called on, e.g. "TaskSpec".
	Type string
	// Field is the path of the offending field within Type, in proto
	// field names, e.g. "args[1].object_id"; empty when the message itself
	// is a nil pointer.
	Field string
	// Reason says what is wrong.
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return ErrInvalid.Error() + ": " + e.Type + ": " + e.Reason
	}
	return ErrInvalid.Error() + ": " + e.Type + "." + e.Field + ": " + e.Reason
}

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(typ, field, format string, args ...any) error {
	return &FieldError{Type: typ, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// nilMessage is what Validate returns for a nil receiver: a typed nil
// message would make its handler dereference nil.
func nilMessage(typ string) error {
	return &FieldError{Type: typ, Reason: "nil message"}
}

func missing(typ, field string) error {
	return &FieldError{Type: typ, Field: field, Reason: "missing"}
}

// nested re-roots err, returned by the Validate of the message at field of
// a typ, at typ.
func nested(typ, field string, err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return fmt.Errorf("%s.%s: %w", typ, field, err)
	}
	out := &FieldError{Type: typ, Field: field, Reason: fe.Reason}
	if fe.Field != "" {
		out.Field += "." + fe.Field
	}
	return out
}

// required validates a message field that must be set, re-rooted at typ.
func required[T any, M interface {
	*T
	Validator
}](typ, field string, m M) error {
	if m == nil {
		return missing(typ, field)
	}
	if err := m.Validate(); err != nil {
		return nested(typ, field, err)
	}
	return nil
}

func index(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}

func key(field, k string) string {
	return field + "[" + show(k) + "]"
}

// show quotes s for an error message, or gives its length when it is long.
func show(s string) string {
	if len(s) > 64 {
		return strconv.Itoa(len(s)) + " bytes"
	}
	return strconv.Quote(s)
}

// Field checks, shared by the messages. typ and field name the field for the
// error; on success they return nil without allocating.

func checkID(typ, field string, id []byte) error {
	if len(id) != IDLen {
		return invalid(typ, field, "%d bytes, want %d", len(id), IDLen)
	}
	return nil
}

// checkOptionalID accepts an empty ID (the field is unset) or a valid one.
func checkOptionalID(typ, field string, id []byte) error {
	if len(id) == 0 {
		return nil
	}
	return checkID(typ, field, id)
}

func checkIDs(typ, field string, ids [][]byte) error {
	if len(ids) > MaxIDs {
		return invalid(typ, field, "%d IDs, more than %d", len(ids), MaxIDs)
	}
	for i, id := range ids {
		if len(id) != IDLen {
			return invalid(typ, index(field, i), "%d bytes, want %d", len(id), IDLen)
		}
	}
	return nil
}

// isHexID reports whether s has the form of a node or job ID.
func isHexID(s string) bool {
	if len(s) != NodeIDLen {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkHexID checks a node or job ID.
func checkHexID(typ, field, s string) error {
	if !isHexID(s) {
		return invalid(typ, field, "%s, want %d lower-case hex digits", show(s), NodeIDLen)
	}
	return nil
}

// checkOptionalHexID accepts an empty node or job ID (unset) or a valid one.
func checkOptionalHexID(typ, field, s string) error {
	if s == "" {
		return nil
	}
	return checkHexID(typ, field, s)
}

func checkLen(typ, field, s string, limit int) error {
	if len(s) > limit {
		return invalid(typ, field, "%d bytes, more than %d", len(s), limit)
	}
	return nil
}

// checkName checks a name that must be set.
func checkName(typ, field, s string) error {
	if s == "" {
		return invalid(typ, field, "empty")
	}
	return checkLen(typ, field, s, MaxNameLen)
}

// checkAddress checks a protoactor address.
func checkAddress(typ, field, s string) error {
	if s == "" {
		return invalid(typ, field, "empty")
	}
	return checkLen(typ, field, s, MaxAddressLen)
}

func checkPid(typ, field string, p *Pid, required bool) error {
	if p == nil {
		if required {
			return missing(typ, field)
		}
		return nil
	}
	if err := p.Validate(); err != nil {
		return nested(typ, field, err)
	}
	return nil
}

// checkError checks an optional Error.
func checkError(typ, field string, e *Error) error {
	if e == nil {
		return nil
	}
	if err := e.Validate(); err != nil {
		return nested(typ, field, err)
	}
	return nil
}

func checkArgs(typ, field string, args []*Arg) error {
	if len(args) > MaxArgs {
		return invalid(typ, field, "%d arguments, more than %d", len(args), MaxArgs)
	}
	for i, a := range args {
		if err := a.Validate(); err != nil {
			return nested(typ, index(field, i), err)
		}
	}
	return nil
}

// checkResources checks a resource map: named entries, amounts of zero or
// more (fixed-point quantities).
func checkResources(typ, field string, m map[string]int64) error {
	if len(m) > MaxMapEntries {
		return invalid(typ, field, "%d entries, more than %d", len(m), MaxMapEntries)
	}
	for k, v := range m {
		if k == "" {
			return invalid(typ, key(field, k), "empty resource name")
		}
		if len(k) > MaxNameLen {
			return invalid(typ, key(field, k), "resource name of %d bytes, more than %d", len(k), MaxNameLen)
		}
		if v < 0 {
			return invalid(typ, key(field, k), "%d is negative", v)
		}
	}
	return nil
}

func checkLabels(typ, field string, m map[string]string) error {
	if len(m) > MaxMapEntries {
		return invalid(typ, field, "%d entries, more than %d", len(m), MaxMapEntries)
	}
	for k, v := range m {
		if k == "" {
			return invalid(typ, key(field, k), "empty label key")
		}
		if len(k) > MaxNameLen {
			return invalid(typ, key(field, k), "label key of %d bytes, more than %d", len(k), MaxNameLen)
		}
		if len(v) > MaxNameLen {
			return invalid(typ, key(field, k), "value of %d bytes, more than %d", len(v), MaxNameLen)
		}
	}
	return nil
}

func checkGPUIDs(typ, field string, ids []int32) error {
	if len(ids) > MaxGPUIDs {
		return invalid(typ, field, "%d GPUs, more than %d", len(ids), MaxGPUIDs)
	}
	for i, id := range ids {
		if id < 0 {
			return invalid(typ, index(field, i), "%d is negative", id)
		}
	}
	return nil
}

func checkNonNegative(typ, field string, n int64) error {
	if n < 0 {
		return invalid(typ, field, "%d is negative", n)
	}
	return nil
}

// checkRetries checks a retry or restart budget: -1 means without limit.
func checkRetries(typ, field string, n int32) error {
	if n < -1 {
		return invalid(typ, field, "%d, want -1 (no limit) or more", n)
	}
	return nil
}

func checkErrorKind(typ, field string, k ErrorKind) error {
	if _, ok := ErrorKind_name[int32(k)]; !ok {
		return invalid(typ, field, "undefined ErrorKind %d", int32(k))
	}
	return nil
}

func checkActorState(typ, field string, s ActorState) error {
	if _, ok := ActorState_name[int32(s)]; !ok {
		return invalid(typ, field, "undefined ActorState %d", int32(s))
	}
	return nil
}

func checkNodeRole(typ, field string, r NodeRole) error {
	if _, ok := NodeRole_name[int32(r)]; !ok {
		return invalid(typ, field, "undefined NodeRole %d", int32(r))
	}
	return nil
}

func checkStrategy(typ, field string, s Strategy) error {
	if _, ok := Strategy_name[int32(s)]; !ok {
		return invalid(typ, field, "undefined Strategy %d", int32(s))
	}
	return nil
}

// firstError returns the first non-nil error. Validate methods list their
// checks through it; the checks are plain calls, so the list allocates
// nothing when all pass.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Validate checks that p can be sent to: an address and a process ID.
func (p *Pid) Validate() error {
	const t = "Pid"
	if p == nil {
		return nilMessage(t)
	}
	return firstError(
		checkAddress(t, "address", p.Address),
		checkName(t, "id", p.Id),
	)
}

// Validate checks that exactly one kind is set, and a reference. An inline
// value may be empty.
func (a *Arg) Validate() error {
	const t = "Arg"
	if a == nil {
		return nilMessage(t)
	}
	switch k := a.Kind.(type) {
	case *Arg_Inline:
		if k == nil {
			return invalid(t, "inline", "nil oneof wrapper")
		}
		return nil
	case *Arg_Ref:
		if k == nil || k.Ref == nil {
			return invalid(t, "ref", "nil reference")
		}
		if err := k.Ref.Validate(); err != nil {
			return nested(t, "ref", err)
		}
		return nil
	default:
		return invalid(t, "kind", "neither inline nor ref is set")
	}
}

// Validate checks the object ID, the owner, the locations and the size.
func (r *ObjectRef) Validate() error {
	const t = "ObjectRef"
	if r == nil {
		return nilMessage(t)
	}
	if len(r.Locations) > MaxLocations {
		return invalid(t, "locations", "%d locations, more than %d", len(r.Locations), MaxLocations)
	}
	for i, p := range r.Locations {
		if p == nil {
			return missing(t, fmt.Sprintf("locations[%d]", i))
		}
		if err := p.Validate(); err != nil {
			return nested(t, fmt.Sprintf("locations[%d]", i), err)
		}
	}
	return firstError(
		checkID(t, "id", r.Id),
		checkPid(t, "owner", r.Owner, true),
		checkNonNegative(t, "size", r.Size),
	)
}

// Validate checks the task and node IDs.
func (m *TaskAccepted) Validate() error {
	const t = "TaskAccepted"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(checkID(t, "task_id", m.TaskId), checkHexID(t, "node_id", m.NodeId))
}

// Validate checks the node ID.
func (m *NodeDied) Validate() error {
	if m == nil {
		return nilMessage("NodeDied")
	}
	return firstError(checkHexID("NodeDied", "node_id", m.NodeId), checkLen("NodeDied", "address", m.Address, MaxAddressLen))
}

// Validate checks the actor ID and the node it left.
func (m *ActorMoved) Validate() error {
	const t = "ActorMoved"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(checkID(t, "actor_id", m.ActorId), checkOptionalHexID(t, "from_node", m.FromNode))
}

// Validate checks the kind and bounds the text fields; node_id may be empty.
func (e *Error) Validate() error {
	const t = "Error"
	if e == nil {
		return nilMessage(t)
	}
	return firstError(
		checkErrorKind(t, "kind", e.Kind),
		checkLen(t, "message", e.Message, MaxTextLen),
		checkLen(t, "stack", e.Stack, MaxStackLen),
		checkLen(t, "function", e.Function, MaxTextLen),
		checkOptionalHexID(t, "node_id", e.NodeId),
		checkLen(t, "error_type", e.ErrorType, MaxNameLen),
		checkBytes(t, "error_data", e.ErrorData, MaxTextLen),
	)
}

func checkBytes(typ, field string, b []byte, limit int) error {
	if len(b) > limit {
		return invalid(typ, field, "%d bytes, more than %d", len(b), limit)
	}
	return nil
}

// Validate checks what the raylet and the executor use: IDs, the function,
// the arguments, the resources, the retry budget and the owner the result
// goes to.
func (s *TaskSpec) Validate() error {
	const t = "TaskSpec"
	if s == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "task_id", s.TaskId),
		checkName(t, "function", s.Function),
		checkArgs(t, "args", s.Args),
		checkResources(t, "resources", s.Resources),
		checkRetries(t, "max_retries", s.MaxRetries),
		checkLen(t, "name", s.Name, MaxNameLen),
		checkID(t, "return_id", s.ReturnId),
		checkPid(t, "owner", s.Owner, true),
		checkNonNegative(t, "attempt", int64(s.Attempt)),
		checkOptionalHexID(t, "job_id", s.JobId),
		checkGPUIDs(t, "gpu_ids", s.GpuIds),
		checkNonNegative(t, "hops", int64(s.Hops)),
		checkScheduling(t, "scheduling", s.Scheduling),
		checkReturnIDs(t, s.ExtraReturnIds),
		checkNonNegative(t, "stream_backpressure", s.StreamBackpressure),
	)
}

// Validate checks the object ID, the store node when set, the size and the
// error when set.
func (r *Result) Validate() error {
	const t = "Result"
	if r == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "object_id", r.ObjectId),
		checkOptionalHexID(t, "store_node", r.StoreNode),
		checkNonNegative(t, "size", r.Size),
		checkError(t, "error", r.Error),
		checkPid(t, "store", r.Store, false),
		checkContained(t, r.Contained),
	)
}

// checkContained checks the references a value holds.
func checkContained(typ string, cs []*Contained) error {
	if len(cs) > MaxIDs {
		return invalid(typ, "contained", "%d references, more than %d", len(cs), MaxIDs)
	}
	for i, c := range cs {
		if err := c.Validate(); err != nil {
			return nested(typ, index("contained", i), err)
		}
	}
	return nil
}

// Validate checks the reference and its token.
func (m *Contained) Validate() error {
	const t = "Contained"
	if m == nil {
		return nilMessage(t)
	}
	if err := required(t, "ref", m.Ref); err != nil {
		return err
	}
	return checkID(t, "token", m.Token)
}

// checkBorrows checks parallel lists of object IDs and borrow tokens.
func checkBorrows(typ string, ids, tokens [][]byte) error {
	if len(ids) != len(tokens) {
		return invalid(typ, "tokens", "%d tokens for %d objects", len(tokens), len(ids))
	}
	return firstError(checkIDs(typ, "object_ids", ids), checkIDs(typ, "tokens", tokens))
}

// Validate checks the objects, their tokens and the borrower.
func (m *BorrowObjects) Validate() error {
	const t = "BorrowObjects"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(checkBorrows(t, m.ObjectIds, m.Tokens), checkPid(t, "borrower", m.Borrower, true))
}

// Validate checks every outcome and pending ID.
func (m *BorrowObjectsReply) Validate() error {
	const t = "BorrowObjectsReply"
	if m == nil {
		return nilMessage(t)
	}
	if len(m.Ready) > MaxIDs {
		return invalid(t, "ready", "%d results, more than %d", len(m.Ready), MaxIDs)
	}
	for i, r := range m.Ready {
		if err := r.Validate(); err != nil {
			return nested(t, index("ready", i), err)
		}
	}
	return checkIDs(t, "pending", m.Pending)
}

// Validate checks the result.
func (m *ObjectReady) Validate() error {
	const t = "ObjectReady"
	if m == nil {
		return nilMessage(t)
	}
	return required(t, "result", m.Result)
}

// Validate checks the objects and their tokens.
func (m *ReleaseObjects) Validate() error {
	if m == nil {
		return nilMessage("ReleaseObjects")
	}
	return checkBorrows("ReleaseObjects", m.ObjectIds, m.Tokens)
}

// Validate checks the task ID.
func (m *TaskFinished) Validate() error {
	if m == nil {
		return nilMessage("TaskFinished")
	}
	return checkID("TaskFinished", "task_id", m.TaskId)
}

// Validate checks the IDs the raylet uses: return_id for an actor call
// (actor_id set), task_id for a task. The other may be empty.
func (m *CancelTask) Validate() error {
	const t = "CancelTask"
	if m == nil {
		return nilMessage(t)
	}
	if len(m.ActorId) > 0 {
		return firstError(
			checkID(t, "actor_id", m.ActorId),
			checkID(t, "return_id", m.ReturnId),
			checkOptionalID(t, "task_id", m.TaskId),
		)
	}
	return firstError(
		checkID(t, "task_id", m.TaskId),
		checkOptionalID(t, "return_id", m.ReturnId),
	)
}

// Validate checks the task ID.
func (m *TaskBlocked) Validate() error {
	if m == nil {
		return nilMessage("TaskBlocked")
	}
	return checkID("TaskBlocked", "task_id", m.TaskId)
}

// Validate checks the task ID.
func (m *TaskUnblocked) Validate() error {
	if m == nil {
		return nilMessage("TaskUnblocked")
	}
	return checkID("TaskUnblocked", "task_id", m.TaskId)
}

// Validate checks what the GCS, the raylet and the host use: the actor ID,
// the type, the constructor's arguments, names, budgets, resources and the
// owner when set.
func (s *ActorSpec) Validate() error {
	const t = "ActorSpec"
	if s == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "actor_id", s.ActorId),
		checkName(t, "type_name", s.TypeName),
		checkArgs(t, "args", s.Args),
		checkLen(t, "name", s.Name, MaxNameLen),
		checkLen(t, "namespace", s.Namespace, MaxNameLen),
		checkRetries(t, "max_restarts", s.MaxRestarts),
		checkRetries(t, "max_task_retries", s.MaxTaskRetries),
		checkNonNegative(t, "max_concurrency", int64(s.MaxConcurrency)), // 0: the default
		checkResources(t, "resources", s.Resources),
		checkOptionalHexID(t, "job_id", s.JobId),
		checkPid(t, "owner", s.Owner, false),
		checkGPUIDs(t, "gpu_ids", s.GpuIds),
		checkScheduling(t, "scheduling", s.Scheduling),
		checkGroups(t, "concurrency_groups", s.ConcurrencyGroups),
	)
}

// checkGroups checks concurrency groups: named, each running at least one
// call at once.
func checkGroups(typ, field string, m map[string]int32) error {
	if len(m) > MaxMapEntries {
		return invalid(typ, field, "%d entries, more than %d", len(m), MaxMapEntries)
	}
	for k, v := range m {
		if k == "" || len(k) > MaxNameLen {
			return invalid(typ, key(field, k), "group name of %d bytes (want 1 to %d)", len(k), MaxNameLen)
		}
		if v < 1 {
			return invalid(typ, key(field, k), "%d calls at once, fewer than 1", v)
		}
	}
	return nil
}

// Validate checks the record the GCS keeps of an actor: an ALIVE actor has
// the PID of its host.
func (i *ActorInfo) Validate() error {
	const t = "ActorInfo"
	if i == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "actor_id", i.ActorId),
		checkName(t, "type_name", i.TypeName),
		checkLen(t, "name", i.Name, MaxNameLen),
		checkLen(t, "namespace", i.Namespace, MaxNameLen),
		checkActorState(t, "state", i.State),
		checkPid(t, "pid", i.Pid, i.State == ActorState_ACTOR_STATE_ALIVE),
		checkOptionalHexID(t, "node_id", i.NodeId),
		checkNonNegative(t, "num_restarts", int64(i.NumRestarts)),
		checkLen(t, "death_cause", i.DeathCause, MaxTextLen),
		checkPid(t, "owner", i.Owner, false),
		checkOptionalHexID(t, "job_id", i.JobId),
		checkResources(t, "resources", i.Resources),
		checkLen(t, "pending_reason", i.PendingReason, MaxTextLen),
	)
}

// Validate checks the spec.
func (m *CreateActor) Validate() error {
	const t = "CreateActor"
	if m == nil {
		return nilMessage(t)
	}
	return required(t, "spec", m.Spec)
}

// Validate checks that the reply has the actor's info or an error (a
// failed creation has both).
func (m *CreateActorReply) Validate() error {
	const t = "CreateActorReply"
	if m == nil {
		return nilMessage(t)
	}
	if m.Info == nil && m.Error == nil {
		return invalid(t, "info", "missing, and no error either")
	}
	if m.Info != nil {
		if err := m.Info.Validate(); err != nil {
			return nested(t, "info", err)
		}
	}
	return checkError(t, "error", m.Error)
}

// Validate checks the spec.
func (m *StartActor) Validate() error {
	const t = "StartActor"
	if m == nil {
		return nilMessage(t)
	}
	return required(t, "spec", m.Spec)
}

// Validate checks the actor ID and the state; an actor reported ALIVE has
// the PID its calls go to.
func (m *ActorStateChanged) Validate() error {
	const t = "ActorStateChanged"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "actor_id", m.ActorId),
		checkActorState(t, "state", m.State),
		checkPid(t, "pid", m.Pid, m.State == ActorState_ACTOR_STATE_ALIVE),
		checkOptionalHexID(t, "node_id", m.NodeId),
		checkNonNegative(t, "num_restarts", int64(m.NumRestarts)),
		checkError(t, "error", m.Error),
	)
}

// Validate checks every restored actor; there are at most MaxIDs.
func (m *RestoreActors) Validate() error {
	const t = "RestoreActors"
	if m == nil {
		return nilMessage(t)
	}
	if len(m.Actors) > MaxIDs {
		return invalid(t, "actors", "%d entries, at most %d", len(m.Actors), MaxIDs)
	}
	for i, a := range m.Actors {
		if err := a.Validate(); err != nil {
			return nested(t, index("actors", i), err)
		}
	}
	return nil
}

// Validate checks the spec and the state, which must be of the same actor.
func (m *RestoredActor) Validate() error {
	const t = "RestoredActor"
	switch {
	case m == nil:
		return nilMessage(t)
	case m.Spec == nil:
		return missing(t, "spec")
	case m.State == nil:
		return missing(t, "state")
	}
	if err := m.Spec.Validate(); err != nil {
		return nested(t, "spec", err)
	}
	if err := m.State.Validate(); err != nil {
		return nested(t, "state", err)
	}
	if !bytes.Equal(m.Spec.ActorId, m.State.ActorId) {
		return invalid(t, "state.actor_id", "differs from spec.actor_id")
	}
	return nil
}

// Validate checks what the host uses: the actor and return IDs, the method,
// the arguments and the owner the result goes to.
func (c *ActorCall) Validate() error {
	const t = "ActorCall"
	if c == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "actor_id", c.ActorId),
		checkName(t, "method", c.Method),
		checkArgs(t, "args", c.Args),
		checkID(t, "return_id", c.ReturnId),
		checkPid(t, "owner", c.Owner, true),
		checkNonNegative(t, "attempt", int64(c.Attempt)),
		checkReturnIDs(t, c.ExtraReturnIds),
		checkLen(t, "name", c.Name, MaxNameLen),
		checkRetries(t, "max_retries", c.GetMaxRetries()),
		checkNonNegative(t, "stream_backpressure", c.StreamBackpressure),
	)
}

// Validate checks the stream, the index, the item and the producer.
func (m *StreamItem) Validate() error {
	const t = "StreamItem"
	if m == nil {
		return nilMessage(t)
	}
	if m.Result == nil {
		return invalid(t, "result", "missing")
	}
	return firstError(
		checkID(t, "stream_id", m.StreamId),
		checkNonNegative(t, "index", m.Index),
		nestedErr(t, "result", m.Result.Validate()),
		checkPid(t, "producer", m.Producer, true),
	)
}

// Validate checks the stream and the count.
func (m *StreamAck) Validate() error {
	const t = "StreamAck"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(checkID(t, "stream_id", m.StreamId), checkNonNegative(t, "consumed", m.Consumed))
}

func nestedErr(typ, field string, err error) error {
	if err != nil {
		return nested(typ, field, err)
	}
	return nil
}

// checkReturnIDs checks the IDs of a call's further return values: at most
// MaxIDs of them.
func checkReturnIDs(typ string, ids [][]byte) error {
	return checkIDs(typ, "extra_return_ids", ids)
}

// Validate checks that the lookup names an actor: by ID, or by name.
func (m *LookupActor) Validate() error {
	const t = "LookupActor"
	if m == nil {
		return nilMessage(t)
	}
	if len(m.ActorId) == 0 && m.Name == "" {
		return invalid(t, "name", "empty, and no actor_id either")
	}
	return firstError(
		checkLen(t, "name", m.Name, MaxNameLen),
		checkLen(t, "namespace", m.Namespace, MaxNameLen),
		checkOptionalID(t, "actor_id", m.ActorId),
	)
}

// Validate checks that the reply has the actor's info or an error.
func (m *LookupActorReply) Validate() error {
	const t = "LookupActorReply"
	if m == nil {
		return nilMessage(t)
	}
	if m.Info == nil && m.Error == nil {
		return invalid(t, "info", "missing, and no error either")
	}
	if m.Info != nil {
		if err := m.Info.Validate(); err != nil {
			return nested(t, "info", err)
		}
	}
	return checkError(t, "error", m.Error)
}

// Validate checks the actor ID.
func (m *ResolveActor) Validate() error {
	if m == nil {
		return nilMessage("ResolveActor")
	}
	return checkID("ResolveActor", "actor_id", m.ActorId)
}

// Validate checks the actor ID and the error when set.
func (m *ActorDied) Validate() error {
	const t = "ActorDied"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "actor_id", m.ActorId),
		checkError(t, "error", m.Error),
	)
}

// Validate checks the actor ID.
func (m *KillActor) Validate() error {
	if m == nil {
		return nilMessage("KillActor")
	}
	return firstError(
		checkID("KillActor", "actor_id", m.ActorId),
		checkLen("KillActor", "cause", m.Cause, MaxTextLen),
	)
}

// Validate checks the error when set.
func (m *KillActorReply) Validate() error {
	if m == nil {
		return nilMessage("KillActorReply")
	}
	return checkError("KillActorReply", "error", m.Error)
}

// Validate accepts any ListActors: it has no fields.
func (m *ListActors) Validate() error {
	if m == nil {
		return nilMessage("ListActors")
	}
	return nil
}

// Validate checks every actor's info. The count is not bounded: the GCS
// keeps up to 100k dead actors' records besides the live ones.
func (m *ListActorsReply) Validate() error {
	const t = "ListActorsReply"
	if m == nil {
		return nilMessage(t)
	}
	for i, a := range m.Actors {
		if err := a.Validate(); err != nil {
			return nested(t, index("actors", i), err)
		}
	}
	return nil
}

// Validate checks the job ID, the driver's node when set, the times and the
// driver's core when set. The end may precede the start: they come from
// different clocks.
func (j *JobInfo) Validate() error {
	const t = "JobInfo"
	if j == nil {
		return nilMessage(t)
	}
	return firstError(
		checkHexID(t, "job_id", j.JobId),
		checkOptionalHexID(t, "driver_node", j.DriverNode),
		checkNonNegative(t, "start_unix_ms", j.StartUnixMs),
		checkNonNegative(t, "end_unix_ms", j.EndUnixMs),
		checkPid(t, "core", j.Core, false),
	)
}

// Validate checks the job.
func (m *RegisterJob) Validate() error {
	const t = "RegisterJob"
	if m == nil {
		return nilMessage(t)
	}
	return required(t, "job", m.Job)
}

// Validate checks the job ID.
func (m *FinishJob) Validate() error {
	if m == nil {
		return nilMessage("FinishJob")
	}
	return checkHexID("FinishJob", "job_id", m.JobId)
}

// Validate checks the error when set.
func (m *Ack) Validate() error {
	if m == nil {
		return nilMessage("Ack")
	}
	return checkError("Ack", "error", m.Error)
}

// Validate checks a node's registration: its ID and address, its resources
// and labels, and, for a live node, the raylet and store PIDs the GCS sends
// to.
func (n *NodeInfo) Validate() error {
	const t = "NodeInfo"
	if n == nil {
		return nilMessage(t)
	}
	return firstError(
		checkHexID(t, "node_id", n.NodeId),
		checkAddress(t, "address", n.Address),
		checkResources(t, "total", n.Total),
		checkResources(t, "available", n.Available),
		checkLabels(t, "labels", n.Labels),
		checkPid(t, "raylet", n.Raylet, n.Alive),
		checkPid(t, "store", n.Store, n.Alive),
		checkPid(t, "directory", n.Directory, false),
		checkPid(t, "core", n.Core, false),
		checkLen(t, "fingerprint", n.Fingerprint, MaxNameLen),
		checkLen(t, "gossip", n.Gossip, MaxAddressLen),
		checkNodeRole(t, "role", n.Role),
	)
}

// Validate accepts any ListJobs: it has no fields.
func (m *ListJobs) Validate() error {
	if m == nil {
		return nilMessage("ListJobs")
	}
	return nil
}

// Validate checks every job.
func (m *ListJobsReply) Validate() error {
	const t = "ListJobsReply"
	if m == nil {
		return nilMessage(t)
	}
	for i, j := range m.Jobs {
		if j == nil {
			return missing(t, fmt.Sprintf("jobs[%d]", i))
		}
		if err := j.Validate(); err != nil {
			return nested(t, fmt.Sprintf("jobs[%d]", i), err)
		}
	}
	return nil
}

// Validate accepts any ListTasks: it has no fields.
func (m *ListTasks) Validate() error {
	if m == nil {
		return nilMessage("ListTasks")
	}
	return nil
}

// Validate checks the task's ID, names, state, node and resources.
func (m *TaskInfo) Validate() error {
	const t = "TaskInfo"
	if m == nil {
		return nilMessage(t)
	}
	if _, ok := TaskState_name[int32(m.State)]; !ok {
		return invalid(t, "state", "unknown value %d", int32(m.State))
	}
	return firstError(
		checkID(t, "task_id", m.TaskId),
		checkName(t, "function", m.Function),
		checkLen(t, "name", m.Name, MaxNameLen),
		checkHexID(t, "node_id", m.NodeId),
		checkResources(t, "resources", m.Resources),
		checkOptionalHexID(t, "job_id", m.JobId),
		checkNonNegative(t, "attempt", int64(m.Attempt)),
		checkLen(t, "reason", m.Reason, MaxTextLen),
	)
}

// Validate checks every task.
func (m *ListTasksReply) Validate() error {
	const t = "ListTasksReply"
	if m == nil {
		return nilMessage(t)
	}
	for i, task := range m.Tasks {
		if task == nil {
			return missing(t, fmt.Sprintf("tasks[%d]", i))
		}
		if err := task.Validate(); err != nil {
			return nested(t, fmt.Sprintf("tasks[%d]", i), err)
		}
	}
	return nil
}

// Validate accepts any ListNodes: it has no fields.
func (m *ListNodes) Validate() error {
	if m == nil {
		return nilMessage("ListNodes")
	}
	return nil
}

// Validate checks every node.
func (m *ListNodesReply) Validate() error {
	const t = "ListNodesReply"
	if m == nil {
		return nilMessage(t)
	}
	for i, n := range m.Nodes {
		if n == nil {
			return missing(t, fmt.Sprintf("nodes[%d]", i))
		}
		if err := n.Validate(); err != nil {
			return nested(t, fmt.Sprintf("nodes[%d]", i), err)
		}
	}
	return nil
}

// Validate checks every node, and bounds their number.
func (m *ClusterView) Validate() error {
	const t = "ClusterView"
	if m == nil {
		return nilMessage(t)
	}
	if len(m.Nodes) > MaxNodes {
		return invalid(t, "nodes", "%d nodes, more than %d", len(m.Nodes), MaxNodes)
	}
	for i, n := range m.Nodes {
		if n == nil {
			return missing(t, fmt.Sprintf("nodes[%d]", i))
		}
		if err := n.Validate(); err != nil {
			return nested(t, fmt.Sprintf("nodes[%d]", i), err)
		}
	}
	return nil
}

// Validate checks the node ID and the resources.
func (m *ResourceReport) Validate() error {
	const t = "ResourceReport"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(
		checkHexID(t, "node_id", m.NodeId),
		checkResources(t, "available", m.Available),
	)
}

// Validate checks the request: resources, strategy, the nodes it names (an
// affinity node is required by STRATEGY_NODE_AFFINITY) and labels.
func (m *PickNode) Validate() error {
	const t = "PickNode"
	if m == nil {
		return nilMessage(t)
	}
	affinity := checkOptionalHexID(t, "affinity_node", m.AffinityNode)
	if m.Strategy == Strategy_STRATEGY_NODE_AFFINITY {
		affinity = checkHexID(t, "affinity_node", m.AffinityNode)
	}
	return firstError(
		checkResources(t, "resources", m.Resources),
		checkOptionalHexID(t, "local_node", m.LocalNode),
		checkStrategy(t, "strategy", m.Strategy),
		affinity,
		checkLabels(t, "labels", m.Labels),
		checkScheduling(t, "scheduling", m.Scheduling),
	)
}

// Validate checks that the reply has the node or an error.
func (m *PickNodeReply) Validate() error {
	const t = "PickNodeReply"
	if m == nil {
		return nilMessage(t)
	}
	if m.Node == nil && m.Error == nil {
		return invalid(t, "node", "missing, and no error either")
	}
	if m.Node != nil {
		if err := m.Node.Validate(); err != nil {
			return nested(t, "node", err)
		}
	}
	return checkError(t, "error", m.Error)
}

// Validate checks the object ID and the owner when set. The data may be
// empty.
func (m *PutObject) Validate() error {
	const t = "PutObject"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "object_id", m.ObjectId),
		checkPid(t, "owner", m.Owner, false),
		checkContained(t, m.Contained),
	)
}

// Validate checks the object ID.
func (m *GetObject) Validate() error {
	if m == nil {
		return nilMessage("GetObject")
	}
	return checkID("GetObject", "object_id", m.ObjectId)
}

// Validate checks the error when set. The data may be empty.
func (m *GetObjectReply) Validate() error {
	if m == nil {
		return nilMessage("GetObjectReply")
	}
	return checkError("GetObjectReply", "error", m.Error)
}

// Validate checks every object ID and their count.
func (m *DeleteObjects) Validate() error {
	if m == nil {
		return nilMessage("DeleteObjects")
	}
	return checkIDs("DeleteObjects", "object_ids", m.ObjectIds)
}

// Validate checks that the counts and sizes are not negative.
func (s *StoreStats) Validate() error {
	const t = "StoreStats"
	if s == nil {
		return nilMessage(t)
	}
	return firstError(
		checkNonNegative(t, "objects", s.Objects),
		checkNonNegative(t, "in_memory", s.InMemory),
		checkNonNegative(t, "spilled", s.Spilled),
		checkNonNegative(t, "used_bytes", s.UsedBytes),
		checkNonNegative(t, "spilled_bytes", s.SpilledBytes),
		checkNonNegative(t, "capacity", s.Capacity),
	)
}

// Validate accepts any GetStoreStats: it has no fields.
func (m *GetStoreStats) Validate() error {
	if m == nil {
		return nilMessage("GetStoreStats")
	}
	return nil
}

// Validate accepts any GetNodeStats: it has no fields.
func (m *GetNodeStats) Validate() error {
	if m == nil {
		return nilMessage("GetNodeStats")
	}
	return nil
}

// Validate checks the node ID, the resources and that counts are not
// negative.
func (m *NodeStats) Validate() error {
	const t = "NodeStats"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(
		checkHexID(t, "node_id", m.NodeId),
		checkResources(t, "total", m.Total),
		checkResources(t, "available", m.Available),
		checkNonNegative(t, "running_tasks", int64(m.RunningTasks)),
		checkNonNegative(t, "queued_tasks", int64(m.QueuedTasks)),
		checkNonNegative(t, "actors", int64(m.Actors)),
		checkNonNegative(t, "queued_actors", int64(m.QueuedActors)),
		checkNonNegative(t, "peers", int64(m.Peers)),
	)
}

// Validate checks the object ID, the size and the node that holds it.
func (m *AddObject) Validate() error {
	const t = "AddObject"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(
		checkID(t, "object_id", m.ObjectId),
		checkNonNegative(t, "size", m.Size),
		checkHexID(t, "node_id", m.NodeId),
		checkPid(t, "store", m.Store, false),
	)
}

// Validate checks every object ID and their count in each list.
func (m *RefDelta) Validate() error {
	const t = "RefDelta"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(
		checkIDs(t, "incr", m.Incr),
		checkIDs(t, "decr", m.Decr),
	)
}

// Validate checks every object ID and their count.
func (m *FreeObjects) Validate() error {
	if m == nil {
		return nilMessage("FreeObjects")
	}
	return checkIDs("FreeObjects", "object_ids", m.ObjectIds)
}

// Validate checks the object ID.
func (m *ObjectStatus) Validate() error {
	if m == nil {
		return nilMessage("ObjectStatus")
	}
	return checkID("ObjectStatus", "object_id", m.ObjectId)
}

// Validate checks the count and the locations (node IDs).
func (m *ObjectStatusReply) Validate() error {
	const t = "ObjectStatusReply"
	if m == nil {
		return nilMessage(t)
	}
	if err := checkNonNegative(t, "count", int64(m.Count)); err != nil {
		return err
	}
	if len(m.Locations) > MaxIDs {
		return invalid(t, "locations", "%d locations, more than %d", len(m.Locations), MaxIDs)
	}
	for i, loc := range m.Locations {
		if !isHexID(loc) {
			return checkHexID(t, index("locations", i), loc)
		}
	}
	return nil
}
