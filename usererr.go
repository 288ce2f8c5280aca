package goray

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/actors/codec"
	pb "github.com/goray-dev/goray/proto"
)

// errorType is a registered user error type.
type errorType struct {
	name   string
	encode func(error) ([]byte, error)
	decode func([]byte) (error, error)
}

// errorTypes is the registry of user error types: filled at package
// initialisation, read after.
var errorTypes = struct {
	sync.RWMutex
	byType map[reflect.Type]*errorType
	byName map[string]*errorType
}{byType: map[reflect.Type]*errorType{}, byName: map[string]*errorType{}}

// RegisterError registers the error type E under name, so that an error of
// type E that a task or actor method returns (itself, or wrapped anywhere in
// its chain) travels to the caller encoded: the error Get returns is a
// *TaskError whose chain holds the decoded E, so errors.As finds it with its
// fields. E is usually a pointer to a struct with exported fields. Register
// at package level, in every process of the job, like tasks; a duplicate
// name or type is an error. An error whose type is not registered keeps its
// message only, and ErrTaskFailed.
func RegisterError[E error](name string) error {
	t := reflect.TypeFor[E]()
	if name == "" || len(name) > pb.MaxNameLen {
		return fmt.Errorf("%w: RegisterError: name of %d bytes", ErrInvalidArgument, len(name))
	}
	if t.Kind() == reflect.Interface {
		return fmt.Errorf("%w: RegisterError: %v is an interface type; register a concrete error type", ErrInvalidArgument, t)
	}
	et := &errorType{
		name: name,
		encode: func(err error) ([]byte, error) {
			e, ok := err.(E)
			if !ok {
				return nil, fmt.Errorf("%T is not a %v", err, t)
			}
			return codec.Encode(e)
		},
		decode: func(data []byte) (error, error) {
			e, err := codec.Decode[E](data)
			if err != nil {
				return nil, err
			}
			return e, nil
		},
	}
	errorTypes.Lock()
	defer errorTypes.Unlock()
	if other := errorTypes.byName[name]; other != nil {
		return fmt.Errorf("%w: RegisterError: error type name %q is taken", ErrAlreadyExists, name)
	}
	if other := errorTypes.byType[t]; other != nil {
		return fmt.Errorf("%w: RegisterError: %v is registered already, as %q", ErrAlreadyExists, t, other.name)
	}
	errorTypes.byType[t], errorTypes.byName[name] = et, et
	return nil
}

// registeredIn returns the registration of the first error in err's tree
// (depth first, as errors.As searches) whose type is registered, with that
// error.
func registeredIn(err error) (*errorType, error) {
	errorTypes.RLock()
	n := len(errorTypes.byType)
	errorTypes.RUnlock()
	if n == 0 {
		return nil, nil
	}
	var walk func(e error, depth int) (*errorType, error)
	walk = func(e error, depth int) (*errorType, error) {
		if e == nil || depth > 100 {
			return nil, nil
		}
		errorTypes.RLock()
		et := errorTypes.byType[reflect.TypeOf(e)]
		errorTypes.RUnlock()
		if et != nil {
			return et, e
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			return walk(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if et, found := walk(inner, depth+1); found != nil {
					return et, found
				}
			}
		}
		return nil, nil
	}
	return walk(err, 0)
}

// userError returns the error a task or method function returned, as its
// invoker passes it on: when it holds an error of a registered type, a wire
// error carrying that error encoded; else err itself. A registered error
// that does not encode keeps its message, which says why it lost its type.
func userError(err error) error {
	et, found := registeredIn(err)
	if found == nil {
		return err
	}
	// The runner names the function and node (actors.ErrorOf).
	perr := &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_USER, Message: err.Error()}
	data, eerr := et.encode(found)
	switch {
	case eerr != nil:
		perr.Message += fmt.Sprintf(" (its error of registered type %q did not encode: %v)", et.name, eerr)
	case len(data) > pb.MaxTextLen:
		perr.Message += fmt.Sprintf(" (its error of registered type %q encodes to %d bytes, more than %d)", et.name, len(data), pb.MaxTextLen)
	default:
		perr.ErrorType, perr.ErrorData = et.name, data
	}
	return &actors.RemoteError{E: perr}
}

// decodeUserError returns the registered user error a wire error carries,
// or nil; a failure to decode it is reported instead of the error.
func decodeUserError(e *pb.Error) (error, error) {
	if e.ErrorType == "" {
		return nil, nil
	}
	errorTypes.RLock()
	et := errorTypes.byName[e.ErrorType]
	errorTypes.RUnlock()
	if et == nil {
		return nil, fmt.Errorf("error type %q is not registered in this process", e.ErrorType)
	}
	ue, err := et.decode(e.ErrorData)
	if err != nil {
		return nil, fmt.Errorf("decoding an error of type %q: %w", e.ErrorType, err)
	}
	if ue == nil {
		return nil, errors.New("decoded a nil error of type " + e.ErrorType)
	}
	return ue, nil
}
