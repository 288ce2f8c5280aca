package actors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// Sentinel errors of the registry.
var (
	// ErrNotRegistered: no function, actor type or method has that name.
	ErrNotRegistered = errors.New("not registered")
	// ErrDuplicate: a name was registered twice.
	ErrDuplicate = errors.New("registered twice")
	// ErrArgCount: a call carried the wrong number of arguments.
	ErrArgCount = errors.New("wrong number of arguments")
	// ErrNilFunc: a nil function, constructor or method was registered.
	ErrNilFunc = errors.New("nil function")
)

// Invoker runs a registered function on encoded arguments and returns its
// encoded result.
type Invoker func(ctx context.Context, args [][]byte) ([]byte, error)

// Constructor builds an actor instance from encoded arguments.
type Constructor func(ctx context.Context, args [][]byte) (any, error)

// MethodInvoker runs one method on an actor instance.
type MethodInvoker func(ctx context.Context, inst any, args [][]byte) ([]byte, error)

// Func is a registered task function.
type Func struct {
	Name    string
	NumArgs int
	Invoke  Invoker
	// Signature is the function's Go type, for the build fingerprint.
	Signature string
}

// Method is a registered actor method.
type Method struct {
	Name      string
	NumArgs   int
	Invoke    MethodInvoker
	Signature string
	// qualified is "type.method", as errors name the function; set when
	// the method is registered.
	qualified string
	// group is the concurrency group the method's calls run in ("" for
	// the actor's default); read and set under its type's lock.
	group string
}

// ActorType is a registered actor type: its constructor and methods.
type ActorType struct {
	Name      string
	NumArgs   int
	New       Constructor
	Signature string

	mu      sync.RWMutex
	methods map[string]*Method
}

// Method returns the named method.
func (t *ActorType) Method(name string) (*Method, error) {
	t.mu.RLock()
	m := t.methods[name]
	t.mu.RUnlock()
	if m == nil {
		return nil, fmt.Errorf("method %q of actor type %q: %w", name, t.Name, ErrNotRegistered)
	}
	return m, nil
}

// SetGroup assigns method name to a concurrency group ("" for the
// default): its calls run in that group of every actor of this type.
func (t *ActorType) SetGroup(name, group string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.methods[name]
	if m == nil {
		return fmt.Errorf("method %q of actor type %q: %w", name, t.Name, ErrNotRegistered)
	}
	m.group = group
	return nil
}

// GroupOf returns the concurrency group of method name ("" for the
// default, or when there is no such method).
func (t *ActorType) GroupOf(name string) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if m := t.methods[name]; m != nil {
		return m.group
	}
	return ""
}

// Groups returns the concurrency groups the type's methods are in, sorted.
func (t *ActorType) Groups() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	for _, m := range t.methods {
		if m.group != "" && !slices.Contains(out, m.group) {
			out = append(out, m.group)
		}
	}
	sort.Strings(out)
	return out
}

// Registry maps names to functions and actor types. Every process of a job
// registers the same names at start-up, so a name identifies code across
// processes. It is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	funcs  map[string]*Func
	actors map[string]*ActorType
	errs   []error
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{funcs: map[string]*Func{}, actors: map[string]*ActorType{}}
}

// Default is the process-wide registry that package-level definitions fill.
var Default = NewRegistry()

func validName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s name must not be empty", kind)
	}
	return nil
}

// RegisterFunc adds a task function. A failed registration is also kept in
// Errors, so a runtime can refuse to start with a broken registry.
func (r *Registry) RegisterFunc(f *Func) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := validName("function", f.Name)
	switch {
	case err != nil:
	case f.Invoke == nil:
		err = fmt.Errorf("function %q: %w", f.Name, ErrNilFunc)
	case r.funcs[f.Name] != nil:
		err = fmt.Errorf("function %q: %w", f.Name, ErrDuplicate)
	}
	if err != nil {
		r.errs = append(r.errs, err)
		return err
	}
	r.funcs[f.Name] = f
	return nil
}

