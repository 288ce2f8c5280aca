package goray_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/goray-dev/goray"
)

// QuotaError is a registered error type carried by pointer.
type QuotaError struct {
	Resource string
	Limit    int
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("quota of %s exceeded (%d)", e.Resource, e.Limit)
}

// CodeError is a registered error type carried by value.
type CodeError struct{ Code int }

func (e CodeError) Error() string { return fmt.Sprintf("code %d", e.Code) }

// ChanError is registered but cannot be encoded.
type ChanError struct{ C chan int }

func (e *ChanError) Error() string { return "has a channel" }

// PlainError is not registered.
type PlainError struct{ N int }

func (e *PlainError) Error() string { return fmt.Sprintf("plain %d", e.N) }

var (
	errRegistrations = []error{
		goray.RegisterError[*QuotaError]("test.quota"),
		goray.RegisterError[CodeError]("test.code"),
		goray.RegisterError[*ChanError]("test.chan"),
	}
	failWith = goray.Task("test.errors.fail-with", func(ctx context.Context, kind string) (int, error) {
		switch kind {
		case "quota":
			return 0, fmt.Errorf("allocating: %w", &QuotaError{Resource: "GPU", Limit: 2})
		case "code":
			return 0, errors.Join(errors.New("first"), CodeError{Code: 7})
		case "chan":
			return 0, &ChanError{C: make(chan int)}
		}
		return 0, &PlainError{N: 3}
	})
	failPair = goray.TaskR2("test.errors.fail-pair", func(ctx context.Context, _ int) (int, int, error) {
		return 0, 0, &QuotaError{Resource: "CPU", Limit: 1}
	})
	failMethod = goray.Method(splitter, "fail", func(s *Splitter, ctx context.Context, limit int) (int, error) {
		return 0, &QuotaError{Resource: "memory", Limit: limit}
	})
)

func TestErrorsKeepIdentity(t *testing.T) {
	for i, err := range errRegistrations {
		if err != nil {
			t.Fatalf("registration %d: %v", i, err)
		}
	}
	ctx := start(t, goray.WithCPUs(2))
	leaksNothing(t, ctx)
	s, err := splitter.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := failPair.Remote(ctx, 0)
	tests := []struct {
		name  string
		err   error
		check func(t *testing.T, err error)
	}{
		{"registered pointer type, wrapped", get(ctx, failWith.Remote(ctx, "quota")), func(t *testing.T, err error) {
			var q *QuotaError
			if !errors.As(err, &q) || q.Resource != "GPU" || q.Limit != 2 {
				t.Fatalf("errors.As: %v, %+v", err, q)
			}
			if !strings.Contains(err.Error(), "allocating: quota of GPU exceeded (2)") {
				t.Fatalf("message: %v", err)
			}
		}},
		{"registered value type, joined", get(ctx, failWith.Remote(ctx, "code")), func(t *testing.T, err error) {
			var c CodeError
			if !errors.As(err, &c) || c.Code != 7 {
				t.Fatalf("errors.As: %v, %+v", err, c)
			}
		}},
		{"every result of a multiple return", errors.Join(get(ctx, a), get(ctx, b)), func(t *testing.T, err error) {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var q *QuotaError
				if !errors.As(e, &q) || q.Resource != "CPU" {
					t.Fatalf("errors.As: %v", e)
				}
			}
		}},
		{"actor method", get(ctx, failMethod.Remote(ctx, s, 9)), func(t *testing.T, err error) {
			var q *QuotaError
			if !errors.As(err, &q) || q.Resource != "memory" || q.Limit != 9 {
				t.Fatalf("errors.As: %v, %+v", err, q)
			}
		}},
		{"unregistered type keeps its message", get(ctx, failWith.Remote(ctx, "plain")), func(t *testing.T, err error) {
			var p *PlainError
			if errors.As(err, &p) || !strings.Contains(err.Error(), "plain 3") {
				t.Fatalf("got %v", err)
			}
		}},
		{"registered type that does not encode", get(ctx, failWith.Remote(ctx, "chan")), func(t *testing.T, err error) {
			var c *ChanError
			if errors.As(err, &c) || !strings.Contains(err.Error(), `registered type "test.chan" did not encode`) {
				t.Fatalf("got %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, goray.ErrTaskFailed) {
				t.Fatalf("%v does not wrap ErrTaskFailed", tt.err)
			}
			tt.check(t, tt.err)
		})
	}
}

func TestRegisterErrorBadInput(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"duplicate name", goray.RegisterError[*PlainError]("test.quota"), goray.ErrAlreadyExists},
		{"duplicate type", goray.RegisterError[*QuotaError]("test.quota-again"), goray.ErrAlreadyExists},
		{"interface type", goray.RegisterError[error]("test.iface"), goray.ErrInvalidArgument},
		{"empty name", goray.RegisterError[*PlainError](""), goray.ErrInvalidArgument},
	} {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}
