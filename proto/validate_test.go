package pb_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pb "github.com/goray-dev/goray/proto"
)

// Values of valid messages.
var (
	id1  = []byte("object-id-000001") // 16 bytes
	id2  = []byte("object-id-000002")
	node = "00112233aabbccdd"
	job  = "0a1b2c3d4e5f6789"
)

const cpu = 10000 // one CPU, in placement's fixed point

func pid() *pb.Pid { return &pb.Pid{Address: "127.0.0.1:7100", Id: "owner"} }

func inline(s string) *pb.Arg { return &pb.Arg{Kind: &pb.Arg_Inline{Inline: []byte(s)}} }

func byID(id []byte) *pb.Arg {
	return &pb.Arg{Kind: &pb.Arg_Ref{Ref: &pb.ObjectRef{Id: id, Owner: pid(), Locations: []*pb.Pid{pid()}}}}
}

func long(n int) string { return strings.Repeat("x", n) }

func perr() *pb.Error {
	return &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_USER, Message: "no", Stack: "main.f()", Function: "f", NodeId: node}
}

func taskSpec() *pb.TaskSpec {
	return &pb.TaskSpec{
		TaskId: id1, Function: "square", Args: []*pb.Arg{inline("a"), inline("b")},
		Resources: map[string]int64{"CPU": cpu}, MaxRetries: 3, ReturnId: id1, Owner: pid(), JobId: job,
	}
}

func actorSpec() *pb.ActorSpec {
	return &pb.ActorSpec{
		ActorId: id1, TypeName: "counter", Args: []*pb.Arg{inline("0")}, Name: "c1", Namespace: "default",
		MaxRestarts: 3, MaxTaskRetries: 1, Resources: map[string]int64{"CPU": cpu}, JobId: job, Owner: pid(),
	}
}

func restored() *pb.RestoredActor {
	return &pb.RestoredActor{Spec: actorSpec(),
		State: &pb.ActorStateChanged{ActorId: id1, State: pb.ActorState_ACTOR_STATE_ALIVE, Pid: pid(), NodeId: node, NumRestarts: 1}}
}

func actorInfo() *pb.ActorInfo {
	return &pb.ActorInfo{
		ActorId: id1, TypeName: "counter", Name: "c1", Namespace: "default", State: pb.ActorState_ACTOR_STATE_ALIVE,
		Pid: pid(), NodeId: node, NumRestarts: 1, JobId: job, Resources: map[string]int64{"CPU": cpu},
	}
}

func actorCall() *pb.ActorCall {
	return &pb.ActorCall{ActorId: id1, Method: "add", Args: []*pb.Arg{inline("1"), byID(id2)}, ReturnId: id2, Owner: pid()}
}

func jobInfo() *pb.JobInfo {
	return &pb.JobInfo{JobId: job, DriverNode: node, StartUnixMs: 1_700_000_000_000, Core: pid()}
}

func nodeInfo() *pb.NodeInfo {
	return &pb.NodeInfo{
		NodeId: node, Address: "127.0.0.1:7100",
		Total: map[string]int64{"CPU": 4 * cpu}, Available: map[string]int64{"CPU": 2 * cpu},
		Labels: map[string]string{"zone": "a"}, Raylet: pid(), Store: pid(), Directory: pid(), Alive: true,
		Role: pb.NodeRole_NODE_ROLE_WORKER,
	}
}

func pickNode() *pb.PickNode {
	return &pb.PickNode{Resources: map[string]int64{"CPU": cpu}, LocalNode: node, Labels: map[string]string{"zone": "a"}}
}

// with returns a valid message changed by mutate, which keeps it valid.
func with[M pb.Validator](valid func() M, mutate func(M)) pb.Validator {
	m := valid()
	mutate(m)
	return m
}

// badCase is a message that breaks one rule; its error names want.
type badCase struct {
	want string
	msg  pb.Validator
}

// bad returns a valid message with one rule broken by mutate.
func bad[M pb.Validator](want string, valid func() M, mutate func(M)) badCase {
	m := valid()
	mutate(m)
	return badCase{want: want, msg: m}
}

type messageCase struct {
	valid []pb.Validator
	bad   []badCase
}

