package actors

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func nopInvoker(context.Context, [][]byte) ([]byte, error) { return nil, nil }

func nopMethod(context.Context, any, [][]byte) ([]byte, error) { return nil, nil }

func nopConstructor(context.Context, [][]byte) (any, error) { return struct{}{}, nil }

func TestRegistryRegistrationErrors(t *testing.T) {
	tests := []struct {
		name string
		// register performs the registrations; the last one is checked.
		register func(r *Registry) error
		want     error  // sentinel the last error wraps; nil when it must succeed
		wantText string // substring of the last error
	}{
		{
			name:     "func ok",
			register: func(r *Registry) error { return r.RegisterFunc(&Func{Name: "f", Invoke: nopInvoker}) },
		},
		{
			name: "func duplicate",
			register: func(r *Registry) error {
				_ = r.RegisterFunc(&Func{Name: "f", Invoke: nopInvoker})
				return r.RegisterFunc(&Func{Name: "f", Invoke: nopInvoker})
			},
			want:     ErrDuplicate,
			wantText: `function "f"`,
		},
		{
			name:     "func empty name",
			register: func(r *Registry) error { return r.RegisterFunc(&Func{Invoke: nopInvoker}) },
			wantText: "function name must not be empty",
		},
		{
			name: "actor duplicate",
			register: func(r *Registry) error {
				_ = r.RegisterActor(&ActorType{Name: "a", New: nopConstructor})
				return r.RegisterActor(&ActorType{Name: "a", New: nopConstructor})
			},
			want:     ErrDuplicate,
			wantText: `actor type "a"`,
		},
		{
			name:     "actor empty name",
			register: func(r *Registry) error { return r.RegisterActor(&ActorType{New: nopConstructor}) },
			wantText: "actor type name must not be empty",
		},
		{
			name: "func and actor may share a name",
			register: func(r *Registry) error {
				_ = r.RegisterFunc(&Func{Name: "x", Invoke: nopInvoker})
				return r.RegisterActor(&ActorType{Name: "x", New: nopConstructor})
			},
		},
		{
			name:     "method on unknown actor type",
			register: func(r *Registry) error { return r.RegisterMethod("ghost", &Method{Name: "m", Invoke: nopMethod}) },
			want:     ErrNotRegistered,
			wantText: `actor type "ghost"`,
		},
		{
			name: "method duplicate",
			register: func(r *Registry) error {
				_ = r.RegisterActor(&ActorType{Name: "a", New: nopConstructor})
				_ = r.RegisterMethod("a", &Method{Name: "m", Invoke: nopMethod})
				return r.RegisterMethod("a", &Method{Name: "m", Invoke: nopMethod})
			},
			want:     ErrDuplicate,
			wantText: `method "m" of actor type "a"`,
		},
		{
			name: "method empty name",
			register: func(r *Registry) error {
				_ = r.RegisterActor(&ActorType{Name: "a", New: nopConstructor})
				return r.RegisterMethod("a", &Method{Invoke: nopMethod})
			},
			wantText: "method name must not be empty",
		},
		{
			name: "same method name on two types",
			register: func(r *Registry) error {
				_ = r.RegisterActor(&ActorType{Name: "a", New: nopConstructor})
				_ = r.RegisterActor(&ActorType{Name: "b", New: nopConstructor})
				_ = r.RegisterMethod("a", &Method{Name: "m", Invoke: nopMethod})
				return r.RegisterMethod("b", &Method{Name: "m", Invoke: nopMethod})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			err := tt.register(r)
			if tt.want == nil && tt.wantText == "" {
				if err != nil {
					t.Fatalf("registration failed: %v", err)
				}
				if jerr := r.Err(); jerr != nil {
					t.Fatalf("Err() = %v, want nil", jerr)
				}
				return
			}
			if err == nil {
				t.Fatal("registration succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			jerr := r.Err()
			if jerr == nil {
				t.Fatal("Err() = nil after a failed registration")
			}
			if tt.want != nil && !errors.Is(jerr, tt.want) {
				t.Errorf("Err() = %v does not wrap %v", jerr, tt.want)
			}
		})
	}
}

func TestRegistryErrJoinsEveryFailure(t *testing.T) {
	r := NewRegistry()
	if err := r.Err(); err != nil {
		t.Fatalf("fresh registry: Err() = %v", err)
	}
	_ = r.RegisterFunc(&Func{Name: "f", Invoke: nopInvoker})
	_ = r.RegisterFunc(&Func{Name: "f", Invoke: nopInvoker})
	_ = r.RegisterActor(&ActorType{Name: "a", New: nopConstructor})
	_ = r.RegisterActor(&ActorType{Name: "a", New: nopConstructor})
	_ = r.RegisterMethod("nope", &Method{Name: "m", Invoke: nopMethod})

	err := r.Err()
	if err == nil {
		t.Fatal("Err() = nil")
	}
	if !errors.Is(err, ErrDuplicate) || !errors.Is(err, ErrNotRegistered) {
		t.Errorf("Err() = %v, want both ErrDuplicate and ErrNotRegistered", err)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Err() = %T, want a joined error", err)
	}
	if n := len(joined.Unwrap()); n != 3 {
		t.Errorf("Err() joins %d errors, want 3: %v", n, err)
	}
	for _, want := range []string{`function "f"`, `actor type "a"`, `actor type "nope"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %q, missing %q", err, want)
		}
	}
}

func TestRegistryLookup(t *testing.T) {
	r := NewRegistry()
	f := &Func{Name: "square", NumArgs: 1, Invoke: nopInvoker}
	typ := &ActorType{Name: "counter", NumArgs: 1, New: nopConstructor}
	m := &Method{Name: "add", NumArgs: 1, Invoke: nopMethod}
	for _, err := range []error{r.RegisterFunc(f), r.RegisterActor(typ), r.RegisterMethod("counter", m)} {
		if err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name    string
		lookup  func() (any, error)
		want    any
		wantErr string
	}{
		{"func", func() (any, error) { return r.Func("square") }, f, ""},
		{"unknown func", func() (any, error) { return r.Func("cube") }, nil, `function "cube"`},
		{"actor", func() (any, error) { return r.Actor("counter") }, typ, ""},
		{"unknown actor", func() (any, error) { return r.Actor("gauge") }, nil, `actor type "gauge"`},
		{"func name is not an actor", func() (any, error) { return r.Actor("square") }, nil, `actor type "square"`},
		{"method", func() (any, error) { return typ.Method("add") }, m, ""},
		{"unknown method", func() (any, error) { return typ.Method("sub") }, nil, `method "sub" of actor type "counter"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lookup()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("lookup: %v", err)
				}
				switch g := got.(type) {
				case *Func:
					if g != tt.want {
						t.Errorf("got %p, want the registered %p", g, tt.want)
					}
				case *ActorType:
					if g != tt.want {
						t.Errorf("got %p, want the registered %p", g, tt.want)
					}
				case *Method:
					if g != tt.want {
						t.Errorf("got %p, want the registered %p", g, tt.want)
					}
				default:
					t.Fatalf("unexpected %T", got)
				}
				return
			}
			if !errors.Is(err, ErrNotRegistered) {
				t.Fatalf("err = %v, want ErrNotRegistered", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q, missing %q", err, tt.wantErr)
			}
		})
	}
	// Lookups never count as failed registrations.
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v after lookups only", err)
	}
}

