package goray

import (
	"context"
	"fmt"

	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// Scheduling strategies and label selectors: where a task or actor may run.
//
// Without them, work follows the default hybrid policy: it stays on the
// node that submits it while that node is under half used, and otherwise
// goes to one of the least-used nodes, picked at random among the best
// few. At most one of Spread, NodeAffinity, SoftNodeAffinity and
// InPlacementGroup applies to a call; LabelSelector and PreferLabels
// combine with the first three.

// LabelExpr is one condition on a node's labels; build it with LabelIn,
// LabelNotIn, LabelExists or LabelDoesNotExist.
type LabelExpr struct{ e placement.LabelExpr }

// LabelIn matches nodes whose label key has one of values.
func LabelIn(key string, values ...string) LabelExpr {
	return LabelExpr{placement.LabelExpr{Key: key, Op: placement.OpIn, Values: values}}
}

// LabelNotIn matches nodes without the label key or with none of values.
func LabelNotIn(key string, values ...string) LabelExpr {
	return LabelExpr{placement.LabelExpr{Key: key, Op: placement.OpNotIn, Values: values}}
}

// LabelExists matches nodes that have the label key.
func LabelExists(key string) LabelExpr {
	return LabelExpr{placement.LabelExpr{Key: key, Op: placement.OpExists}}
}

// LabelDoesNotExist matches nodes without the label key.
func LabelDoesNotExist(key string) LabelExpr {
	return LabelExpr{placement.LabelExpr{Key: key, Op: placement.OpDoesNotExist}}
}

func (e LabelExpr) String() string { return e.e.String() }

// Well-known node labels, set on every node.
const (
	LabelNodeID          = placement.LabelNodeID
	LabelHostname        = placement.LabelHostname
	LabelOS              = placement.LabelOS
	LabelArch            = placement.LabelArch
	LabelAcceleratorType = placement.LabelAcceleratorType
)

func selectorOf(exprs []LabelExpr) (placement.Selector, error) {
	if len(exprs) == 0 {
		return nil, fmt.Errorf("%w: a label selector without expressions", ErrInvalidArgument)
	}
	sel := make(placement.Selector, len(exprs))
	for i, e := range exprs {
		sel[i] = e.e
	}
	if err := sel.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return sel, nil
}

// sched returns o's scheduling, creating it.
func (o *options) sched() *pb.Scheduling {
	if o.scheduling == nil {
		o.scheduling = &pb.Scheduling{BundleIndex: -1}
	}
	return o.scheduling
}

// strategy sets the strategy of o's scheduling, failing when another one
// was set already.
func (o *options) strategy(name string, f func(s *pb.Scheduling)) {
	s := o.sched()
	if s.Strategy != pb.Strategy_STRATEGY_DEFAULT || len(s.PlacementGroup) > 0 {
		o.fail(fmt.Errorf("%w: %s: the call has a scheduling strategy already", ErrInvalidArgument, name))
		return
	}
	f(s)
}

// Spread places the task or actor on the least-used node that can take
// it, rotating among equals, so that successive calls spread over the
// cluster.
func Spread() Option {
	return opt(forTask|forActor, func(o *options) {
		o.strategy("Spread", func(s *pb.Scheduling) { s.Strategy = pb.Strategy_STRATEGY_SPREAD })
	})
}

// NodeAffinity runs the task or actor on the node with this ID (see
// NodeID and Nodes). It fails with ErrInfeasible when that node is dead,
// unknown or too small, and waits while it is busy.
func NodeAffinity(nodeID string) Option {
	return opt(forTask|forActor, func(o *options) { o.affinity("NodeAffinity", nodeID, false) })
}

// SoftNodeAffinity prefers the node with this ID, and falls back to the
// default policy when that node is dead, unknown or too small.
func SoftNodeAffinity(nodeID string) Option {
	return opt(forTask|forActor, func(o *options) { o.affinity("SoftNodeAffinity", nodeID, true) })
}

func (o *options) affinity(name, nodeID string, soft bool) {
	if nodeID == "" {
		o.fail(fmt.Errorf("%w: %s: empty node ID", ErrInvalidArgument, name))
		return
	}
	o.strategy(name, func(s *pb.Scheduling) {
		s.Strategy, s.AffinityNode, s.AffinitySoft = pb.Strategy_STRATEGY_NODE_AFFINITY, nodeID, soft
	})
}

// LabelSelector runs the task or actor only on nodes whose labels match
// every expression (a hard selector): ErrInfeasible when no node does.
func LabelSelector(exprs ...LabelExpr) Option {
	return opt(forTask|forActor, func(o *options) {
		sel, err := selectorOf(exprs)
		if err != nil {
			o.fail(err)
			return
		}
		o.sched().Selector = append(o.sched().Selector, placement.SelectorToWire(sel)...)
	})
}

// PreferLabels prefers nodes whose labels match every expression (a soft
// selector): others are used when no matching node can take the work.
func PreferLabels(exprs ...LabelExpr) Option {
	return opt(forTask|forActor, func(o *options) {
		sel, err := selectorOf(exprs)
		if err != nil {
			o.fail(err)
			return
		}
		o.sched().Prefer = append(o.sched().Prefer, placement.SelectorToWire(sel)...)
	})
}

// AnyBundle is the bundle index of InPlacementGroup that lets the work run
// in any bundle of the group that fits it.
const AnyBundle = -1

// InPlacementGroup runs the task or actor in bundle index of the group
// (AnyBundle: any bundle that fits it), drawing on the resources the
// bundle reserved. It waits while the group is pending, fails with
// ErrPlacementGroupRemoved once the group is removed, with ErrInfeasible
// when the request exceeds the bundle, and with ErrInvalidArgument for an
// index out of range.
func InPlacementGroup(pg *PlacementGroup, index int) Option {
	return opt(forTask|forActor, func(o *options) {
		switch {
		case pg == nil:
			o.fail(fmt.Errorf("%w: InPlacementGroup: nil placement group", ErrInvalidArgument))
			return
		case index < AnyBundle || index >= pg.bundles:
			o.fail(fmt.Errorf("%w: InPlacementGroup: bundle index %d is out of range: the group has %d bundles",
				ErrInvalidArgument, index, pg.bundles))
			return
		}
		o.strategy("InPlacementGroup", func(s *pb.Scheduling) {
			s.PlacementGroup, s.BundleIndex = pg.id[:], int32(index)
		})
	})
}

// CaptureChildTasks makes the tasks and actors that the task or actor
// submits without a strategy of their own run in its placement group too
// (in any bundle). It applies with InPlacementGroup.
func CaptureChildTasks() Option {
	return opt(forTask|forActor, func(o *options) { o.sched().CaptureChildTasks = true })
}

// schedulingFrom returns the scheduling of a call: its options', or, for
// a call without a strategy made by work that captures its children, the
// placement group of that work.
func (o *options) schedulingFrom(ctx context.Context) *pb.Scheduling {
	s := o.scheduling
	if s != nil && (s.Strategy != pb.Strategy_STRATEGY_DEFAULT || len(s.PlacementGroup) > 0) {
		return s
	}
	if info := callOf(ctx); info != nil && info.Scheduling != nil && info.Scheduling.CaptureChildTasks &&
		len(info.Scheduling.PlacementGroup) > 0 {
		captured := &pb.Scheduling{PlacementGroup: info.Scheduling.PlacementGroup, BundleIndex: -1, CaptureChildTasks: true}
		if s != nil {
			captured.Selector, captured.Prefer = s.Selector, s.Prefer
		}
		return captured
	}
	return s
}

// WhyPending says why the task that returns ref waits: "" when it runs,
// finished, or is not known to any live node.
func WhyPending(ctx context.Context, ref AnyRef) (string, error) {
	tasks, err := ListTasks(ctx)
	if err != nil {
		return "", err
	}
	id := ref.ID().String()
	for _, t := range tasks {
		if t.ID == id && t.State != "RUNNING" {
			return t.State + ": " + t.Reason, nil
		}
	}
	return "", nil
}
