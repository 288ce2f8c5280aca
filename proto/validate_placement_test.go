package pb_test

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/goray-dev/goray/proto"
)

func labelIn() *pb.LabelExpr {
	return &pb.LabelExpr{Key: "zone", Op: pb.LabelOp_LABEL_OP_IN, Values: []string{"a"}}
}

func scheduling() *pb.Scheduling {
	return &pb.Scheduling{Selector: []*pb.LabelExpr{labelIn()}, PlacementGroup: id1, BundleIndex: -1}
}

func groupSpec() *pb.PlacementGroupSpec {
	return &pb.PlacementGroupSpec{GroupId: id1, Name: "g", Strategy: pb.GroupStrategy_GROUP_STRATEGY_STRICT_SPREAD,
		Bundles: []*pb.Bundle{{Resources: map[string]int64{"CPU": cpu}, Selector: []*pb.LabelExpr{labelIn()}}}, JobId: job}
}

func groupInfo() *pb.PlacementGroupInfo {
	return &pb.PlacementGroupInfo{Spec: groupSpec(), State: pb.GroupState_GROUP_STATE_CREATED, BundleNodes: []string{node}}
}

// placementCases are the messageCases of the scheduling and placement-group
// messages.
func placementCases() map[protoreflect.FullName]messageCase {
	return map[protoreflect.FullName]messageCase{
		"goray.LabelExpr": {
			valid: []pb.Validator{labelIn(), &pb.LabelExpr{Key: "gpu", Op: pb.LabelOp_LABEL_OP_DOES_NOT_EXIST}},
			bad: []badCase{
				bad("LabelExpr.key", labelIn, func(e *pb.LabelExpr) { e.Key = "" }),
				bad("LabelExpr.op", labelIn, func(e *pb.LabelExpr) { e.Op = 9 }),
				bad("LabelExpr.values", labelIn, func(e *pb.LabelExpr) { e.Values = nil }),
				bad("LabelExpr.values", labelIn, func(e *pb.LabelExpr) { e.Op = pb.LabelOp_LABEL_OP_EXISTS }),
			},
		},
		"goray.Scheduling": {
			valid: []pb.Validator{scheduling(), &pb.Scheduling{}, &pb.Scheduling{Strategy: pb.Strategy_STRATEGY_NODE_AFFINITY, AffinityNode: node}},
			bad: []badCase{
				bad("Scheduling.affinity_node", scheduling, func(s *pb.Scheduling) { s.Strategy = pb.Strategy_STRATEGY_NODE_AFFINITY }),
				bad("Scheduling.selector[0].key", scheduling, func(s *pb.Scheduling) { s.Selector[0].Key = "" }),
				bad("Scheduling.prefer[0]", scheduling, func(s *pb.Scheduling) { s.Prefer = []*pb.LabelExpr{nil} }),
				bad("Scheduling.placement_group", scheduling, func(s *pb.Scheduling) { s.PlacementGroup = id1[:3] }),
				bad("Scheduling.bundle_index", scheduling, func(s *pb.Scheduling) { s.BundleIndex = -2 }),
				bad("Scheduling.strategy", scheduling, func(s *pb.Scheduling) { s.Strategy = 7 }),
			},
		},
		"goray.Bundle": {
			valid: []pb.Validator{&pb.Bundle{}, groupSpec().Bundles[0]},
			bad: []badCase{
				{`Bundle.resources["CPU"]`, &pb.Bundle{Resources: map[string]int64{"CPU": -1}}},
				{"Bundle.selector[0]", &pb.Bundle{Selector: []*pb.LabelExpr{{}}}},
			},
		},
		"goray.PlacementGroupSpec": {
			valid: []pb.Validator{groupSpec()},
			bad: []badCase{
				bad("PlacementGroupSpec.group_id", groupSpec, func(s *pb.PlacementGroupSpec) { s.GroupId = nil }),
				bad("PlacementGroupSpec.bundles", groupSpec, func(s *pb.PlacementGroupSpec) { s.Bundles = nil }),
				bad("PlacementGroupSpec.bundles[0]", groupSpec, func(s *pb.PlacementGroupSpec) { s.Bundles[0] = nil }),
				bad("PlacementGroupSpec.strategy", groupSpec, func(s *pb.PlacementGroupSpec) { s.Strategy = 4 }),
				bad("PlacementGroupSpec.job_id", groupSpec, func(s *pb.PlacementGroupSpec) { s.JobId = "j" }),
			},
		},
		"goray.PlacementGroupInfo": {
			valid: []pb.Validator{groupInfo()},
			bad: []badCase{
				bad("PlacementGroupInfo.spec", groupInfo, func(i *pb.PlacementGroupInfo) { i.Spec = nil }),
				bad("PlacementGroupInfo.bundle_nodes", groupInfo, func(i *pb.PlacementGroupInfo) { i.BundleNodes = []string{node, node} }),
				bad("PlacementGroupInfo.bundle_nodes[0]", groupInfo, func(i *pb.PlacementGroupInfo) { i.BundleNodes[0] = "x" }),
				bad("PlacementGroupInfo.state", groupInfo, func(i *pb.PlacementGroupInfo) { i.State = 9 }),
				bad("PlacementGroupInfo.reschedules", groupInfo, func(i *pb.PlacementGroupInfo) { i.Reschedules = -1 }),
			},
		},
		"goray.CreatePlacementGroup": {
			valid: []pb.Validator{&pb.CreatePlacementGroup{Spec: groupSpec()}},
			bad: []badCase{
				{"CreatePlacementGroup.spec", &pb.CreatePlacementGroup{}},
				{"CreatePlacementGroup.spec.bundles", &pb.CreatePlacementGroup{Spec: &pb.PlacementGroupSpec{GroupId: id1}}},
			},
		},
		"goray.PlacementGroupReply": {
			valid: []pb.Validator{&pb.PlacementGroupReply{Info: groupInfo()}, &pb.PlacementGroupReply{Error: &pb.Error{}}},
			bad: []badCase{
				{"PlacementGroupReply.info", &pb.PlacementGroupReply{}},
				{"PlacementGroupReply.info.spec", &pb.PlacementGroupReply{Info: &pb.PlacementGroupInfo{}}},
			},
		},
		"goray.GetPlacementGroup": {
			valid: []pb.Validator{&pb.GetPlacementGroup{GroupId: id1, WaitReady: true}, &pb.GetPlacementGroup{Name: "g", Namespace: "ns"}},
			bad: []badCase{
				{"GetPlacementGroup.group_id", &pb.GetPlacementGroup{}},
				{"GetPlacementGroup.group_id", &pb.GetPlacementGroup{GroupId: id1[:4]}},
			},
		},
		"goray.RemovePlacementGroup": {
			valid: []pb.Validator{&pb.RemovePlacementGroup{GroupId: id1}},
			bad:   []badCase{{"RemovePlacementGroup.group_id", &pb.RemovePlacementGroup{}}},
		},
		"goray.ListPlacementGroups": {valid: []pb.Validator{&pb.ListPlacementGroups{}}},
		"goray.ListPlacementGroupsReply": {
			valid: []pb.Validator{&pb.ListPlacementGroupsReply{}, &pb.ListPlacementGroupsReply{Groups: []*pb.PlacementGroupInfo{groupInfo()}}},
			bad:   []badCase{{"ListPlacementGroupsReply.groups[0]", &pb.ListPlacementGroupsReply{Groups: []*pb.PlacementGroupInfo{nil}}}},
		},
		"goray.BundleGrant": {
			valid: []pb.Validator{&pb.BundleGrant{Index: 3, Resources: map[string]int64{"GPU": cpu}}},
			bad: []badCase{
				{"BundleGrant.index", &pb.BundleGrant{Index: -1}},
				{`BundleGrant.resources[""]`, &pb.BundleGrant{Resources: map[string]int64{"": 1}}},
			},
		},
		"goray.PrepareBundles": {
			valid: []pb.Validator{&pb.PrepareBundles{GroupId: id1, Bundles: []*pb.BundleGrant{{Index: 0}}}},
			bad: []badCase{
				{"PrepareBundles.group_id", &pb.PrepareBundles{Bundles: []*pb.BundleGrant{{}}}},
				{"PrepareBundles.bundles", &pb.PrepareBundles{GroupId: id1}},
				{"PrepareBundles.bundles[0]", &pb.PrepareBundles{GroupId: id1, Bundles: []*pb.BundleGrant{nil}}},
			},
		},
		"goray.PrepareBundlesReply": {
			valid: []pb.Validator{&pb.PrepareBundlesReply{Ok: true}},
			bad: []badCase{
				{"PrepareBundlesReply.reason", &pb.PrepareBundlesReply{Reason: string(make([]byte, pb.MaxTextLen+1))}},
				{`PrepareBundlesReply.available["CPU"]`, &pb.PrepareBundlesReply{Available: map[string]int64{"CPU": -1}}},
				{"PrepareBundlesReply.group_id", &pb.PrepareBundlesReply{GroupId: id1[:3]}},
				{"PrepareBundlesReply.indices[0]", &pb.PrepareBundlesReply{Indices: []int32{-1}}},
				{"PrepareBundlesReply.node_id", &pb.PrepareBundlesReply{NodeId: "n"}},
			},
		},
		"goray.CommitBundles": {
			valid: []pb.Validator{&pb.CommitBundles{GroupId: id1, Indices: []int32{0, 2}}},
			bad: []badCase{
				{"CommitBundles.group_id", &pb.CommitBundles{}},
				{"CommitBundles.indices[1]", &pb.CommitBundles{GroupId: id1, Indices: []int32{0, -2}}},
			},
		},
		"goray.ReturnBundles": {
			valid: []pb.Validator{&pb.ReturnBundles{GroupId: id1}, &pb.ReturnBundles{GroupId: id1, Indices: []int32{1}, Reason: "removed"}},
			bad: []badCase{
				{"ReturnBundles.group_id", &pb.ReturnBundles{GroupId: id2[:2]}},
				{"ReturnBundles.indices[0]", &pb.ReturnBundles{GroupId: id1, Indices: []int32{-1}}},
			},
		},
	}
}
