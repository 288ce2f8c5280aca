// Command transferbench measures object_transfer_gigabytes: the rate at
// which one node's store pulls an object from another node's store, the two
// in separate OS processes connected through goray's transport on
// 127.0.0.1: chunks travel over the source's byte stream, or with -messages
// as ReadChunk and ObjectChunk messages.
//
// The command starts a copy of itself as the source process, which puts an
// object of -size bytes in its store; then it fetches the object -runs times
// into its own store, deleting its copy after each, and prints the rate of
// each run and their median. The first fetch of a process allocates the
// receiving buffer from memory the process never touched, which costs page
// faults; it is reported apart, as "cold", followed by one settling run
// that is not counted, and the median is of the warm runs after it, each
// with the receiver's CPU time per GB and its page
// faults. Two baselines measured in the same run show what the machine
// allows: the object read from the source process over a plain TCP
// connection into memory already touched, and one memory copy of it.
//
//	go run ./objects/transferbench -size 1e9 -runs 3
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/cluster/transport"
	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// benchToken is the cluster token of the two processes.
const benchToken = "transferbench cluster token, not a secret"

var (
	profile  string
	messages bool
)

// startProfile starts a CPU profile to PROFILE.suffix, if asked for.
func startProfile(suffix string) (stop func(), err error) {
	if profile == "" {
		return func() {}, nil
	}
	f, err := os.Create(profile + "." + suffix)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

func main() {
	size := flag.Float64("size", 1e9, "object size in bytes")
	runs := flag.Int("runs", 3, "warm fetches after the cold one")
	chunk := flag.Int64("chunk", 0, "chunk size in bytes (0: objects.DefaultChunkSize)")
	window := flag.Int64("window", 0, "bytes in flight per source (0: objects.DefaultSourceWindow)")
	flag.BoolVar(&messages, "messages", false, "pull with ReadChunk messages only, not over the source's byte stream")
	serve := flag.Bool("serve", false, "run as the source process (internal)")
	flag.StringVar(&profile, "profile", "", "write CPU profiles of the warm runs to PROFILE.receiver and PROFILE.source")
	flag.Parse()
	var err error
	if *serve {
		err = runSource(int64(*size))
	} else {
		err = runReceiver(int64(*size), *runs, *chunk, *window)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "transferbench:", err)
		os.Exit(1)
	}
}

// startNode starts an actor system with goray's transport on 127.0.0.1 and
// a store of the given capacity that serves its chunks over byte streams
// and, unless -messages is given, pulls over them.
func startNode(capacity int64, cfg objects.TransferConfig) (*actor.ActorSystem, *actor.PID, error) {
	quiet := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	tc := transport.DefaultConfig()
	tc.Token, tc.Logger = benchToken, quiet
	tr, err := transport.Start(sys, tc)
	if err != nil {
		return nil, nil, err
	}
	store, err := objects.NewStore(objects.StoreConfig{Capacity: capacity, Transfer: cfg})
	if err != nil {
		return nil, nil, err
	}
	var opts []objects.StoreActorOption
	if !messages {
		opts = append(opts, objects.WithStreams(tr))
	}
	pid, err := sys.Root.SpawnNamed(objects.NewStoreActor(store, "0000000000000000", opts...), objects.StoreProcessID)
	if err != nil {
		return nil, nil, err
	}
	return sys, pid, tr.ServeStreams(objects.ServeChunks(sys.Root, pid))
}

// runSource puts an object in a store, prints the store's address and the
// object's ID, and serves until its standard input closes.
func runSource(size int64) error {
	sys, store, err := startNode(size+1, objects.TransferConfig{})
	if err != nil {
		return err
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i>>12) ^ byte(i)
	}
	id := objects.NewIDGen().Next()
	res, err := sys.Root.RequestFuture(store, &pb.PutObject{ObjectId: id.Bytes(), Data: data}, time.Minute).Result()
	if err != nil {
		return err
	}
	if ack := res.(*pb.Ack); ack.Error != nil {
		return fmt.Errorf("put: %s", ack.Error.Message)
	}
	// The baseline: the object's bytes written to a plain TCP connection,
	// once per connection.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer lis.Close()
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write(data)
			_ = conn.Close()
		}
	}()
	fmt.Printf("%s %s %s\n", store.Address, id, lis.Addr())
	in := bufio.NewReader(os.Stdin)
	_, _ = in.ReadString('\n') // the cold run is over
	stop, err := startProfile("source")
	if err != nil {
		return err
	}
	defer stop()
	_, _ = in.ReadString('\n')
	return nil
}

