package placement

import (
	"fmt"

	pb "github.com/goray-dev/goray/proto"
)

// SelectorFromWire converts a wire label selector.
func SelectorFromWire(exprs []*pb.LabelExpr) Selector {
	if len(exprs) == 0 {
		return nil
	}
	s := make(Selector, len(exprs))
	for i, e := range exprs {
		s[i] = LabelExpr{Key: e.Key, Op: LabelOp(e.Op), Values: e.Values}
	}
	return s
}

// SelectorToWire converts s to its wire form.
func SelectorToWire(s Selector) []*pb.LabelExpr {
	if len(s) == 0 {
		return nil
	}
	out := make([]*pb.LabelExpr, len(s))
	for i, e := range s {
		out[i] = &pb.LabelExpr{Key: e.Key, Op: pb.LabelOp(e.Op), Values: e.Values}
	}
	return out
}

// RequestOf builds the placement request of a task or actor from its
// resources, its scheduling (nil: the default policy) and the caller's
// node.
func RequestOf(resources map[string]int64, s *pb.Scheduling, local string) Request {
	req := Request{Resources: FromWire(resources), Local: local}
	if s != nil {
		req.Strategy = Strategy(s.Strategy)
		req.AffinityNode = s.AffinityNode
		req.AffinitySoft = s.AffinitySoft
		req.Selector = SelectorFromWire(s.Selector)
		req.Prefer = SelectorFromWire(s.Prefer)
	}
	return req
}

// Constrained reports whether s asks for more than the default policy:
// a strategy, selectors or a placement group.
func Constrained(s *pb.Scheduling) bool {
	return s != nil && (s.Strategy != pb.Strategy_STRATEGY_DEFAULT || len(s.Selector) > 0 || len(s.Prefer) > 0 ||
		len(s.PlacementGroup) > 0)
}

// Admits reports whether a node with these labels may run work scheduled
// by s, as far as the node itself can tell: it matches the hard selector,
// and a hard node affinity names it.
func Admits(s *pb.Scheduling, nodeID string, labels map[string]string) bool {
	if s == nil {
		return true
	}
	if s.Strategy == pb.Strategy_STRATEGY_NODE_AFFINITY && !s.AffinitySoft && s.AffinityNode != nodeID {
		return false
	}
	return SelectorFromWire(s.Selector).Matches(labels)
}

// groupStrategyOf converts a wire group strategy.
func groupStrategyOf(s pb.GroupStrategy) (GroupStrategy, error) {
	g := GroupStrategy(s)
	if g < GroupPack || g > GroupStrictSpread {
		return 0, fmt.Errorf("%w: unknown placement group strategy %d", ErrInvalidRequest, int32(s))
	}
	return g, nil
}
