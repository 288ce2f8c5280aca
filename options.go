package goray

import (
	"fmt"

	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// Option configures one task call, one actor creation or one method call.
// Options that do not apply to the call they are given to are an error
// (ErrInvalidArgument), never silently ignored.
type Option func(*options)

type optKind uint8

const (
	forTask optKind = 1 << iota
	forActor
	forMethod
	forLookup // GetActor
)

type options struct {
	used optKind // which kinds of call the given options apply to, ANDed
	err  error

	resources    map[string]float64
	name         string
	namespace    string
	nsSet        bool
	detached     bool
	maxRestarts  int32
	taskRetries  int32
	concurrency  int32
	maxRetries   int32
	retryOnError bool
	// scheduling is set by the scheduling options (scheduling.go).
	scheduling   *pb.Scheduling
	groups       map[string]int32
	retriesSet   bool
	backpressure int64
}

func opt(kinds optKind, f func(*options)) Option {
	return func(o *options) {
		o.used &= kinds
		f(o)
	}
}

func (o *options) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

func (o *options) resource(name string, v float64) {
	if o.resources == nil {
		o.resources = map[string]float64{}
	}
	o.resources[name] = v
}

// CPUs requests CPUs (fractional allowed). Tasks default to 1, actors to 0.
func CPUs(n float64) Option {
	return opt(forTask|forActor, func(o *options) { o.resource(placement.CPU, n) })
}

// GPUs requests GPUs: a fraction below 1 shares a device, else whole devices.
func GPUs(n float64) Option {
	return opt(forTask|forActor, func(o *options) { o.resource(placement.GPU, n) })
}

// Memory requests memory in bytes (used to place work, not enforced).
func Memory(bytes float64) Option {
	return opt(forTask|forActor, func(o *options) { o.resource(placement.Memory, bytes) })
}

// Resource requests an amount of a custom resource.
func Resource(name string, amount float64) Option {
	return opt(forTask|forActor, func(o *options) { o.resource(name, amount) })
}

// Name names an actor (it can then be found with GetActor) or, for a task,
// sets the name it is shown under; for an actor method call, the name its
// errors carry.
func Name(name string) Option {
	return opt(forTask|forActor|forMethod, func(o *options) {
		if name == "" {
			o.fail(fmt.Errorf("%w: empty name", ErrInvalidArgument))
		}
		o.name = name
	})
}

// Namespace sets the namespace a named actor is created or looked up in
// (default: the runtime's).
func Namespace(ns string) Option {
	return opt(forActor|forLookup, func(o *options) { o.namespace, o.nsSet = ns, true })
}

// Detached makes an actor outlive the job that created it; it lives until
// killed or the cluster ends.
func Detached() Option { return opt(forActor, func(o *options) { o.detached = true }) }

// MaxRestarts sets how often a failed actor is restarted (its constructor
// runs again): 0 (default) never, -1 without limit.
func MaxRestarts(n int) Option {
	return opt(forActor, func(o *options) {
		if n < -1 {
			o.fail(fmt.Errorf("%w: MaxRestarts(%d): want -1 or more", ErrInvalidArgument, n))
		}
		o.maxRestarts = int32(n)
	})
}

// MaxTaskRetries sets how often a call that was running when its actor
// failed is run again after the restart: 0 (default) never, -1 without limit.
func MaxTaskRetries(n int) Option {
	return opt(forActor, func(o *options) {
		if n < -1 {
			o.fail(fmt.Errorf("%w: MaxTaskRetries(%d): want -1 or more", ErrInvalidArgument, n))
		}
		o.taskRetries = int32(n)
	})
}

// MaxConcurrency lets an actor run up to n calls at once (default 1: calls
// run one at a time, in order per caller).
func MaxConcurrency(n int) Option {
	return opt(forActor, func(o *options) {
		if n < 1 {
			o.fail(fmt.Errorf("%w: MaxConcurrency(%d): want 1 or more", ErrInvalidArgument, n))
		}
		o.concurrency = int32(n)
	})
}

// ConcurrencyGroup gives an actor a named concurrency group that runs up to
// n calls at once, apart from the calls of its other groups and of its
// default group (MaxConcurrency). Methods join a group where they are
// registered, with InGroup; an actor must be given every group its type's
// methods are in. Repeat the option for several groups.
func ConcurrencyGroup(name string, n int) Option {
	return opt(forActor, func(o *options) {
		switch {
		case name == "":
			o.fail(fmt.Errorf("%w: ConcurrencyGroup with an empty name", ErrInvalidArgument))
		case n < 1:
			o.fail(fmt.Errorf("%w: ConcurrencyGroup(%q, %d): want 1 or more", ErrInvalidArgument, name, n))
		}
		if o.groups == nil {
			o.groups = map[string]int32{}
		}
		o.groups[name] = int32(n)
	})
}

// MaxRetries sets how often a task is retried after a system failure (its
// node died), and after a user error when RetryExceptions is given: default
// 3, 0 never, -1 without limit.
func MaxRetries(n int) Option {
	return opt(forTask|forMethod, func(o *options) {
		if n < -1 {
			o.fail(fmt.Errorf("%w: MaxRetries(%d): want -1 or more", ErrInvalidArgument, n))
		}
		o.maxRetries, o.retriesSet = int32(n), true
	})
}

// RetryExceptions retries a task whose code returned an error or panicked,
// up to MaxRetries times.
func RetryExceptions() Option { return opt(forTask, func(o *options) { o.retryOnError = true }) }

var kindNames = map[optKind]string{forTask: "task", forActor: "actor creation", forMethod: "actor method call", forLookup: "actor lookup"}

// noOptions is what a call without options gets; it is never modified.
var noOptions = options{used: forTask | forActor | forMethod | forLookup, maxRetries: 3, concurrency: 1}

// buildOptions applies opts for a call of kind k.
func buildOptions(k optKind, opts []Option) (*options, error) {
	if len(opts) == 0 {
		return &noOptions, nil
	}
	o := new(options)
	*o = noOptions
	for _, f := range opts {
		if f == nil {
			continue
		}
		before := o.used
		f(o)
		if o.used&k == 0 {
			return nil, fmt.Errorf("%w: an option given to this %s does not apply to it", ErrInvalidArgument, kindNames[k])
		}
		o.used = before
	}
	if o.err != nil {
		return nil, o.err
	}
	return o, nil
}

// defaultTaskResources is the request of a task without resource options.
var defaultTaskResources = map[string]int64{placement.CPU: int64(placement.Unit)}

// wireResources validates o's request for a call of kind k.
func (o *options) wireResources(k optKind) (map[string]int64, error) {
	if o.resources == nil {
		if k == forTask {
			return defaultTaskResources, nil
		}
		return nil, nil
	}
	m := o.resources
	if _, ok := m[placement.CPU]; !ok && k == forTask {
		m[placement.CPU] = 1
	}
	r, err := placement.FromFloats(m)
	if err == nil {
		err = placement.ValidateRequest(r)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return placement.ToWire(r), nil
}
