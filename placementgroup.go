package goray

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goray-dev/goray/objects"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// PlacementStrategy says how the bundles of a placement group relate to
// nodes.
type PlacementStrategy int

const (
	// Pack puts the bundles on as few nodes as possible (Ray's default).
	Pack PlacementStrategy = iota
	// SpreadBundles puts the bundles on distinct nodes where it can.
	SpreadBundles
	// StrictPack puts every bundle on one node, or the group waits.
	StrictPack
	// StrictSpread puts every bundle on a different node, or the group
	// waits.
	StrictSpread
)

func (s PlacementStrategy) String() string { return placement.GroupStrategy(s).String() }

// Bundle is the resources one bundle of a placement group reserves on one
// node, optionally restricted to nodes whose labels match Labels.
type Bundle struct {
	Resources map[string]float64
	Labels    []LabelExpr
}

// PlacementGroup is a set of bundles reserved together, all or nothing;
// tasks and actors run in it with InPlacementGroup.
type PlacementGroup struct {
	rt      *runtime
	id      objects.ID
	bundles int
	name    string
	// created is set once the group is known to have been created, and
	// removed once this handle removed it: Ready then answers at once.
	created, removed atomic.Bool
}

// ID returns the group's ID in hex.
func (pg *PlacementGroup) ID() string { return pg.id.String() }

// Bundles returns the number of bundles of the group.
func (pg *PlacementGroup) Bundles() int { return pg.bundles }

// Name returns the group's name ("" for an unnamed group).
func (pg *PlacementGroup) Name() string { return pg.name }

// PlacementGroupOption configures CreatePlacementGroup.
type PlacementGroupOption func(*pgOptions)

type pgOptions struct {
	name, namespace string
	nsSet, detached bool
}

// GroupName names the group, so that GetPlacementGroup finds it; names are
// unique within a namespace.
func GroupName(name string) PlacementGroupOption { return func(o *pgOptions) { o.name = name } }

// GroupNamespace sets the namespace of a named group (default: the
// runtime's).
func GroupNamespace(ns string) PlacementGroupOption {
	return func(o *pgOptions) { o.namespace, o.nsSet = ns, true }
}

// GroupDetached makes the group outlive the job that created it; it lives
// until removed.
func GroupDetached() PlacementGroupOption { return func(o *pgOptions) { o.detached = true } }

// PlacementGroupState is the lifecycle state of a placement group.
type PlacementGroupState string

// States of a placement group.
const (
	GroupPending      PlacementGroupState = "PENDING"
	GroupCreated      PlacementGroupState = "CREATED"
	GroupRemoved      PlacementGroupState = "REMOVED"
	GroupRescheduling PlacementGroupState = "RESCHEDULING"
	GroupInfeasible   PlacementGroupState = "INFEASIBLE"
)

// PlacementGroupInfo describes a placement group as the cluster knows it.
type PlacementGroupInfo struct {
	ID, Name, Namespace string
	Strategy            PlacementStrategy
	State               PlacementGroupState
	// Reason says why a group is pending, infeasible or was removed.
	Reason string
	// Bundles are the groups's bundles; BundleNodes the node of each ("":
	// none now).
	Bundles     []map[string]float64
	BundleNodes []string
	Detached    bool
	// Reschedules counts how often bundles lost with their node were
	// placed again.
	Reschedules int
}

func groupInfoOf(i *pb.PlacementGroupInfo) PlacementGroupInfo {
	out := PlacementGroupInfo{
		ID: fmt.Sprintf("%x", i.Spec.GroupId), Name: i.Spec.Name, Namespace: i.Spec.Namespace,
		Strategy: PlacementStrategy(i.Spec.Strategy), Reason: i.Reason, BundleNodes: append([]string(nil), i.BundleNodes...),
		State:    PlacementGroupState(strings.TrimPrefix(i.State.String(), "GROUP_STATE_")),
		Detached: i.Spec.Detached, Reschedules: int(i.Reschedules),
	}
	for _, b := range i.Spec.Bundles {
		out.Bundles = append(out.Bundles, floats(b.Resources))
	}
	return out
}

// CreatePlacementGroup reserves bundles of resources under strategy, all
// or nothing, and returns at once: the group is pending until every bundle
// is reserved (Ready waits for that). Malformed bundles (negative, NaN or
// unknown-format amounts, empty bundles, bad selectors) fail with
// ErrInvalidArgument; a taken name with ErrAlreadyExists.
func CreatePlacementGroup(ctx context.Context, bundles []Bundle, strategy PlacementStrategy, opts ...PlacementGroupOption) (*PlacementGroup, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return nil, err
	}
	var o pgOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if !o.nsSet {
		o.namespace = rt.namespace
	}
	if strategy < Pack || strategy > StrictSpread {
		return nil, fmt.Errorf("%w: placement group strategy %d", ErrInvalidArgument, int(strategy))
	}
	if len(bundles) == 0 || len(bundles) > pb.MaxBundles {
		return nil, fmt.Errorf("%w: a placement group has 1 to %d bundles, not %d", ErrInvalidArgument, pb.MaxBundles, len(bundles))
	}
	id := rt.ids.Next()
	spec := &pb.PlacementGroupSpec{GroupId: id[:], Name: o.name, Namespace: o.namespace,
		Strategy: pb.GroupStrategy(strategy), Detached: o.detached, JobId: rt.jobID}
	for i, b := range bundles {
		r, err := placement.FromFloats(b.Resources)
		if err == nil {
			err = placement.ValidateRequest(r)
		}
		if err == nil && r.IsZero() {
			err = fmt.Errorf("it asks for no resources")
		}
		if err != nil {
			return nil, fmt.Errorf("%w: bundle %d: %w", ErrInvalidArgument, i, err)
		}
		wb := &pb.Bundle{Resources: placement.ToWire(r)}
		if len(b.Labels) > 0 {
			sel, err := selectorOf(b.Labels)
			if err != nil {
				return nil, fmt.Errorf("bundle %d: %w", i, err)
			}
			wb.Selector = placement.SelectorToWire(sel)
		}
		spec.Bundles = append(spec.Bundles, wb)
	}
	info, err := rt.groupRequest(ctx, &pb.CreatePlacementGroup{Spec: spec})
	if err != nil {
		return nil, fmt.Errorf("creating placement group: %w", err)
	}
	pg := &PlacementGroup{rt: rt, id: id, bundles: len(bundles), name: o.name}
	pg.created.Store(info.State == pb.GroupState_GROUP_STATE_CREATED)
	return pg, nil
}

