// Command cluster is a goray program that is its own cluster command line:
// the same binary starts the head node, joins worker nodes to it, and runs
// as the driver that sends them work.
//
//	cluster start --head --port 6379                 # the head
//	cluster start --address 127.0.0.1:6379           # a worker (as many as you like)
//	GORAY_ADDRESS=127.0.0.1:6379 GORAY_TOKEN=… cluster run
//	cluster status
//	cluster stop
//
// The driver counts the primes below a limit in chunks, one task per chunk,
// and sends each chunk's result to a tally actor. It checks every chunk
// against a sieve of its own and reports which node ran what. See README.md.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/cmd/goray/cli"
)

// Chunk is a range of numbers, [Lo, Hi).
type Chunk struct {
	Lo int `json:"lo"`
	Hi int `json:"hi"`
}

// Count is a task's result: the primes in a chunk, and where it ran.
type Count struct {
	Chunk
	Primes int    `json:"primes"`
	NodeID string `json:"node_id"`
}

// countPrimes counts the primes of a chunk by trial division: real work,
// so that a node with all its CPUs busy leaves further chunks to others.
var countPrimes = goray.Task("cluster.count_primes", func(ctx context.Context, c Chunk) (Count, error) {
	node, err := goray.NodeID(ctx)
	if err != nil {
		return Count{}, err
	}
	n := 0
	for x := max(c.Lo, 2); x < c.Hi; x++ {
		if isPrime(x) {
			n++
		}
		if x%4096 == 0 && ctx.Err() != nil {
			return Count{}, ctx.Err()
		}
	}
	return Count{Chunk: c, Primes: n, NodeID: node}, nil
})

func isPrime(x int) bool {
	if x < 4 {
		return x >= 2
	}
	if x%2 == 0 {
		return false
	}
	for d := 3; d*d <= x; d += 2 {
		if x%d == 0 {
			return false
		}
	}
	return true
}

// Tally is an actor that collects the chunks' results as they arrive.
type Tally struct {
	node   string         // where the actor runs
	byNode map[string]int // chunks per node that ran them
	primes int
}

// TallyReport is what the tally has seen.
type TallyReport struct {
	ActorNode string         `json:"actor_node"`
	ByNode    map[string]int `json:"by_node"`
	Chunks    int            `json:"chunks"`
	Primes    int            `json:"primes"`
}

var (
	tally = goray.Actor0("cluster.tally", func(ctx context.Context) (*Tally, error) {
		node, err := goray.NodeID(ctx)
		if err != nil {
			return nil, err
		}
		return &Tally{node: node, byNode: map[string]int{}}, nil
	})
	record = goray.Method(tally, "record", func(t *Tally, _ context.Context, c Count) (int, error) {
		t.byNode[c.NodeID]++
		t.primes += c.Primes
		return t.primes, nil
	})
	report = goray.Method0(tally, "report", func(t *Tally, _ context.Context) (TallyReport, error) {
		n := 0
		for _, k := range t.byNode {
			n += k
		}
		return TallyReport{ActorNode: t.node, ByNode: maps.Clone(t.byNode), Chunks: n, Primes: t.primes}, nil
	})
)

func main() { os.Exit(cli.Main(os.Args, runCommand())) }

