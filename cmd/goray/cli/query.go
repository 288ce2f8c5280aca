package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goray-dev/goray"
	grcluster "github.com/goray-dev/goray/cluster"
	"github.com/goray-dev/goray/cluster/membership"
)

const (
	addressEnv          = "GORAY_ADDRESS"
	defaultQueryTimeout = 5 * time.Second
	// cliLabel marks the nodes of the CLI's own short-lived drivers, so
	// that listings can leave them and their jobs out.
	cliLabel = "goray.io/cli"
)

// cliLabels returns the labels of a driver the CLI runs.
func cliLabels() map[string]string { return map[string]string{cliLabel: "true"} }

// queryFlags are the flags of the commands that ask a running cluster.
type queryFlags struct {
	address   string
	tokenFile string
	output    string
	timeout   time.Duration
}

func (q *queryFlags) register(fs *pflag.FlagSet, output bool) {
	fs.StringVar(&q.address, "address", "", "HOST:PORT of the cluster's head, or of any of its nodes (default "+addressEnv+", else the head of this machine's latest session)")
	fs.StringVar(&q.tokenFile, "token-file", "", "file holding the cluster token (default "+tokenEnv+", else this machine's session of that cluster)")
	fs.DurationVar(&q.timeout, "timeout", defaultQueryTimeout, "give up after this long")
	if output {
		fs.StringVarP(&q.output, "output", "o", "table", "output format: table or json")
	}
}

// check validates the flags before anything connects.
func (q *queryFlags) check() error {
	switch q.output {
	case "", "table", "json":
	default:
		return fmt.Errorf("--output %q: want table or json", q.output)
	}
	if q.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %v", q.timeout)
	}
	return nil
}

// resolveAddress returns the head's address: --address, else GORAY_ADDRESS,
// else the head of this machine's latest session.
func (q *queryFlags) resolveAddress(root string) (string, error) {
	addr := q.address
	if addr == "" {
		addr = os.Getenv(addressEnv)
	}
	if addr == "" {
		s, ok := latestSession(root)
		if !ok {
			return "", fmt.Errorf("no cluster address: pass --address, set %s, or start a head on this machine (start --head)", addressEnv)
		}
		if addr = s.headAddress(); addr == "" {
			return "", fmt.Errorf("the latest session (%s) has no head address: pass --address or set %s", s.dir, addressEnv)
		}
	}
	if err := checkAddress(addr); err != nil {
		return "", err
	}
	return addr, nil
}

// cluster is a short-lived driver's view of the cluster it joined.
type cluster struct {
	ctx     context.Context // carries the driver's runtime
	address string
}

// withCluster joins the cluster as a short-lived driver, runs f, and
// leaves; everything happens within --timeout.
func (q *queryFlags) withCluster(ctx context.Context, root string, f func(c cluster) error) error {
	if err := q.check(); err != nil {
		return err
	}
	addr, err := q.resolveAddress(root)
	if err != nil {
		return err
	}
	tok, err := resolveToken(q.tokenFile, root, addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	if err := dialHead(ctx, addr); err != nil {
		return err
	}
	dctx, err := goray.Init(ctx, goray.WithAddress(addr), goray.WithToken(tok.token), goray.WithLabels(cliLabels()))
	if err != nil {
		return joinError(addr, q.timeout, err)
	}
	defer shutdownDriver(dctx)
	if err := f(cluster{ctx: dctx, address: addr}); err != nil {
		if errors.Is(err, goray.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("the cluster at %s did not answer within %v: %w", addr, q.timeout, err)
		}
		return err
	}
	return nil
}

// joinError explains why this process could not join the cluster at addr
// (which accepted a connection) within timeout.
func joinError(addr string, timeout time.Duration, err error) error {
	switch {
	case errors.Is(err, grcluster.ErrNoHead):
		return fmt.Errorf("the cluster at %s has no head (it is gone, or not up yet): %w", addr, err)
	case errors.Is(err, membership.ErrJoin):
		// The error says what to check (the address, the token).
		return fmt.Errorf("the goray node at %s did not let this process join within %v: %w", addr, timeout, err)
	case errors.Is(err, goray.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the cluster at %s did not answer within %v: %w", addr, timeout, err)
	}
	return fmt.Errorf("joining the cluster at %s: %w", addr, err)
}

// driverLeaveTimeout bounds how long a short-lived driver takes to leave
// the cluster: a node that does not answer (stopped, or cut off) is not
// waited for longer.
const driverLeaveTimeout = time.Second

// shutdownDriver ends a short-lived driver, even after its context ended.
func shutdownDriver(dctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(dctx), driverLeaveTimeout)
	defer cancel()
	_ = goray.Shutdown(ctx)
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable returns a tabwriter for aligned columns; Flush it.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// queryCommand builds a command that asks the cluster; run gets the joined
// cluster and the flags.
func queryCommand(tempDir *string, cmd *cobra.Command, output bool, run func(cmd *cobra.Command, args []string, c cluster, q *queryFlags) error) *cobra.Command {
	q := &queryFlags{}
	q.register(cmd.Flags(), output)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return q.withCluster(cmd.Context(), *tempDir, func(c cluster) error { return run(cmd, args, c, q) })
	}
	return cmd
}