// groupRequest asks the placement actor and unwraps its reply.
func (rt *runtime) groupRequest(ctx context.Context, msg any) (*pb.PlacementGroupInfo, error) {
	reply, err := rt.request(ctx, rt.node.Placement, msg)
	if err != nil {
		return nil, err
	}
	r, ok := reply.(*pb.PlacementGroupReply)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected reply %T", ErrSystem, reply)
	}
	if r.Error != nil {
		return nil, fromWire(r.Error)
	}
	return r.Info, nil
}

// Ready waits until every bundle of the group is reserved (at once when
// it was reserved already). It fails with
// ErrInfeasible when no set of the cluster's nodes could ever hold the
// group (the group stays, and is placed should nodes join), with
// ErrPlacementGroupRemoved once the group is removed, and with ErrTimeout
// or the context's error when ctx ends first.
func (pg *PlacementGroup) Ready(ctx context.Context) error {
	if pg.created.Load() && !pg.removed.Load() {
		return nil
	}
	info, err := pg.rt.groupRequest(ctx, &pb.GetPlacementGroup{GroupId: pg.id[:], WaitReady: true})
	if err != nil {
		return fmt.Errorf("placement group %s: %w", pg.ID(), err)
	}
	switch info.State {
	case pb.GroupState_GROUP_STATE_CREATED:
		pg.created.Store(true)
		return nil
	case pb.GroupState_GROUP_STATE_REMOVED:
		return fmt.Errorf("%w: placement group %s: %s", ErrPlacementGroupRemoved, pg.ID(), info.Reason)
	case pb.GroupState_GROUP_STATE_INFEASIBLE:
		return fmt.Errorf("%w: placement group %s: %s", ErrInfeasible, pg.ID(), info.Reason)
	}
	return fmt.Errorf("%w: placement group %s is %v", ErrSystem, pg.ID(), info.State)
}

// Wait waits up to timeout for the group to be ready and reports whether
// it is, as Ray's wait does; errors other than the timeout are returned.
func (pg *PlacementGroup) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := pg.Ready(wctx)
	if err != nil && wctx.Err() != nil && ctx.Err() == nil {
		return false, nil
	}
	return err == nil, err
}

// Info returns what the cluster knows of the group now: its state, why it
// waits, and its bundles' nodes.
func (pg *PlacementGroup) Info(ctx context.Context) (PlacementGroupInfo, error) {
	info, err := pg.rt.groupRequest(ctx, &pb.GetPlacementGroup{GroupId: pg.id[:]})
	if err != nil {
		return PlacementGroupInfo{}, err
	}
	return groupInfoOf(info), nil
}

// Remove releases every bundle of the group and kills what runs in it:
// its actors die, its queued tasks fail with ErrPlacementGroupRemoved and
// its running tasks are cancelled. Removing it again fails with
// ErrPlacementGroupRemoved.
//
// Remove returns once the cluster has recorded the removal; as in Ray, the
// kills reach the group's nodes a moment later, so a call to one of its
// actors sent right after Remove may still be answered.
func (pg *PlacementGroup) Remove(ctx context.Context) error {
	pg.removed.Store(true)
	if _, err := pg.rt.groupRequest(ctx, &pb.RemovePlacementGroup{GroupId: pg.id[:]}); err != nil {
		return fmt.Errorf("removing placement group %s: %w", pg.ID(), err)
	}
	return nil
}

// GetPlacementGroup finds a named placement group in the runtime's
// namespace, or the one GroupNamespace gives; ErrNotFound when there is
// none.
func GetPlacementGroup(ctx context.Context, name string, opts ...PlacementGroupOption) (*PlacementGroup, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return nil, err
	}
	o := pgOptions{namespace: rt.namespace}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if name == "" {
		return nil, fmt.Errorf("%w: GetPlacementGroup: empty name", ErrInvalidArgument)
	}
	info, err := rt.groupRequest(ctx, &pb.GetPlacementGroup{Name: name, Namespace: o.namespace})
	if err != nil {
		return nil, err
	}
	id, err := objects.IDFromBytes(info.Spec.GroupId)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSystem, err)
	}
	return &PlacementGroup{rt: rt, id: id, bundles: len(info.Spec.Bundles), name: info.Spec.Name}, nil
}

// ListPlacementGroups returns every placement group the cluster knows,
// recently removed ones included, in creation order.
func ListPlacementGroups(ctx context.Context) ([]PlacementGroupInfo, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return nil, err
	}
	reply, err := rt.request(ctx, rt.node.Placement, &pb.ListPlacementGroups{})
	if err != nil {
		return nil, err
	}
	r, ok := reply.(*pb.ListPlacementGroupsReply)
	if !ok {
		return nil, fmt.Errorf("%w: listing placement groups: unexpected reply %T", ErrSystem, reply)
	}
	out := make([]PlacementGroupInfo, len(r.Groups))
	for i, g := range r.Groups {
		out[i] = groupInfoOf(g)
	}
	return out, nil
}