func runCommand() *cobra.Command {
	var limit, chunks int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the example as a driver: count primes across the cluster's nodes",
		Long: `Run the example as a driver of the cluster named by GORAY_ADDRESS (with the
token in GORAY_TOKEN); without GORAY_ADDRESS it runs on an embedded
single-node cluster in this process. It counts the primes below --limit in
--chunks tasks, sends each result to a tally actor, checks every chunk against
a sieve of its own, and reports which node ran what.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 2 || chunks < 1 || chunks > limit {
				return fmt.Errorf("want --limit of 2 or more and --chunks from 1 to --limit, got %d and %d", limit, chunks)
			}
			res, err := run(cmd.Context(), limit, chunks)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else if err := res.print(cmd.OutOrStdout()); err != nil {
				return err
			}
			return res.check()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 5_000_000, "count the primes below this number")
	cmd.Flags().IntVar(&chunks, "chunks", 40, "split the work into this many tasks")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// Result is what a run found.
type Result struct {
	DriverNode string            `json:"driver_node"`
	Addresses  map[string]string `json:"addresses"` // of the nodes, by ID
	Limit      int               `json:"limit"`
	Counts     []Count           `json:"counts"`
	Sieve      []int             `json:"-"` // primes below n, from the driver's own sieve
	Tally      TallyReport       `json:"tally"`
}

func run(ctx context.Context, limit, chunks int) (res Result, err error) {
	ctx, err = goray.Init(ctx)
	if err != nil {
		return res, fmt.Errorf("joining the cluster: %w", err)
	}
	defer func() {
		if serr := goray.Shutdown(ctx); serr != nil && err == nil {
			err = serr
		}
	}()
	res.Limit = limit
	if res.DriverNode, err = goray.NodeID(ctx); err != nil {
		return res, err
	}
	nodes, err := goray.Nodes(ctx)
	if err != nil {
		return res, err
	}
	res.Addresses = map[string]string{}
	for _, n := range nodes {
		// Where the node gossips: none for an embedded node.
		res.Addresses[n.ID] = cmp.Or(n.GossipAddress, "(this process)")
	}

	t, err := tally.New(ctx)
	if err != nil {
		return res, fmt.Errorf("creating the tally actor: %w", err)
	}
	// Every chunk is a task; its result goes to the tally as a Ref, without
	// the driver waiting for it.
	var refs []goray.Ref[Count]
	for i := range chunks {
		c := Chunk{Lo: limit * i / chunks, Hi: limit * (i + 1) / chunks}
		r := countPrimes.Remote(ctx, c)
		refs = append(refs, r)
		record.Submit(ctx, t, r)
	}
	if res.Counts, err = goray.GetAll(ctx, refs); err != nil {
		return res, fmt.Errorf("counting primes: %w", err)
	}
	if res.Tally, err = goray.Get(ctx, report.Remote(ctx, t)); err != nil {
		return res, fmt.Errorf("asking the tally: %w", err)
	}
	res.Sieve = primesBelow(limit)
	return res, nil
}

// wrong returns the chunks whose count differs from the sieve's.
func (r Result) wrong() []Count {
	var bad []Count
	for _, c := range r.Counts {
		if c.Primes != r.Sieve[c.Hi]-r.Sieve[c.Lo] {
			bad = append(bad, c)
		}
	}
	return bad
}

func (r Result) total() int {
	n := 0
	for _, c := range r.Counts {
		n += c.Primes
	}
	return n
}

// check fails when a chunk is wrong or the totals disagree.
func (r Result) check() error {
	if bad := r.wrong(); len(bad) > 0 {
		return fmt.Errorf("%d of %d chunks have a wrong count", len(bad), len(r.Counts))
	}
	if t := r.total(); t != r.Sieve[r.Limit] || r.Tally.Primes != t || r.Tally.Chunks != len(r.Counts) {
		return fmt.Errorf("totals disagree: tasks %d, tally %d in %d chunks, sieve %d", t, r.Tally.Primes, r.Tally.Chunks, r.Sieve[r.Limit])
	}
	return nil
}

func (r Result) print(w io.Writer) error {
	fmt.Fprintf(w, "driver node %s\n", r.DriverNode)
	for _, c := range r.wrong() {
		fmt.Fprintf(w, "WRONG: chunk [%d, %d) on node %s: %d primes, the sieve says %d\n", c.Lo, c.Hi, c.NodeID, c.Primes, r.Sieve[c.Hi]-r.Sieve[c.Lo])
	}
	fmt.Fprintf(w, "primes below %d: %d in %d tasks (the driver's sieve: %d); %d chunks wrong\n",
		r.Limit, r.total(), len(r.Counts), r.Sieve[r.Limit], len(r.wrong()))
	perNode := map[string][]Count{}
	for _, c := range r.Counts {
		perNode[c.NodeID] = append(perNode[c.NodeID], c)
	}
	fmt.Fprintf(w, "tasks ran on %d nodes:\n", len(perNode))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE ID\tADDRESS\tTASKS\tCHUNKS")
	for _, id := range slices.Sorted(maps.Keys(perNode)) {
		addr := r.Addresses[id]
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", id, addr, len(perNode[id]), chunkList(perNode[id]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	where := ""
	if r.Tally.ActorNode == r.DriverNode {
		where = " (the driver's node)"
	}
	fmt.Fprintf(w, "tally actor on node %s%s recorded %d chunks from %d nodes, %d primes\n",
		r.Tally.ActorNode, where, r.Tally.Chunks, len(r.Tally.ByNode), r.Tally.Primes)
	return nil
}

// primesBelow returns, for every n up to limit, how many primes are below n.
func primesBelow(limit int) []int {
	composite := make([]bool, limit+1)
	below := make([]int, limit+1)
	n := 0
	for x := 0; x <= limit; x++ {
		below[x] = n
		if x < 2 || composite[x] {
			continue
		}
		n++
		for m := x * x; m <= limit; m += x {
			composite[m] = true
		}
	}
	return below
}

// chunkList writes the chunks' ranges, first and last in order.
func chunkList(cs []Count) string {
	slices.SortFunc(cs, func(a, b Count) int { return a.Lo - b.Lo })
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%d-%d", c.Lo, c.Hi-1))
	}
	if len(parts) > 4 {
		parts = append(parts[:2], "…", parts[len(parts)-1])
	}
	return strings.Join(parts, " ")
}