// messageCases has, for every message type of goray.proto, valid examples
// (edge cases included) and examples that each break one rule.
func messageCases() map[protoreflect.FullName]messageCase {
	m := map[protoreflect.FullName]messageCase{
		"goray.Pid": {
			valid: []pb.Validator{pid(), &pb.Pid{Address: "nonhost", Id: "$1"}},
			bad: []badCase{
				bad("Pid.address", pid, func(p *pb.Pid) { p.Address = "" }),
				bad("Pid.address", pid, func(p *pb.Pid) { p.Address = long(pb.MaxAddressLen + 1) }),
				bad("Pid.id", pid, func(p *pb.Pid) { p.Id = "" }),
				bad("Pid.id", pid, func(p *pb.Pid) { p.Id = long(pb.MaxNameLen + 1) }),
			},
		},
		"goray.Arg": {
			valid: []pb.Validator{inline("v"), inline(""), byID(id1)},
			bad: []badCase{
				{"Arg.kind", &pb.Arg{}},
				{"Arg.ref.id", byID(id1[:3])},
				{"Arg.ref.id", byID(nil)},
				{"Arg.inline", &pb.Arg{Kind: (*pb.Arg_Inline)(nil)}},
				{"Arg.ref", &pb.Arg{Kind: (*pb.Arg_Ref)(nil)}},
				{"Arg.ref", &pb.Arg{Kind: &pb.Arg_Ref{}}},
			},
		},
		"goray.ObjectRef": {
			valid: []pb.Validator{&pb.ObjectRef{Id: id1, Owner: pid()}, &pb.ObjectRef{Id: id1, Owner: pid(), Locations: []*pb.Pid{pid()}, Size: 10}},
			bad: []badCase{
				{"ObjectRef.id", &pb.ObjectRef{Id: id1[:2], Owner: pid()}},
				{"ObjectRef.owner", &pb.ObjectRef{Id: id1}},
				{"ObjectRef.locations[0]", &pb.ObjectRef{Id: id1, Owner: pid(), Locations: []*pb.Pid{{Id: "store"}}}},
				{"ObjectRef.size", &pb.ObjectRef{Id: id1, Owner: pid(), Size: -1}},
			},
		},
		"goray.Contained": {
			valid: []pb.Validator{&pb.Contained{Ref: &pb.ObjectRef{Id: id1, Owner: pid()}, Token: id2}},
			bad: []badCase{
				{"Contained.ref", &pb.Contained{Token: id2}},
				{"Contained.ref.owner", &pb.Contained{Ref: &pb.ObjectRef{Id: id1}, Token: id2}},
				{"Contained.token", &pb.Contained{Ref: &pb.ObjectRef{Id: id1, Owner: pid()}, Token: id2[:3]}},
			},
		},
		"goray.BorrowObjects": {
			valid: []pb.Validator{&pb.BorrowObjects{ObjectIds: [][]byte{id1}, Tokens: [][]byte{id2}, Borrower: pid()}},
			bad: []badCase{
				{"BorrowObjects.borrower", &pb.BorrowObjects{ObjectIds: [][]byte{id1}, Tokens: [][]byte{id2}}},
				{"BorrowObjects.tokens", &pb.BorrowObjects{ObjectIds: [][]byte{id1}, Borrower: pid()}},
				{"BorrowObjects.object_ids[0]", &pb.BorrowObjects{ObjectIds: [][]byte{id1[:4]}, Tokens: [][]byte{id2}, Borrower: pid()}},
				{"BorrowObjects.tokens[0]", &pb.BorrowObjects{ObjectIds: [][]byte{id1}, Tokens: [][]byte{nil}, Borrower: pid()}},
			},
		},
		"goray.BorrowObjectsReply": {
			valid: []pb.Validator{&pb.BorrowObjectsReply{}, &pb.BorrowObjectsReply{Ready: []*pb.Result{{ObjectId: id1, Inline: []byte{1}}}, Pending: [][]byte{id2}}},
			bad: []badCase{
				{"BorrowObjectsReply.ready[0].object_id", &pb.BorrowObjectsReply{Ready: []*pb.Result{{}}}},
				{"BorrowObjectsReply.pending[0]", &pb.BorrowObjectsReply{Pending: [][]byte{id2[:1]}}},
			},
		},
		"goray.ObjectReady": {
			valid: []pb.Validator{&pb.ObjectReady{Result: &pb.Result{ObjectId: id1}}},
			bad: []badCase{
				{"ObjectReady.result", &pb.ObjectReady{}},
				{"ObjectReady.result.object_id", &pb.ObjectReady{Result: &pb.Result{}}},
			},
		},
		"goray.StreamItem": {
			valid: []pb.Validator{&pb.StreamItem{StreamId: id1, Index: 3, Result: &pb.Result{ObjectId: id2, Inline: []byte("x")}, Producer: pid()}},
			bad: []badCase{
				{"StreamItem.result", &pb.StreamItem{StreamId: id1, Producer: pid()}},
				{"StreamItem.result.object_id", &pb.StreamItem{StreamId: id1, Result: &pb.Result{}, Producer: pid()}},
				{"StreamItem.stream_id", &pb.StreamItem{StreamId: id1[:3], Result: &pb.Result{ObjectId: id2}, Producer: pid()}},
				{"StreamItem.index", &pb.StreamItem{StreamId: id1, Index: -1, Result: &pb.Result{ObjectId: id2}, Producer: pid()}},
				{"StreamItem.producer", &pb.StreamItem{StreamId: id1, Result: &pb.Result{ObjectId: id2}}},
			},
		},
		"goray.StreamAck": {
			valid: []pb.Validator{&pb.StreamAck{StreamId: id1, Consumed: 2}},
			bad: []badCase{
				{"StreamAck.stream_id", &pb.StreamAck{Consumed: 2}},
				{"StreamAck.consumed", &pb.StreamAck{StreamId: id1, Consumed: -1}},
			},
		},
		"goray.ReleaseObjects": {
			valid: []pb.Validator{&pb.ReleaseObjects{}, &pb.ReleaseObjects{ObjectIds: [][]byte{id1}, Tokens: [][]byte{id2}}},
			bad: []badCase{
				{"ReleaseObjects.tokens", &pb.ReleaseObjects{ObjectIds: [][]byte{id1}}},
				{"ReleaseObjects.object_ids[0]", &pb.ReleaseObjects{ObjectIds: [][]byte{nil}, Tokens: [][]byte{id2}}},
			},
		},
		"goray.ListNodes": {valid: []pb.Validator{&pb.ListNodes{}}},
		"goray.ListJobs":  {valid: []pb.Validator{&pb.ListJobs{}}},
		"goray.ListJobsReply": {
			valid: []pb.Validator{&pb.ListJobsReply{}, &pb.ListJobsReply{Jobs: []*pb.JobInfo{{JobId: job}}}},
			bad:   []badCase{{"ListJobsReply.jobs[0].job_id", &pb.ListJobsReply{Jobs: []*pb.JobInfo{{JobId: "j"}}}}},
		},
		"goray.ListTasks": {valid: []pb.Validator{&pb.ListTasks{}}},
		"goray.TaskInfo": {
			valid: []pb.Validator{&pb.TaskInfo{TaskId: id1, Function: "f", NodeId: node, State: pb.TaskState_TASK_STATE_QUEUED}},
			bad: []badCase{
				{"TaskInfo.task_id", &pb.TaskInfo{Function: "f", NodeId: node}},
				{"TaskInfo.state", &pb.TaskInfo{TaskId: id1, Function: "f", NodeId: node, State: 7}},
				{"TaskInfo.node_id", &pb.TaskInfo{TaskId: id1, Function: "f"}},
			},
		},
		"goray.ListTasksReply": {
			valid: []pb.Validator{&pb.ListTasksReply{}},
			bad:   []badCase{{"ListTasksReply.tasks[0]", &pb.ListTasksReply{Tasks: []*pb.TaskInfo{nil}}}},
		},
		"goray.ListNodesReply": {
			valid: []pb.Validator{&pb.ListNodesReply{}, &pb.ListNodesReply{Nodes: []*pb.NodeInfo{{NodeId: node, Address: "a:1"}}}},
			bad:   []badCase{{"ListNodesReply.nodes[0]", &pb.ListNodesReply{Nodes: []*pb.NodeInfo{nil}}}},
		},
		"goray.ClusterView": {
			valid: []pb.Validator{&pb.ClusterView{}, &pb.ClusterView{Nodes: []*pb.NodeInfo{{NodeId: node, Address: "a:1"}}}},
			bad: []badCase{
				{"ClusterView.nodes[0]", &pb.ClusterView{Nodes: []*pb.NodeInfo{nil}}},
				{"ClusterView.nodes[0].node_id", &pb.ClusterView{Nodes: []*pb.NodeInfo{{NodeId: "x", Address: "a:1"}}}},
			},
		},
		"goray.TaskAccepted": {
			valid: []pb.Validator{&pb.TaskAccepted{TaskId: id1, NodeId: node}},
			bad: []badCase{
				{"TaskAccepted.task_id", &pb.TaskAccepted{NodeId: node}},
				{"TaskAccepted.node_id", &pb.TaskAccepted{TaskId: id1, NodeId: "n"}},
			},
		},
		"goray.NodeDied": {
			valid: []pb.Validator{&pb.NodeDied{NodeId: node}},
			bad:   []badCase{{"NodeDied.node_id", &pb.NodeDied{}}},
		},
		"goray.ActorMoved": {
			valid: []pb.Validator{&pb.ActorMoved{ActorId: id1, FromNode: node}, &pb.ActorMoved{ActorId: id1}},
			bad: []badCase{
				{"ActorMoved.actor_id", &pb.ActorMoved{}},
				{"ActorMoved.from_node", &pb.ActorMoved{ActorId: id1, FromNode: "x"}},
			},
		},
		"goray.Error": {
			valid: []pb.Validator{perr(), &pb.Error{}, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_NO_CAPACITY}},
			bad: []badCase{
				bad("Error.kind", perr, func(e *pb.Error) { e.Kind = 99 }),
				bad("Error.kind", perr, func(e *pb.Error) { e.Kind = -1 }),
				bad("Error.message", perr, func(e *pb.Error) { e.Message = long(pb.MaxTextLen + 1) }),
				bad("Error.stack", perr, func(e *pb.Error) { e.Stack = long(pb.MaxStackLen + 1) }),
				bad("Error.function", perr, func(e *pb.Error) { e.Function = long(pb.MaxTextLen + 1) }),
				bad("Error.node_id", perr, func(e *pb.Error) { e.NodeId = "node-1" }),
			},
		},
		"goray.TaskSpec": {
			valid: []pb.Validator{
				taskSpec(),
				with(taskSpec, func(s *pb.TaskSpec) {
					s.Args, s.Resources, s.JobId, s.MaxRetries = nil, map[string]int64{"GPU": 0}, "", -1
					s.ReturnId, s.Attempt, s.GpuIds = id2, 2, []int32{0, 3}
				}),
			},
			bad: []badCase{
				bad("TaskSpec.task_id", taskSpec, func(s *pb.TaskSpec) { s.TaskId = id1[:3] }),
				bad("TaskSpec.task_id", taskSpec, func(s *pb.TaskSpec) { s.TaskId = nil }),
				bad("TaskSpec.function", taskSpec, func(s *pb.TaskSpec) { s.Function = "" }),
				bad("TaskSpec.function", taskSpec, func(s *pb.TaskSpec) { s.Function = long(pb.MaxNameLen + 1) }),
				bad("TaskSpec.args[1].kind", taskSpec, func(s *pb.TaskSpec) { s.Args[1] = &pb.Arg{} }),
				bad("TaskSpec.args[0].ref.id", taskSpec, func(s *pb.TaskSpec) { s.Args[0] = byID(id1[:15]) }),
				bad("TaskSpec.args[1]: nil message", taskSpec, func(s *pb.TaskSpec) { s.Args[1] = nil }),
				bad("TaskSpec.args", taskSpec, func(s *pb.TaskSpec) { s.Args = make([]*pb.Arg, pb.MaxArgs+1) }),
				bad(`TaskSpec.resources["CPU"]`, taskSpec, func(s *pb.TaskSpec) { s.Resources["CPU"] = -1 }),
				bad(`TaskSpec.resources[""]`, taskSpec, func(s *pb.TaskSpec) { s.Resources[""] = 1 }),
				bad("TaskSpec.resources[", taskSpec, func(s *pb.TaskSpec) { s.Resources[long(pb.MaxNameLen+1)] = 1 }),
				bad("TaskSpec.resources", taskSpec, func(s *pb.TaskSpec) {
					for i := range pb.MaxMapEntries {
						s.Resources[long(i+1)] = 1
					}
				}),
				bad("TaskSpec.max_retries", taskSpec, func(s *pb.TaskSpec) { s.MaxRetries = -2 }),
				bad("TaskSpec.name", taskSpec, func(s *pb.TaskSpec) { s.Name = long(pb.MaxNameLen + 1) }),
				bad("TaskSpec.return_id", taskSpec, func(s *pb.TaskSpec) { s.ReturnId = append(id1[:16:16], 0) }),
				bad("TaskSpec.owner: missing", taskSpec, func(s *pb.TaskSpec) { s.Owner = nil }),
				bad("TaskSpec.owner.address", taskSpec, func(s *pb.TaskSpec) { s.Owner.Address = "" }),
				bad("TaskSpec.owner.id", taskSpec, func(s *pb.TaskSpec) { s.Owner.Id = "" }),
				bad("TaskSpec.attempt", taskSpec, func(s *pb.TaskSpec) { s.Attempt = -1 }),
				bad("TaskSpec.job_id", taskSpec, func(s *pb.TaskSpec) { s.JobId = "0A1B2C3D4E5F6789" }),
				bad("TaskSpec.job_id", taskSpec, func(s *pb.TaskSpec) { s.JobId = job + "0" }),
				bad("TaskSpec.gpu_ids[1]", taskSpec, func(s *pb.TaskSpec) { s.GpuIds = []int32{0, -1} }),
				bad("TaskSpec.gpu_ids", taskSpec, func(s *pb.TaskSpec) { s.GpuIds = make([]int32, pb.MaxGPUIDs+1) }),
				bad("TaskSpec.extra_return_ids[1]", taskSpec, func(s *pb.TaskSpec) { s.ExtraReturnIds = [][]byte{id1, id2[:3]} }),
				bad("TaskSpec.extra_return_ids", taskSpec, func(s *pb.TaskSpec) { s.ExtraReturnIds = make([][]byte, pb.MaxIDs+1) }),
			},
		},
		"goray.Result": {
			valid: []pb.Validator{
				&pb.Result{ObjectId: id1, Inline: []byte("v")},
				&pb.Result{ObjectId: id1, StoreNode: node, Size: 1 << 20},
				&pb.Result{ObjectId: id1, Error: perr()},
			},
			bad: []badCase{
				{"Result.object_id", &pb.Result{Inline: []byte("v")}},
				{"Result.store_node", &pb.Result{ObjectId: id1, StoreNode: "n1", Size: 1}},
				{"Result.size", &pb.Result{ObjectId: id1, StoreNode: node, Size: -1}},
				{"Result.error.kind", &pb.Result{ObjectId: id1, Error: &pb.Error{Kind: 99}}},
				{"Result.store", &pb.Result{ObjectId: id1, StoreNode: node, Store: &pb.Pid{Id: "store"}}},
			},
		},
		"goray.TaskFinished": {
			valid: []pb.Validator{&pb.TaskFinished{TaskId: id1}},
			bad:   []badCase{{"TaskFinished.task_id", &pb.TaskFinished{TaskId: id1[:8]}}},
		},
		"goray.CancelTask": {
			valid: []pb.Validator{
				&pb.CancelTask{TaskId: id1, ReturnId: id1},
				&pb.CancelTask{TaskId: id1},
				&pb.CancelTask{TaskId: id2, ReturnId: id2, ActorId: id1},
				&pb.CancelTask{ReturnId: id2, ActorId: id1},
			},
			bad: []badCase{
				{"CancelTask.task_id", &pb.CancelTask{ReturnId: id1}},
				{"CancelTask.return_id", &pb.CancelTask{TaskId: id1, ReturnId: id1[:4]}},
				{"CancelTask.actor_id", &pb.CancelTask{TaskId: id1, ReturnId: id1, ActorId: id1[:4]}},
				{"CancelTask.return_id", &pb.CancelTask{TaskId: id1, ActorId: id1}},
				{"CancelTask.task_id", &pb.CancelTask{TaskId: id1[:4], ReturnId: id1, ActorId: id1}},
			},
		},
		"goray.TaskBlocked": {
			valid: []pb.Validator{&pb.TaskBlocked{TaskId: id1}},
			bad:   []badCase{{"TaskBlocked.task_id", &pb.TaskBlocked{}}},
		},
		"goray.TaskUnblocked": {
			valid: []pb.Validator{&pb.TaskUnblocked{TaskId: id1}},
			bad:   []badCase{{"TaskUnblocked.task_id", &pb.TaskUnblocked{TaskId: append(id1[:16:16], 1)}}},
		},
		"goray.ActorSpec": {
			valid: []pb.Validator{
				actorSpec(),
				with(actorSpec, func(s *pb.ActorSpec) {
					s.Args, s.Name, s.Namespace, s.Resources, s.JobId, s.Owner = nil, "", "", nil, "", nil
					s.MaxRestarts, s.MaxTaskRetries, s.MaxConcurrency, s.GpuIds = -1, -1, 8, []int32{1}
				}),
			},
			bad: []badCase{
				bad("ActorSpec.actor_id", actorSpec, func(s *pb.ActorSpec) { s.ActorId = nil }),
				bad(`ActorSpec.concurrency_groups["io"]`, actorSpec, func(s *pb.ActorSpec) { s.ConcurrencyGroups = map[string]int32{"io": 0} }),
				bad(`ActorSpec.concurrency_groups[""]`, actorSpec, func(s *pb.ActorSpec) { s.ConcurrencyGroups = map[string]int32{"": 2} }),
				bad("ActorSpec.type_name", actorSpec, func(s *pb.ActorSpec) { s.TypeName = "" }),
				bad("ActorSpec.type_name", actorSpec, func(s *pb.ActorSpec) { s.TypeName = long(pb.MaxNameLen + 1) }),
				bad("ActorSpec.args[0].kind", actorSpec, func(s *pb.ActorSpec) { s.Args[0] = &pb.Arg{} }),
				bad("ActorSpec.name", actorSpec, func(s *pb.ActorSpec) { s.Name = long(pb.MaxNameLen + 1) }),
				bad("ActorSpec.namespace", actorSpec, func(s *pb.ActorSpec) { s.Namespace = long(pb.MaxNameLen + 1) }),
				bad("ActorSpec.max_restarts", actorSpec, func(s *pb.ActorSpec) { s.MaxRestarts = -2 }),
				bad("ActorSpec.max_task_retries", actorSpec, func(s *pb.ActorSpec) { s.MaxTaskRetries = -5 }),
				bad("ActorSpec.max_concurrency", actorSpec, func(s *pb.ActorSpec) { s.MaxConcurrency = -1 }),
				bad(`ActorSpec.resources["GPU"]`, actorSpec, func(s *pb.ActorSpec) { s.Resources["GPU"] = -cpu }),
				bad(`ActorSpec.resources[""]`, actorSpec, func(s *pb.ActorSpec) { s.Resources[""] = 0 }),
				bad("ActorSpec.job_id", actorSpec, func(s *pb.ActorSpec) { s.JobId = "job-1" }),
				bad("ActorSpec.owner.address", actorSpec, func(s *pb.ActorSpec) { s.Owner = &pb.Pid{Id: "owner"} }),
				bad("ActorSpec.gpu_ids[0]", actorSpec, func(s *pb.ActorSpec) { s.GpuIds = []int32{-3} }),
			},
		},
		"goray.ActorInfo": {
			valid: []pb.Validator{
				actorInfo(),
				with(actorInfo, func(i *pb.ActorInfo) {
					i.State, i.Pid, i.NodeId, i.Name, i.Namespace, i.JobId = pb.ActorState_ACTOR_STATE_PENDING, nil, "", "", "", ""
				}),
				with(actorInfo, func(i *pb.ActorInfo) { i.State, i.DeathCause = pb.ActorState_ACTOR_STATE_DEAD, "killed" }),
			},
			bad: []badCase{
				bad("ActorInfo.actor_id", actorInfo, func(i *pb.ActorInfo) { i.ActorId = id1[1:] }),
				bad("ActorInfo.type_name", actorInfo, func(i *pb.ActorInfo) { i.TypeName = "" }),
				bad("ActorInfo.name", actorInfo, func(i *pb.ActorInfo) { i.Name = long(pb.MaxNameLen + 1) }),
				bad("ActorInfo.namespace", actorInfo, func(i *pb.ActorInfo) { i.Namespace = long(pb.MaxNameLen + 1) }),
				bad("ActorInfo.state", actorInfo, func(i *pb.ActorInfo) { i.State = 4 }),
				bad("ActorInfo.pid: missing", actorInfo, func(i *pb.ActorInfo) { i.Pid = nil }),
				bad(`ActorInfo.resources["CPU"]`, actorInfo, func(i *pb.ActorInfo) { i.Resources["CPU"] = -1 }),
				bad("ActorInfo.pid.id", actorInfo, func(i *pb.ActorInfo) { i.Pid.Id = "" }),
				bad("ActorInfo.node_id", actorInfo, func(i *pb.ActorInfo) { i.NodeId = "xyz" }),
				bad("ActorInfo.num_restarts", actorInfo, func(i *pb.ActorInfo) { i.NumRestarts = -1 }),
				bad("ActorInfo.death_cause", actorInfo, func(i *pb.ActorInfo) { i.DeathCause = long(pb.MaxTextLen + 1) }),
				bad("ActorInfo.job_id", actorInfo, func(i *pb.ActorInfo) { i.JobId = "0a1b2c3d4e5f678g" }),
			},
		},
		"goray.CreateActor": {
			valid: []pb.Validator{&pb.CreateActor{Spec: actorSpec()}},
			bad: []badCase{
				{"CreateActor.spec: missing", &pb.CreateActor{}},
				{"CreateActor.spec.actor_id", &pb.CreateActor{Spec: with(actorSpec, func(s *pb.ActorSpec) { s.ActorId = nil }).(*pb.ActorSpec)}},
				{"CreateActor.spec.owner.id", &pb.CreateActor{Spec: with(actorSpec, func(s *pb.ActorSpec) { s.Owner.Id = "" }).(*pb.ActorSpec)}},
			},
		},
		"goray.CreateActorReply": {
			valid: []pb.Validator{
				&pb.CreateActorReply{Info: actorInfo()},
				&pb.CreateActorReply{Error: perr()},
				&pb.CreateActorReply{Info: with(actorInfo, func(i *pb.ActorInfo) { i.State = pb.ActorState_ACTOR_STATE_DEAD }).(*pb.ActorInfo), Error: perr()},
			},
			bad: []badCase{
				{"CreateActorReply.info", &pb.CreateActorReply{}},
				{"CreateActorReply.info.actor_id", &pb.CreateActorReply{Info: &pb.ActorInfo{TypeName: "t"}}},
				{"CreateActorReply.error.node_id", &pb.CreateActorReply{Error: &pb.Error{NodeId: "n"}}},
			},
		},
		"goray.StartActor": {
			valid: []pb.Validator{&pb.StartActor{Spec: actorSpec()}},
			bad: []badCase{
				{"StartActor.spec: missing", &pb.StartActor{}},
				{"StartActor.spec.type_name", &pb.StartActor{Spec: &pb.ActorSpec{ActorId: id1}}},
			},
		},
		"goray.ActorStateChanged": {
			valid: []pb.Validator{
				&pb.ActorStateChanged{ActorId: id1, State: pb.ActorState_ACTOR_STATE_ALIVE, Pid: pid(), NodeId: node},
				&pb.ActorStateChanged{ActorId: id1, State: pb.ActorState_ACTOR_STATE_DEAD, NodeId: node, Error: perr()},
				&pb.ActorStateChanged{ActorId: id1, State: pb.ActorState_ACTOR_STATE_RESTARTING, Pid: pid(), NumRestarts: 2},
			},
			bad: []badCase{
				{"ActorStateChanged.actor_id", &pb.ActorStateChanged{State: pb.ActorState_ACTOR_STATE_DEAD}},
				{"ActorStateChanged.state", &pb.ActorStateChanged{ActorId: id1, State: 7}},
				{"ActorStateChanged.pid: missing", &pb.ActorStateChanged{ActorId: id1, State: pb.ActorState_ACTOR_STATE_ALIVE}},
				{"ActorStateChanged.pid.address", &pb.ActorStateChanged{ActorId: id1, State: pb.ActorState_ACTOR_STATE_DEAD, Pid: &pb.Pid{Id: "h"}}},
				{"ActorStateChanged.node_id", &pb.ActorStateChanged{ActorId: id1, NodeId: "node"}},
				{"ActorStateChanged.num_restarts", &pb.ActorStateChanged{ActorId: id1, NumRestarts: -1}},
				{"ActorStateChanged.error.kind", &pb.ActorStateChanged{ActorId: id1, Error: &pb.Error{Kind: 100}}},
			},
		},
		"goray.RestoredActor": {
			valid: []pb.Validator{restored()},
			bad: []badCase{
				{"RestoredActor.spec: missing", &pb.RestoredActor{State: restored().State}},
				{"RestoredActor.state: missing", &pb.RestoredActor{Spec: actorSpec()}},
				{"RestoredActor.spec.type_name", with(restored, func(r *pb.RestoredActor) { r.Spec.TypeName = "" })},
				{"RestoredActor.state.pid: missing", with(restored, func(r *pb.RestoredActor) { r.State.Pid = nil })},
				{"RestoredActor.state.actor_id: differs", with(restored, func(r *pb.RestoredActor) { r.State.ActorId = id2 })},
			},
		},
		"goray.RestoreActors": {
			valid: []pb.Validator{&pb.RestoreActors{}, &pb.RestoreActors{Actors: []*pb.RestoredActor{restored(), restored()}}},
			bad: []badCase{
				{"RestoreActors.actors[1]: nil message", &pb.RestoreActors{Actors: []*pb.RestoredActor{restored(), nil}}},
				{"RestoreActors.actors[0].spec: missing", &pb.RestoreActors{Actors: []*pb.RestoredActor{{State: restored().State}}}},
				{"RestoreActors.actors: 10001 entries", &pb.RestoreActors{Actors: make([]*pb.RestoredActor, pb.MaxIDs+1)}},
			},
		},
		"goray.ActorCall": {
			valid: []pb.Validator{actorCall(), with(actorCall, func(c *pb.ActorCall) { c.Args, c.Attempt = nil, 3 })},
			bad: []badCase{
				bad("ActorCall.actor_id", actorCall, func(c *pb.ActorCall) { c.ActorId = id1[:15] }),
				bad("ActorCall.method", actorCall, func(c *pb.ActorCall) { c.Method = "" }),
				bad("ActorCall.method", actorCall, func(c *pb.ActorCall) { c.Method = long(pb.MaxNameLen + 1) }),
				bad("ActorCall.args[1].ref.id", actorCall, func(c *pb.ActorCall) { c.Args[1] = byID(nil) }),
				bad("ActorCall.args", actorCall, func(c *pb.ActorCall) { c.Args = make([]*pb.Arg, pb.MaxArgs+1) }),
				bad("ActorCall.return_id", actorCall, func(c *pb.ActorCall) { c.ReturnId = nil }),
				bad("ActorCall.extra_return_ids[0]", actorCall, func(c *pb.ActorCall) { c.ExtraReturnIds = [][]byte{nil} }),
				bad("ActorCall.owner: missing", actorCall, func(c *pb.ActorCall) { c.Owner = nil }),
				bad("ActorCall.owner.address", actorCall, func(c *pb.ActorCall) { c.Owner.Address = long(pb.MaxAddressLen + 1) }),
				bad("ActorCall.attempt", actorCall, func(c *pb.ActorCall) { c.Attempt = -1 }),
			},
		},
		"goray.LookupActor": {
			valid: []pb.Validator{
				&pb.LookupActor{Name: "c1", Namespace: "default"},
				&pb.LookupActor{Name: "c1"},
				&pb.LookupActor{ActorId: id1},
			},
			bad: []badCase{
				{"LookupActor.name", &pb.LookupActor{Namespace: "default"}},
				{"LookupActor.name", &pb.LookupActor{Name: long(pb.MaxNameLen + 1)}},
				{"LookupActor.namespace", &pb.LookupActor{Name: "c1", Namespace: long(pb.MaxNameLen + 1)}},
				{"LookupActor.actor_id", &pb.LookupActor{ActorId: id1[:2]}},
			},
		},
		"goray.LookupActorReply": {
			valid: []pb.Validator{&pb.LookupActorReply{Info: actorInfo()}, &pb.LookupActorReply{Error: perr()}},
			bad: []badCase{
				{"LookupActorReply.info", &pb.LookupActorReply{}},
				{"LookupActorReply.info.state", &pb.LookupActorReply{Info: with(actorInfo, func(i *pb.ActorInfo) { i.State = -1 }).(*pb.ActorInfo)}},
				{"LookupActorReply.error.kind", &pb.LookupActorReply{Error: &pb.Error{Kind: 42}}},
			},
		},
		"goray.ResolveActor": {
			valid: []pb.Validator{&pb.ResolveActor{ActorId: id1}},
			bad:   []badCase{{"ResolveActor.actor_id", &pb.ResolveActor{}}},
		},
		"goray.ActorDied": {
			valid: []pb.Validator{&pb.ActorDied{ActorId: id1}, &pb.ActorDied{ActorId: id1, Error: perr()}},
			bad: []badCase{
				{"ActorDied.actor_id", &pb.ActorDied{ActorId: id1[:1], Error: perr()}},
				{"ActorDied.error.message", &pb.ActorDied{ActorId: id1, Error: &pb.Error{Message: long(pb.MaxTextLen + 1)}}},
			},
		},
		"goray.KillActor": {
			valid: []pb.Validator{&pb.KillActor{ActorId: id1}, &pb.KillActor{ActorId: id1, NoRestart: true}},
			bad:   []badCase{{"KillActor.actor_id", &pb.KillActor{NoRestart: true}}},
		},
		"goray.KillActorReply": {
			valid: []pb.Validator{&pb.KillActorReply{}, &pb.KillActorReply{Error: perr()}},
			bad:   []badCase{{"KillActorReply.error.kind", &pb.KillActorReply{Error: &pb.Error{Kind: -3}}}},
		},
		"goray.ListActors": {
			valid: []pb.Validator{&pb.ListActors{}},
		},
		"goray.ListActorsReply": {
			valid: []pb.Validator{&pb.ListActorsReply{}, &pb.ListActorsReply{Actors: []*pb.ActorInfo{actorInfo(), actorInfo()}}},
			bad: []badCase{
				{"ListActorsReply.actors[1].pid.address", &pb.ListActorsReply{Actors: []*pb.ActorInfo{
					actorInfo(), with(actorInfo, func(i *pb.ActorInfo) { i.Pid.Address = "" }).(*pb.ActorInfo),
				}}},
				{"ListActorsReply.actors[0]: nil message", &pb.ListActorsReply{Actors: []*pb.ActorInfo{nil}}},
			},
		},
		"goray.JobInfo": {
			valid: []pb.Validator{jobInfo(), &pb.JobInfo{JobId: job}, with(jobInfo, func(j *pb.JobInfo) { j.EndUnixMs = j.StartUnixMs - 1 })},
			bad: []badCase{
				bad("JobInfo.job_id", jobInfo, func(j *pb.JobInfo) { j.JobId = "" }),
				bad("JobInfo.job_id", jobInfo, func(j *pb.JobInfo) { j.JobId = "0a1b2c3d4e5f67" }),
				bad("JobInfo.driver_node", jobInfo, func(j *pb.JobInfo) { j.DriverNode = "local" }),
				bad("JobInfo.start_unix_ms", jobInfo, func(j *pb.JobInfo) { j.StartUnixMs = -1 }),
				bad("JobInfo.end_unix_ms", jobInfo, func(j *pb.JobInfo) { j.EndUnixMs = -1 }),
				bad("JobInfo.core.id", jobInfo, func(j *pb.JobInfo) { j.Core.Id = "" }),
			},
		},
		"goray.RegisterJob": {
			valid: []pb.Validator{&pb.RegisterJob{Job: jobInfo()}},
			bad: []badCase{
				{"RegisterJob.job: missing", &pb.RegisterJob{}},
				{"RegisterJob.job.job_id", &pb.RegisterJob{Job: &pb.JobInfo{}}},
			},
		},
		"goray.FinishJob": {
			valid: []pb.Validator{&pb.FinishJob{JobId: job}},
			bad: []badCase{
				{"FinishJob.job_id", &pb.FinishJob{}},
				{"FinishJob.job_id", &pb.FinishJob{JobId: long(1 << 20)}},
			},
		},
		"goray.Ack": {
			valid: []pb.Validator{&pb.Ack{}, &pb.Ack{Error: perr()}},
			bad:   []badCase{{"Ack.error.stack", &pb.Ack{Error: &pb.Error{Stack: long(pb.MaxStackLen + 1)}}}},
		},
		"goray.NodeInfo": {
			valid: []pb.Validator{
				nodeInfo(),
				with(nodeInfo, func(n *pb.NodeInfo) { n.Directory, n.Labels, n.Total, n.Available = nil, nil, nil, nil }),
				with(nodeInfo, func(n *pb.NodeInfo) { n.Alive, n.Raylet, n.Store = false, nil, nil }),
				with(nodeInfo, func(n *pb.NodeInfo) { n.Labels = map[string]string{"gpu": ""} }),
				with(nodeInfo, func(n *pb.NodeInfo) { n.Role = pb.NodeRole_NODE_ROLE_UNSPECIFIED }),
			},
			bad: []badCase{
				bad("NodeInfo.node_id", nodeInfo, func(n *pb.NodeInfo) { n.NodeId = "" }),
				bad("NodeInfo.node_id", nodeInfo, func(n *pb.NodeInfo) { n.NodeId = "a" }),
				bad("NodeInfo.address", nodeInfo, func(n *pb.NodeInfo) { n.Address = "" }),
				bad("NodeInfo.address", nodeInfo, func(n *pb.NodeInfo) { n.Address = long(pb.MaxAddressLen + 1) }),
				bad(`NodeInfo.total["CPU"]`, nodeInfo, func(n *pb.NodeInfo) { n.Total["CPU"] = -5 }),
				bad(`NodeInfo.available["memory"]`, nodeInfo, func(n *pb.NodeInfo) { n.Available["memory"] = -1 }),
				bad(`NodeInfo.labels[""]`, nodeInfo, func(n *pb.NodeInfo) { n.Labels[""] = "a" }),
				bad(`NodeInfo.labels["zone"]`, nodeInfo, func(n *pb.NodeInfo) { n.Labels["zone"] = long(pb.MaxNameLen + 1) }),
				bad("NodeInfo.labels[", nodeInfo, func(n *pb.NodeInfo) { n.Labels[long(pb.MaxNameLen+1)] = "a" }),
				bad("NodeInfo.labels", nodeInfo, func(n *pb.NodeInfo) {
					for i := range pb.MaxMapEntries {
						n.Labels[long(i+1)] = ""
					}
				}),
				bad("NodeInfo.raylet: missing", nodeInfo, func(n *pb.NodeInfo) { n.Raylet = nil }),
				bad("NodeInfo.store: missing", nodeInfo, func(n *pb.NodeInfo) { n.Store = nil }),
				bad("NodeInfo.raylet.id", nodeInfo, func(n *pb.NodeInfo) { n.Alive, n.Raylet = false, &pb.Pid{Address: "a"} }),
				bad("NodeInfo.directory.address", nodeInfo, func(n *pb.NodeInfo) { n.Directory.Address = "" }),
				bad("NodeInfo.role", nodeInfo, func(n *pb.NodeInfo) { n.Role = 4 }),
			},
		},
		"goray.ResourceReport": {
			valid: []pb.Validator{&pb.ResourceReport{NodeId: node}, &pb.ResourceReport{NodeId: node, Available: map[string]int64{"CPU": 0}}},
			bad: []badCase{
				{"ResourceReport.node_id", &pb.ResourceReport{}},
				{`ResourceReport.available["CPU"]`, &pb.ResourceReport{NodeId: node, Available: map[string]int64{"CPU": -1}}},
			},
		},
		"goray.PickNode": {
			valid: []pb.Validator{
				pickNode(),
				&pb.PickNode{},
				&pb.PickNode{Strategy: pb.Strategy_STRATEGY_SPREAD},
				&pb.PickNode{Strategy: pb.Strategy_STRATEGY_NODE_AFFINITY, AffinityNode: node, AffinitySoft: true},
			},
			bad: []badCase{
				bad(`PickNode.resources["CPU"]`, pickNode, func(p *pb.PickNode) { p.Resources["CPU"] = -cpu }),
				bad(`PickNode.resources[""]`, pickNode, func(p *pb.PickNode) { p.Resources[""] = cpu }),
				bad("PickNode.local_node", pickNode, func(p *pb.PickNode) { p.LocalNode = "here" }),
				bad("PickNode.strategy", pickNode, func(p *pb.PickNode) { p.Strategy = 3 }),
				bad("PickNode.affinity_node", pickNode, func(p *pb.PickNode) { p.Strategy = pb.Strategy_STRATEGY_NODE_AFFINITY }),
				bad("PickNode.affinity_node", pickNode, func(p *pb.PickNode) { p.AffinityNode = "there" }),
				bad(`PickNode.labels[""]`, pickNode, func(p *pb.PickNode) { p.Labels[""] = "" }),
			},
		},
		"goray.PickNodeReply": {
			valid: []pb.Validator{&pb.PickNodeReply{Node: nodeInfo()}, &pb.PickNodeReply{Error: perr()}},
			bad: []badCase{
				{"PickNodeReply.node", &pb.PickNodeReply{}},
				{"PickNodeReply.node.raylet", &pb.PickNodeReply{Node: with(nodeInfo, func(n *pb.NodeInfo) { n.Raylet = nil }).(*pb.NodeInfo)}},
				{"PickNodeReply.error.kind", &pb.PickNodeReply{Error: &pb.Error{Kind: 99}}},
			},
		},
		"goray.PutObject": {
			valid: []pb.Validator{&pb.PutObject{ObjectId: id1, Data: []byte("v")}, &pb.PutObject{ObjectId: id1, Owner: pid()}},
			bad: []badCase{
				{"PutObject.object_id", &pb.PutObject{Data: []byte("v")}},
				{"PutObject.owner.id", &pb.PutObject{ObjectId: id1, Owner: &pb.Pid{Address: "a"}}},
			},
		},
		"goray.GetObject": {
			valid: []pb.Validator{&pb.GetObject{ObjectId: id1}},
			bad:   []badCase{{"GetObject.object_id", &pb.GetObject{ObjectId: []byte("short")}}},
		},
		"goray.GetObjectReply": {
			valid: []pb.Validator{&pb.GetObjectReply{}, &pb.GetObjectReply{Data: []byte("v")}, &pb.GetObjectReply{Error: perr()}},
			bad:   []badCase{{"GetObjectReply.error.kind", &pb.GetObjectReply{Error: &pb.Error{Kind: 13}}}},
		},
		"goray.DeleteObjects": {
			valid: []pb.Validator{&pb.DeleteObjects{}, &pb.DeleteObjects{ObjectIds: [][]byte{id1, id2}}, &pb.DeleteObjects{ObjectIds: ids(pb.MaxIDs)}},
			bad: []badCase{
				{"DeleteObjects.object_ids[1]", &pb.DeleteObjects{ObjectIds: [][]byte{id1, id2[:3]}}},
				{"DeleteObjects.object_ids", &pb.DeleteObjects{ObjectIds: ids(pb.MaxIDs + 1)}},
			},
		},
		"goray.StoreStats": {
			valid: []pb.Validator{&pb.StoreStats{}, &pb.StoreStats{Objects: 3, InMemory: 2, Spilled: 1, UsedBytes: 10, SpilledBytes: 5, Capacity: 100, SpillCount: 1}},
			bad: []badCase{
				{"StoreStats.objects", &pb.StoreStats{Objects: -1}},
				{"StoreStats.in_memory", &pb.StoreStats{InMemory: -1}},
				{"StoreStats.spilled", &pb.StoreStats{Spilled: -1}},
				{"StoreStats.used_bytes", &pb.StoreStats{UsedBytes: -1}},
				{"StoreStats.spilled_bytes", &pb.StoreStats{SpilledBytes: -1}},
				{"StoreStats.capacity", &pb.StoreStats{Capacity: -1}},
			},
		},
		"goray.GetStoreStats": {
			valid: []pb.Validator{&pb.GetStoreStats{}},
		},
		"goray.GetNodeStats": {
			valid: []pb.Validator{&pb.GetNodeStats{}},
		},
		"goray.NodeStats": {
			valid: []pb.Validator{&pb.NodeStats{NodeId: node, Total: map[string]int64{"CPU": 2}, Available: map[string]int64{"CPU": 1}, RunningTasks: 1, QueuedTasks: 2, Actors: 1}},
			bad: []badCase{
				{"NodeStats.node_id", &pb.NodeStats{NodeId: "n"}},
				{"NodeStats.available", &pb.NodeStats{NodeId: node, Available: map[string]int64{"CPU": -1}}},
				{"NodeStats.running_tasks", &pb.NodeStats{NodeId: node, RunningTasks: -1}},
				{"NodeStats.queued_tasks", &pb.NodeStats{NodeId: node, QueuedTasks: -1}},
				{"NodeStats.actors", &pb.NodeStats{NodeId: node, Actors: -1}},
				{"NodeStats.queued_actors", &pb.NodeStats{NodeId: node, QueuedActors: -1}},
			},
		},
		"goray.AddObject": {
			valid: []pb.Validator{&pb.AddObject{ObjectId: id1, Size: 100, NodeId: node}, &pb.AddObject{ObjectId: id1, NodeId: node}},
			bad: []badCase{
				{"AddObject.object_id", &pb.AddObject{Size: 100, NodeId: node}},
				{"AddObject.size", &pb.AddObject{ObjectId: id1, Size: -100, NodeId: node}},
				{"AddObject.node_id", &pb.AddObject{ObjectId: id1, Size: 100}},
			},
		},
		"goray.RefDelta": {
			valid: []pb.Validator{&pb.RefDelta{}, &pb.RefDelta{Incr: [][]byte{id1}, Decr: [][]byte{id1, id2}}},
			bad: []badCase{
				{"RefDelta.incr[0]", &pb.RefDelta{Incr: [][]byte{nil}}},
				{"RefDelta.decr[2]", &pb.RefDelta{Decr: [][]byte{id1, id2, id1[:10]}}},
				{"RefDelta.incr", &pb.RefDelta{Incr: ids(pb.MaxIDs + 1)}},
				{"RefDelta.decr", &pb.RefDelta{Decr: ids(pb.MaxIDs + 1)}},
			},
		},
		"goray.FreeObjects": {
			valid: []pb.Validator{&pb.FreeObjects{ObjectIds: [][]byte{id1}}},
			bad: []badCase{
				{"FreeObjects.object_ids[0]", &pb.FreeObjects{ObjectIds: [][]byte{append(id1[:16:16], id2...)}}},
				{"FreeObjects.object_ids", &pb.FreeObjects{ObjectIds: ids(pb.MaxIDs + 1)}},
			},
		},
		"goray.ObjectStatus": {
			valid: []pb.Validator{&pb.ObjectStatus{ObjectId: id1}},
			bad:   []badCase{{"ObjectStatus.object_id", &pb.ObjectStatus{}}},
		},
		"goray.ObjectStatusReply": {
			valid: []pb.Validator{&pb.ObjectStatusReply{}, &pb.ObjectStatusReply{Known: true, Count: 2, Locations: []string{node}}},
			bad: []badCase{
				{"ObjectStatusReply.count", &pb.ObjectStatusReply{Known: true, Count: -1}},
				{"ObjectStatusReply.locations[1]", &pb.ObjectStatusReply{Known: true, Count: 1, Locations: []string{node, "b"}}},
				{"ObjectStatusReply.locations", &pb.ObjectStatusReply{Locations: make([]string, pb.MaxIDs+1)}},
			},
		},
	}
	maps.Copy(m, placementCases())
	return m
}

