package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// captureStream records what a splitStream sends.
type captureStream struct {
	grpc.ClientStream
	sent []*remote.RemoteMessage
}

func (c *captureStream) SendMsg(m any) error {
	c.sent = append(c.sent, proto.Clone(m.(*remote.RemoteMessage)).(*remote.RemoteMessage))
	return nil
}

// testBatch returns a batch of envelopes with payloads of the given sizes,
// each with its index as header and the first sender.
func testBatch(sizes ...int) *remote.MessageBatch {
	b := &remote.MessageBatch{
		TypeNames: []string{"goray.PutObject"},
		Targets:   []*actor.PID{actor.NewPID("127.0.0.1:2", "sink")},
		Senders:   []*actor.PID{actor.NewPID("127.0.0.1:1", "future$1")},
	}
	for i, n := range sizes {
		b.Envelopes = append(b.Envelopes, &remote.MessageEnvelope{
			MessageData:   make([]byte, n),
			Sender:        1,
			MessageHeader: &remote.MessageHeader{HeaderData: map[string]string{"i": fmt.Sprint(i)}},
		})
	}
	return b
}

func TestSplitBatches(t *testing.T) {
	const maxBatch, maxSend = 64 << 10, 256 << 10
	many := make([]int, 100)
	for i := range many {
		many[i] = 3000
	}
	tests := []struct {
		name    string
		sizes   []int
		sends   int // gRPC messages, 0 for "more than one"
		dropped int
	}{
		{"empty batch", nil, 1, 0},
		{"small batch as it is", []int{10, 20, 30}, 1, 0},
		{"100 envelopes of 3000 bytes", many, 0, 0},
		{"one envelope over the batch cap goes alone", []int{100, maxBatch + 1000, 100}, 3, 0},
		{"one envelope over the send limit is dropped", []int{100, maxSend + 1, 100}, 1, 1},
		{"only an envelope over the send limit", []int{maxSend * 2}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st counters
			sp := &splitter{maxBatch: maxBatch, maxSend: maxSend, system: local.sys, logger: slog.New(slog.DiscardHandler), stats: &st}
			capture := &captureStream{}
			b := testBatch(tt.sizes...)
			future := actor.NewFuture(local.sys, 10*time.Second)
			b.Senders[0] = future.PID()
			if err := (&splitStream{ClientStream: capture, s: sp}).SendMsg(batchMessage(b)); err != nil {
				t.Fatal(err)
			}
			if tt.sends > 0 && len(capture.sent) != tt.sends || tt.sends == 0 && len(capture.sent) < 2 && tt.dropped == 0 {
				t.Fatalf("%d gRPC messages, want %d (0: several)", len(capture.sent), tt.sends)
			}
			var got []string
			for _, m := range capture.sent {
				size, sub := proto.Size(m), m.GetMessageBatch()
				if len(capture.sent) > 1 && size > maxBatch && len(sub.Envelopes) > 1 {
					t.Fatalf("a batch of %d envelopes has %d bytes, over %d", len(sub.Envelopes), size, maxBatch)
				}
				if size > maxSend {
					t.Fatalf("a message of %d bytes, over the send limit %d", size, maxSend)
				}
				if len(sub.TypeNames) != 1 || len(sub.Targets) != 1 || len(sub.Senders) != 1 {
					t.Fatalf("a part lacks the tables: %d types, %d targets, %d senders", len(sub.TypeNames), len(sub.Targets), len(sub.Senders))
				}
				for _, env := range sub.Envelopes {
					got = append(got, env.MessageHeader.HeaderData["i"])
				}
			}
			var want []string
			for i, n := range tt.sizes {
				if n <= maxSend {
					want = append(want, fmt.Sprint(i))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("envelopes sent %v, want %v in order", got, want)
			}
			if n := int(st.oversized.Load()); n != tt.dropped {
				t.Fatalf("%d dropped, want %d", n, tt.dropped)
			}
			if tt.dropped > 0 {
				if _, err := future.Result(); !errors.Is(err, actor.ErrDeadLetter) {
					t.Fatalf("sender of the dropped envelope got %v, want ErrDeadLetter", err)
				}
			}
			if split := st.splitBatches.Load(); (split > 0) != (len(capture.sent) > 1 || tt.dropped > 0) {
				t.Fatalf("split counter %d with %d messages sent", split, len(capture.sent))
			}
		})
	}
}

// TestSizeBounds checks that the bounds the splitter adds up are never
// below the encoded sizes.
func TestSizeBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func(n int) string {
		b := make([]byte, r.IntN(n))
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		return string(b)
	}
	i32 := func() int32 {
		switch r.IntN(3) {
		case 0:
			return math.MinInt32
		case 1:
			return math.MaxInt32
		}
		return r.Int32()
	}
	for range 2000 {
		env := &remote.MessageEnvelope{
			TypeId: i32(), Target: i32(), Sender: i32(), SerializerId: i32(),
			TargetRequestId: r.Uint32(), SenderRequestId: math.MaxUint32,
			MessageData: make([]byte, r.IntN(1<<18)),
		}
		if r.IntN(2) == 0 {
			env.MessageHeader = &remote.MessageHeader{HeaderData: map[string]string{}}
			for range r.IntN(4) {
				env.MessageHeader.HeaderData[str(300)] = str(300)
			}
		}
		b := &remote.MessageBatch{TypeNames: []string{str(200)}, Targets: []*actor.PID{{Address: str(100), Id: str(200), RequestId: math.MaxUint32}}}
		tables := proto.Size(batchMessage(b))
		b.Envelopes = []*remote.MessageEnvelope{env}
		if size := proto.Size(batchMessage(b)); size > batchOverhead+tablesBound(b)+envelopeBound(env) {
			t.Fatalf("encoded %d bytes, bound %d", size, batchOverhead+tablesBound(b)+envelopeBound(env))
		}
		if tables > batchOverhead+tablesBound(b) {
			t.Fatalf("tables encode to %d bytes, bound %d", tables, batchOverhead+tablesBound(b))
		}
	}
}