func TestRegistryNamesSorted(t *testing.T) {
	r := NewRegistry()
	for _, n := range []string{"zeta", "alpha", "mid"} {
		if err := r.RegisterFunc(&Func{Name: n, Invoke: nopInvoker}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"worker", "counter"} {
		if err := r.RegisterActor(&ActorType{Name: n, New: nopConstructor}); err != nil {
			t.Fatal(err)
		}
	}
	funcs, types := r.Names()
	if want := []string{"alpha", "mid", "zeta"}; !slices.Equal(funcs, want) {
		t.Errorf("funcs = %v, want %v", funcs, want)
	}
	if want := []string{"counter", "worker"}; !slices.Equal(types, want) {
		t.Errorf("actor types = %v, want %v", types, want)
	}
}

func TestRegistryConcurrentUse(t *testing.T) {
	r := NewRegistry()
	if err := r.RegisterActor(&ActorType{Name: "a", New: nopConstructor}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := make(chan error, 2*n)
	for i := range n {
		go func() {
			errs <- r.RegisterFunc(&Func{Name: "shared", Invoke: nopInvoker})
		}()
		go func() {
			errs <- r.RegisterMethod("a", &Method{Name: string(rune('a' + i)), Invoke: nopMethod})
		}()
	}
	var dup, ok int
	for range 2 * n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrDuplicate):
			dup++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	// One of the racing "shared" registrations wins; every method is new.
	if ok != n+1 || dup != n-1 {
		t.Errorf("ok = %d, duplicates = %d; want %d and %d", ok, dup, n+1, n-1)
	}
}

func TestCheckArgs(t *testing.T) {
	tests := []struct {
		want, got int
		ok        bool
	}{
		{0, 0, true},
		{2, 2, true},
		{1, 0, false},
		{1, 2, false},
		{0, 3, false},
	}
	for _, tt := range tests {
		err := CheckArgs("function", "f", tt.want, tt.got)
		if tt.ok {
			if err != nil {
				t.Errorf("CheckArgs(%d, %d) = %v, want nil", tt.want, tt.got, err)
			}
			continue
		}
		if !errors.Is(err, ErrArgCount) {
			t.Errorf("CheckArgs(%d, %d) = %v, want ErrArgCount", tt.want, tt.got, err)
			continue
		}
		for _, s := range []string{"function f", "want", "got"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("CheckArgs(%d, %d) = %q, missing %q", tt.want, tt.got, err, s)
			}
		}
	}
}