// ids returns n valid IDs.
func ids(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = id1
	}
	return out
}

// messageTypes returns every message type goray.proto defines, nested
// ones included but for the entries of map fields, which have no Go type.
func messageTypes(t testing.TB) []protoreflect.MessageType {
	t.Helper()
	var out []protoreflect.MessageType
	var walk func(protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			md := ms.Get(i)
			if md.IsMapEntry() {
				continue
			}
			mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
			if err != nil {
				t.Fatalf("%s: %v", md.FullName(), err)
			}
			out = append(out, mt)
			walk(md.Messages())
		}
	}
	walk(pb.File_goray_proto.Messages())
	return out
}

// TestEveryMessageValidates fails for a message type added to goray.proto
// without a Validate method or without cases in messageCases.
func TestEveryMessageValidates(t *testing.T) {
	types := messageTypes(t)
	if len(types) < 40 {
		t.Fatalf("found %d message types; the walk of goray.proto misses some", len(types))
	}
	cases := messageCases()
	for _, mt := range types {
		name := mt.Descriptor().FullName()
		t.Run(string(name), func(t *testing.T) {
			zero := mt.Zero().Interface() // a typed nil pointer
			v, ok := zero.(pb.Validator)
			if !ok {
				t.Fatalf("%T does not implement pb.Validator", zero)
			}
			if err := v.Validate(); !errors.Is(err, pb.ErrInvalid) {
				t.Errorf("Validate on a nil %T = %v, want an error wrapping ErrInvalid", zero, err)
			}
			empty := mt.New().Interface().(pb.Validator)
			_ = empty.Validate() // must not panic
			c, ok := cases[name]
			if !ok || len(c.valid) == 0 {
				t.Fatalf("messageCases has no valid %s", name)
			}
			if mt.Descriptor().Fields().Len() > 0 && len(c.bad) == 0 {
				t.Errorf("messageCases breaks no rule of %s", name)
			}
		})
	}
	if len(cases) != len(types) {
		t.Errorf("messageCases covers %d message types, goray.proto defines %d", len(cases), len(types))
	}
}

