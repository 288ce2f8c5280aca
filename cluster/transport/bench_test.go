package transport

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	pb "github.com/goray-dev/goray/proto"
)

// BenchmarkRoundTrip measures request/response round trips (ListActors,
// answered by ListActorsReply) between two nodes in two processes on
// 127.0.0.1: one peer asks, the other's sink answers, and the asking peer
// times b.N round trips itself. The variants:
//
//   - protoactor: protoactor's remote as it is, no token, no guard;
//   - token: this package with TLS off (credentials, interceptors, guard,
//     splitter);
//   - token+TLS: this package with mutual TLS.
//
// Each runs with one request in flight (serial) and with 64 (concurrent).
// The rt/s metric is what to compare; ns/op includes the command to the
// peer. Run without -race, for example:
//
//	go test -run '^$' -bench RoundTrip -benchtime 20000x -count 3 ./cluster/transport/
func BenchmarkRoundTrip(b *testing.B) {
	ca := newTestCA(b, "bench CA")
	variants := []struct {
		name string
		spec func() peerSpec
	}{
		{"protoactor", func() peerSpec { return peerSpec{Plain: true} }},
		{"token", func() peerSpec { return peerSpec{Token: testToken} }},
		{"token+TLS", func() peerSpec {
			return peerSpec{Token: testToken, TLS: ca.files(b, b.TempDir(), time.Now().UnixNano())}
		}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			peers := startPeers(b, v.spec(), v.spec())
			client, server := peers[0], peers[1]
			if got := client.do(30*time.Second, "bench %s sink 1000 8", server.addr); !strings.HasPrefix(got, "bench ") {
				b.Fatalf("warm-up: %s", got)
			}
			for _, c := range []int{1, 64} {
				b.Run(fmt.Sprintf("inflight=%d", c), func(b *testing.B) {
					b.ResetTimer()
					got := client.do(10*time.Minute, "bench %s sink %d %d", server.addr, b.N, c)
					b.StopTimer()
					f := strings.Fields(got)
					if len(f) != 2 || f[0] != "bench" {
						b.Fatalf("bench: %s", got)
					}
					ns, _ := strconv.ParseInt(f[1], 10, 64)
					b.ReportMetric(float64(b.N)/(float64(ns)/1e9), "rt/s")
				})
			}
		})
	}
}

// BenchmarkSanitize measures the guard alone on one inbound batch: the cost
// per message of the checks, dominated by decoding each payload once more.
func BenchmarkSanitize(b *testing.B) {
	self := actor.NewPID(fuzzSelf, "sink")
	for _, bc := range []struct {
		name string
		n    int
		msg  proto.Message
	}{
		{"ListActors", 1, &pb.ListActors{}},
		{"PutObject-1KiB-x100", 100, &pb.PutObject{ObjectId: make([]byte, 16), Data: make([]byte, 1<<10), Owner: &pb.Pid{Address: fuzzSelf, Id: "owner"}}},
		{"PutObject-100KiB-x40", 40, &pb.PutObject{ObjectId: make([]byte, 16), Data: make([]byte, 100<<10)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data := mustMarshal(bc.msg)
			name := string(proto.MessageName(bc.msg))
			g, sc := fuzzGuard(), &scratch{}
			envs := make([]*remote.MessageEnvelope, bc.n)
			for i := range envs {
				envs[i] = &remote.MessageEnvelope{MessageData: data, Sender: 1}
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(data) * bc.n))
			for b.Loop() {
				rm := batchMessage(&remote.MessageBatch{
					TypeNames: []string{name},
					Targets:   []*actor.PID{self},
					Senders:   []*actor.PID{actor.NewPID("127.0.0.1:8", "future$1")},
					Envelopes: append([]*remote.MessageEnvelope(nil), envs...),
				})
				if keep, err := g.sanitize(rm, sc); !keep || err != nil {
					b.Fatal(keep, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.n), "ns/msg")
		})
	}
}