// RegisterActor adds an actor type.
func (r *Registry) RegisterActor(t *ActorType) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := validName("actor type", t.Name)
	switch {
	case err != nil:
	case t.New == nil:
		err = fmt.Errorf("actor type %q: %w", t.Name, ErrNilFunc)
	case r.actors[t.Name] != nil:
		err = fmt.Errorf("actor type %q: %w", t.Name, ErrDuplicate)
	}
	if err != nil {
		r.errs = append(r.errs, err)
		return err
	}
	if t.methods == nil {
		t.methods = map[string]*Method{}
	}
	r.actors[t.Name] = t
	return nil
}

// RegisterMethod adds a method to a registered actor type.
func (r *Registry) RegisterMethod(actorType string, m *Method) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.actors[actorType]
	err := validName("method", m.Name)
	switch {
	case err != nil:
	case m.Invoke == nil:
		err = fmt.Errorf("method %q of actor type %q: %w", m.Name, actorType, ErrNilFunc)
	case t == nil:
		err = fmt.Errorf("method %q: actor type %q: %w", m.Name, actorType, ErrNotRegistered)
	default:
		t.mu.Lock()
		if t.methods[m.Name] != nil {
			err = fmt.Errorf("method %q of actor type %q: %w", m.Name, actorType, ErrDuplicate)
		} else {
			m.qualified = actorType + "." + m.Name
			t.methods[m.Name] = m
		}
		t.mu.Unlock()
	}
	if err != nil {
		r.errs = append(r.errs, err)
	}
	return err
}

// Func returns the named task function.
func (r *Registry) Func(name string) (*Func, error) {
	r.mu.RLock()
	f := r.funcs[name]
	r.mu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("function %q: %w", name, ErrNotRegistered)
	}
	return f, nil
}

// Actor returns the named actor type.
func (r *Registry) Actor(name string) (*ActorType, error) {
	r.mu.RLock()
	t := r.actors[name]
	r.mu.RUnlock()
	if t == nil {
		return nil, fmt.Errorf("actor type %q: %w", name, ErrNotRegistered)
	}
	return t, nil
}

// Err joins every failed registration, or returns nil.
func (r *Registry) Err() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return errors.Join(r.errs...)
}

// Names lists registered functions and actor types, sorted.
func (r *Registry) Names() (funcs, actorTypes []string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for n := range r.funcs {
		funcs = append(funcs, n)
	}
	for n := range r.actors {
		actorTypes = append(actorTypes, n)
	}
	sort.Strings(funcs)
	sort.Strings(actorTypes)
	return funcs, actorTypes
}

// Fingerprint identifies what the registry holds: a hash over every
// function, actor type and method with its arity and signature. Processes
// that run the same build have the same fingerprint.
func (r *Registry) Fingerprint() string {
	r.mu.RLock()
	var lines []string
	for _, f := range r.funcs {
		lines = append(lines, fmt.Sprintf("func %s/%d %s", f.Name, f.NumArgs, f.Signature))
	}
	for _, t := range r.actors {
		lines = append(lines, fmt.Sprintf("actor %s/%d %s", t.Name, t.NumArgs, t.Signature))
		t.mu.RLock()
		for _, m := range t.methods {
			lines = append(lines, fmt.Sprintf("method %s.%s/%d %s group %q", t.Name, m.Name, m.NumArgs, m.Signature, m.group))
		}
		t.mu.RUnlock()
	}
	r.mu.RUnlock()
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// CheckArgs reports ErrArgCount when got differs from want, naming the
// callee as kind and name ("method", "T.m"), joined only on error.
func CheckArgs(kind, name string, want, got int) error {
	if want != got {
		return fmt.Errorf("%s %s: %w: want %d, got %d", kind, name, ErrArgCount, want, got)
	}
	return nil
}