func runReceiver(size int64, runs int, chunk, window int64) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"-serve", fmt.Sprintf("-size=%d", size), "-profile=" + profile}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("the source process did not start: %w", err)
	}
	var addr, idText, rawAddr string
	if _, err := fmt.Sscan(line, &addr, &idText, &rawAddr); err != nil {
		return fmt.Errorf("the source process said %q: %w", line, err)
	}
	id, err := objects.ParseID(idText)
	if err != nil {
		return err
	}

	sys, store, err := startNode(size+1, objects.TransferConfig{ChunkSize: chunk, SourceWindow: window})
	if err != nil {
		return err
	}
	req := &pb.FetchObject{ObjectId: id.Bytes(), Sources: []*pb.Pid{{Address: addr, Id: objects.StoreProcessID}}}
	fmt.Printf("cpu: %s (%d cores), go %s\n", cpuModel(), runtime.NumCPU(), runtime.Version())
	fmt.Printf("object %d bytes, chunk %d, window %d, over %s\n", size, or(chunk, objects.DefaultChunkSize), or(window, objects.DefaultSourceWindow), map[bool]string{false: "byte streams", true: "messages"}[messages])

	fetch := func() (float64, []byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		faults, cpu := minorFaults(), cpuTime()
		start := time.Now()
		data, err := objects.Fetch(ctx, sys.Root, store, req)
		d := time.Since(start)
		lastFaults, lastCPU = minorFaults()-faults, cpuTime()-cpu
		if err != nil {
			return 0, nil, err
		}
		if int64(len(data)) != size {
			return 0, nil, fmt.Errorf("fetched %d bytes, want %d", len(data), size)
		}
		return float64(size) / d.Seconds() / 1e9, data, nil
	}
	drop := func() {
		sys.Root.Send(store, &pb.DeleteObjects{ObjectIds: [][]byte{id.Bytes()}})
		_, _ = sys.Root.RequestFuture(store, &pb.GetStoreStats{}, time.Minute).Result()
		runtime.GC()
	}

	cold, _, err := fetch()
	if err != nil {
		return err
	}
	coldFaults := lastFaults
	drop()
	fmt.Printf("object_transfer_gigabytes cold: %.3f GB/s (receiver page faults: %d, %.0f MB)\n", cold, coldFaults, float64(coldFaults)*4096/1e6)
	// After the cold run the runtime returns much of the memory it freed to
	// the operating system, so the next run faults it in again: one more
	// untimed run lets the heap settle before the measured ones.
	settle, _, err := fetch()
	if err != nil {
		return err
	}
	drop()
	fmt.Printf("object_transfer_gigabytes settling run, not counted: %.3f GB/s (receiver page faults: %d)\n", settle, lastFaults)
	if _, err := fmt.Fprintln(stdin); err != nil {
		return err
	}
	stop, err := startProfile("receiver")
	if err != nil {
		return err
	}
	defer stop()

	var rates []float64
	var data []byte // the last run's copy, for the baselines
	for i := range runs {
		r, got, err := fetch()
		if err != nil {
			return err
		}
		rates = append(rates, r)
		fmt.Printf("object_transfer_gigabytes run %d: %.3f GB/s (receiver: %.2f CPU-s/GB, page faults %d)\n", i+1, r, lastCPU.Seconds()/(float64(size)/1e9), lastFaults)
		if i < runs-1 {
			drop()
		} else {
			data = got
		}
	}
	// Baselines, after the runs so that their memory does not disturb
	// them: one copy of the object into memory already touched, and the
	// object read from the source process over a plain TCP connection into
	// that memory.
	scratch := make([]byte, size)
	copy(scratch, data)
	start := time.Now()
	copy(scratch, data)
	baseline := float64(size) / time.Since(start).Seconds() / 1e9
	data = nil
	drop()
	var raw []float64
	for range max(runs, 1) {
		r, err := readRaw(rawAddr, scratch)
		if err != nil {
			return err
		}
		raw = append(raw, r)
	}
	rawMed := median(raw)

	med := median(rates)
	fmt.Printf("object_transfer_gigabytes median of %d warm runs: %.3f GB/s\n", len(rates), med)
	fmt.Printf("baseline plain TCP between the processes, median of %d: %.3f GB/s (ratio %.3f); memory copy %.2f GB/s\n", len(raw), rawMed, med/rawMed, baseline)
	return nil
}

// readRaw reads len(dst) bytes from a connection to addr into dst and
// returns the rate in GB/s.
func readRaw(addr string, dst []byte) (float64, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.ReadFull(conn, dst); err != nil {
		return 0, err
	}
	return float64(len(dst)) / time.Since(start).Seconds() / 1e9, nil
}

func median(v []float64) float64 {
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

var (
	lastFaults int64
	lastCPU    time.Duration
)

// cpuTime returns the CPU time, user and system, the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// minorFaults returns the page faults the process has taken.
func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}

func or(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