func TestValidate(t *testing.T) {
	for name, c := range messageCases() {
		t.Run(string(name), func(t *testing.T) {
			for i, m := range c.valid {
				if got := proto.MessageName(m.(proto.Message)); got != name {
					t.Fatalf("valid[%d] is a %s", i, got)
				}
				if err := m.Validate(); err != nil {
					t.Errorf("valid[%d]: %v", i, err)
				}
			}
			for _, b := range c.bad {
				t.Run(b.want, func(t *testing.T) {
					if got := proto.MessageName(b.msg.(proto.Message)); got != name {
						t.Fatalf("case is a %s", got)
					}
					err := b.msg.Validate()
					if !errors.Is(err, pb.ErrInvalid) {
						t.Fatalf("Validate() = %v, want an error wrapping ErrInvalid", err)
					}
					if !strings.Contains(err.Error(), b.want) {
						t.Errorf("Validate() = %q, want it to name %s", err, b.want)
					}
					var fe *pb.FieldError
					if !errors.As(err, &fe) || protoreflect.FullName("goray."+fe.Type) != name {
						t.Errorf("Validate() = %#v, want a *FieldError of type %s", err, name.Name())
					}
				})
			}
		})
	}
}

func TestValidateErrorText(t *testing.T) {
	tests := []struct {
		msg  pb.Validator
		want string
	}{
		{&pb.TaskSpec{TaskId: []byte("abc")}, "pb: invalid message: TaskSpec.task_id: 3 bytes, want 16"},
		{&pb.CreateActor{}, "pb: invalid message: CreateActor.spec: missing"},
		{(*pb.ActorCall)(nil), "pb: invalid message: ActorCall: nil message"},
		{&pb.CreateActor{Spec: &pb.ActorSpec{ActorId: id1, TypeName: "t", Args: []*pb.Arg{inline("a"), byID(id1[:2])}}},
			"pb: invalid message: CreateActor.spec.args[1].ref.id: 2 bytes, want 16"},
		{&pb.FinishJob{JobId: "job"}, `pb: invalid message: FinishJob.job_id: "job", want 16 lower-case hex digits`},
		{&pb.FinishJob{JobId: long(65)}, "pb: invalid message: FinishJob.job_id: 65 bytes, want 16 lower-case hex digits"},
		{&pb.PickNode{Resources: map[string]int64{"GPU": -1}}, `pb: invalid message: PickNode.resources["GPU"]: -1 is negative`},
	}
	for _, tt := range tests {
		if err := tt.msg.Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("Validate() = %v, want %s", err, tt.want)
		}
	}
}

// TestValidateDoesNotAllocate checks every valid example, since a system
// actor validates every message it receives.
func TestValidateDoesNotAllocate(t *testing.T) {
	for name, c := range messageCases() {
		for i, m := range c.valid {
			if n := testing.AllocsPerRun(100, func() { _ = m.Validate() }); n != 0 {
				t.Errorf("%s valid[%d]: Validate allocates %v times", name, i, n)
			}
		}
	}
}

func BenchmarkValidateTaskSpec(b *testing.B) {
	s := taskSpec()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateActorCall(b *testing.B) {
	c := actorCall()
	c.Args = []*pb.Arg{inline("1"), inline("2")}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
