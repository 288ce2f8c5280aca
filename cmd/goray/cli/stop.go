package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

const defaultGracePeriod = 10 * time.Second

// runningNode is a node process found in a session directory.
type runningNode struct {
	sess session
	name string
	pid  int
	rec  nodeRecord // zero when the node had not written it
}

func (n runningNode) describe() string {
	s := fmt.Sprintf("%s (pid %d", n.name, n.pid)
	if n.rec.NodeID != "" {
		s += ", node " + n.rec.NodeID + " at " + n.rec.Address
	}
	return s + ")"
}

func newStop(tempDir *string) *cobra.Command {
	var grace time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop every node this machine started",
		Long: `Stop every node this machine started, as the session directories under
--temp-dir record them: workers first, then heads. Each node is sent SIGTERM
and drains (its tasks and actors end, the cluster hears that it left); one
still running after --grace-period is killed (SIGKILL). --force kills at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grace <= 0 && !force {
				return fmt.Errorf("--grace-period must be positive, got %v", grace)
			}
			return stopAll(cmd.Context(), cmd.OutOrStdout(), *tempDir, grace, force)
		},
	}
	cmd.Flags().DurationVar(&grace, "grace-period", defaultGracePeriod, "how long a node may take to stop before it is killed")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the nodes at once (SIGKILL)")
	return cmd
}

// findNodes returns the node processes the session directories under root
// record, and removes the files of nodes that are gone (returned as stale).
func findNodes(root string) (running, stale []runningNode, err error) {
	sessions, err := allSessions(root)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range sessions {
		names, err := s.nodeNames()
		if err != nil {
			return nil, nil, err
		}
		for _, name := range names {
			pid, err := s.readPID(name)
			if err != nil || pid == 0 {
				continue // reserved, not started yet; or unreadable
			}
			rec, _ := s.readRecord(name)
			n := runningNode{sess: s, name: name, pid: pid, rec: rec}
			if !processAlive(pid) || !isNodeProcess(pid) {
				s.removeNode(name)
				stale = append(stale, n)
				continue
			}
			running = append(running, n)
		}
	}
	return running, stale, nil
}

// stopAll stops the nodes found under root: workers, then heads.
func stopAll(ctx context.Context, w io.Writer, root string, grace time.Duration, force bool) error {
	nodes, stale, err := findNodes(root)
	if err != nil {
		return err
	}
	for _, n := range stale {
		fmt.Fprintf(w, "removed the files of %s in %s: the process no longer runs\n", n.describe(), n.sess.dir)
	}
	if len(nodes) == 0 {
		fmt.Fprintf(w, "No goray nodes of this machine are running (looked in %s).\n", root)
		return nil
	}
	var workers, heads []runningNode
	for _, n := range nodes {
		if n.name == "head" {
			heads = append(heads, n)
		} else {
			workers = append(workers, n)
		}
	}
	var errs []error
	stopped := 0
	for _, group := range [][]runningNode{workers, heads} {
		n, err := stopGroup(ctx, w, group, grace, force)
		stopped += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	fmt.Fprintf(w, "Stopped %d of %d nodes.\n", stopped, len(nodes))
	return errors.Join(errs...)
}

// stopGroup stops nodes together: SIGTERM to each, then a wait until they
// are gone or the grace period ends, then SIGKILL for what remains.
func stopGroup(ctx context.Context, w io.Writer, nodes []runningNode, grace time.Duration, force bool) (int, error) {
	if len(nodes) == 0 {
		return 0, nil
	}
	t0 := time.Now()
	pending := map[int]runningNode{}
	var errs []error
	for _, n := range nodes {
		signal, verb := terminate, "SIGTERM"
		if force {
			signal, verb = kill, "SIGKILL"
		}
		if err := signal(n.pid); err != nil {
			if !processAlive(n.pid) {
				n.sess.removeNode(n.name)
				continue
			}
			errs = append(errs, fmt.Errorf("sending %s to %s: %w", verb, n.describe(), err))
			continue
		}
		pending[n.pid] = n
	}
	stopped := 0
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for len(pending) > 0 {
		for pid, n := range pending {
			if !processAlive(pid) {
				delete(pending, pid)
				n.sess.removeNode(n.name)
				stopped++
				how := "stopped"
				if force {
					how = "killed"
				}
				fmt.Fprintf(w, "%s %s in %v\n", how, n.describe(), time.Since(t0).Round(time.Millisecond))
			}
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-ctx.Done():
			return stopped, fmt.Errorf("stop interrupted with %d nodes still stopping: %w", len(pending), context.Cause(ctx))
		case <-deadline.C:
		}
		// The grace period is over.
		for pid, n := range pending {
			if err := kill(pid); err != nil && processAlive(pid) {
				errs = append(errs, fmt.Errorf("killing %s: %w", n.describe(), err))
				continue
			}
			if err := waitGone(ctx, pid, 5*time.Second); err != nil {
				errs = append(errs, fmt.Errorf("killing %s: %w", n.describe(), err))
				continue
			}
			n.sess.removeNode(n.name)
			stopped++
			fmt.Fprintf(w, "killed %s: still running after the %v grace period\n", n.describe(), grace)
		}
		break
	}
	return stopped, errors.Join(errs...)
}

// waitGone waits until pid no longer runs.
func waitGone(ctx context.Context, pid int, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for processAlive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("process %d still runs after %v", pid, limit)
		case <-tick.C:
		}
	}
	return nil
}
