package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/goray-dev/goray"
)

func newList(tempDir *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list (nodes|actors|tasks|objects|jobs|placement-groups)",
		Short: "List the cluster's nodes, actors, tasks, object stores, jobs or placement groups",
		Long: `List what the cluster knows, as a table or (--output json) as a JSON array.
Each listing joins the cluster as a short-lived driver, asks, and leaves.
Tasks and object stores are asked of every live node: a node that does not
answer within ` + nodeQueryTimeout.String() + ` is named in an error after the others' answers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errors.New("say what to list: nodes, actors, tasks, objects, jobs or placement-groups")
		},
	}
	var includeDrivers bool
	nodes := queryCommand(tempDir, &cobra.Command{
		Use:   "nodes",
		Short: "List the nodes: head and workers, alive and dead",
		Long: `List the nodes: ID, role (head or worker), address (where the node gossips:
any node's is an address to join the cluster at), ALIVE or DEAD, resources
used/total, labels. Drivers are nodes without resources of their own;
--include-drivers lists them too (role driver), this command's own included.`,
		Args: cobra.NoArgs,
	}, true, func(cmd *cobra.Command, _ []string, c cluster, q *queryFlags) error {
		nodes, err := goray.Nodes(c.ctx)
		if err != nil {
			return fmt.Errorf("listing nodes: %w", err)
		}
		out := []listedNode{}
		for _, n := range nodes {
			if n.Role != "driver" || includeDrivers {
				out = append(out, listedNode{nodeView: viewNode(n), Role: n.Role})
			}
		}
		rank := map[string]int{"head": 0, "worker": 1, "driver": 2}
		slices.SortStableFunc(out, func(a, b listedNode) int {
			return cmp.Or(rank[a.Role]-rank[b.Role], strings.Compare(a.State, b.State), strings.Compare(a.Address, b.Address))
		})
		return printList(cmd.OutOrStdout(), q.output, out, "NODE ID\tROLE\tADDRESS\tSTATE\tRESOURCES (USED/TOTAL)\tLABELS", func(n listedNode) string {
			res := formatResources(n.Total)
			if n.State == "ALIVE" {
				res = formatUsage(n.used(), n.Total)
			}
			return strings.Join([]string{n.NodeID, n.Role, n.Address, n.State, res, formatLabels(n.Labels)}, "\t")
		})
	})
	nodes.Flags().BoolVar(&includeDrivers, "include-drivers", false, "list driver nodes too")

	actors := queryCommand(tempDir, &cobra.Command{
		Use:   "actors",
		Short: "List every actor the cluster knows, dead ones included",
		Args:  cobra.NoArgs,
	}, true, func(cmd *cobra.Command, _ []string, c cluster, q *queryFlags) error {
		infos, err := goray.ListActors(c.ctx)
		if err != nil {
			return fmt.Errorf("listing actors: %w", err)
		}
		out := []actorView{}
		for _, a := range infos {
			out = append(out, viewActor(a))
		}
		slices.SortStableFunc(out, func(a, b actorView) int { return strings.Compare(a.ActorID, b.ActorID) })
		return printList(cmd.OutOrStdout(), q.output, out, "ACTOR ID\tTYPE\tNAME\tNAMESPACE\tNODE ID\tSTATE\tRESOURCES\tRESTARTS\tDETACHED\tDEATH CAUSE", func(a actorView) string {
			return strings.Join([]string{a.ActorID, a.Type, dash(a.Name), a.Namespace, dash(a.NodeID), a.State,
				dash(formatResources(a.Resources)), strconv.Itoa(a.Restarts), strconv.FormatBool(a.Detached), dash(oneLine(a.DeathCause))}, "\t")
		})
	})

	tasks := queryCommand(tempDir, &cobra.Command{
		Use:   "tasks",
		Short: "List the tasks the live nodes hold now: running, and waiting to run",
		Long: `List the tasks the live nodes hold now: RUNNING, QUEUED (waiting at their
node for resources) or WAITING_FOR_NODE (waiting for another node to have
room). Finished tasks are not kept.`,
		Args: cobra.NoArgs,
	}, true, func(cmd *cobra.Command, _ []string, c cluster, q *queryFlags) error {
		infos, silent, err := askNodes(c, goray.ListTasks)
		if err != nil {
			return fmt.Errorf("listing tasks: %w", err)
		}
		out := []taskView{}
		for _, t := range infos {
			out = append(out, viewTask(t))
		}
		slices.SortStableFunc(out, func(a, b taskView) int {
			return cmp.Or(strings.Compare(a.NodeID, b.NodeID), strings.Compare(a.TaskID, b.TaskID))
		})
		err = printList(cmd.OutOrStdout(), q.output, out, "TASK ID\tFUNCTION\tNAME\tNODE ID\tJOB ID\tSTATE\tRESOURCES\tATTEMPT", func(t taskView) string {
			return strings.Join([]string{t.TaskID, t.Function, dash(t.Name), t.NodeID, t.JobID, t.State,
				formatResources(t.Resources), strconv.Itoa(t.Attempt)}, "\t")
		})
		if err == nil && len(silent) > 0 {
			err = silentError("tasks", silent)
		}
		return err
	})

	objects := queryCommand(tempDir, &cobra.Command{
		Use:   "objects",
		Short: "List each live node's object store: objects, bytes, spilling",
		Long: `List each live node's object store counters: objects held (in memory and
spilled), bytes used and spilled, capacity, spills and restores.

goray keeps no central object table: an object's owner (the process that
created it) knows where its copies are, as in Ray. So this lists per-node
store statistics, not individual objects.`,
		Args: cobra.NoArgs,
	}, true, func(cmd *cobra.Command, _ []string, c cluster, q *queryFlags) error {
		stats, silent, err := askNodes(c, goray.ClusterStoreStats)
		if err != nil {
			return fmt.Errorf("listing object stores: %w", err)
		}
		err = printList(cmd.OutOrStdout(), q.output, viewStores(stats), "NODE ID\tOBJECTS\tIN MEMORY\tSPILLED\tUSED\tCAPACITY\tSPILLED BYTES\tSPILLS\tRESTORES", func(s storeView) string {
			return strings.Join([]string{s.NodeID, itoa(s.Objects), itoa(s.InMemory), itoa(s.Spilled),
				formatBytes(float64(s.UsedBytes)), formatBytes(float64(s.Capacity)), formatBytes(float64(s.SpilledBytes)),
				strconv.FormatUint(s.SpillCount, 10), strconv.FormatUint(s.RestoreCount, 10)}, "\t")
		})
		if err == nil && len(silent) > 0 {
			err = silentError("object stores", silent)
		}
		return err
	})

	jobs := queryCommand(tempDir, &cobra.Command{
		Use:   "jobs",
		Short: "List the jobs: every driver's run",
		Long: `List the jobs, one per driver's run, oldest first: ID, driver node, RUNNING or
FINISHED, start and end. The jobs of this CLI's own queries are left out.`,
		Args: cobra.NoArgs,
	}, true, func(cmd *cobra.Command, _ []string, c cluster, q *queryFlags) error {
		infos, err := goray.ListJobs(c.ctx)
		if err != nil {
			return fmt.Errorf("listing jobs: %w", err)
		}
		nodes, err := goray.Nodes(c.ctx)
		if err != nil {
			return fmt.Errorf("listing nodes: %w", err)
		}
		cli := map[string]bool{}
		for _, n := range nodes {
			cli[n.ID] = isCLI(n)
		}
		out := []jobView{}
		for _, j := range infos {
			if !cli[j.DriverNode] {
				out = append(out, viewJob(j))
			}
		}
		return printList(cmd.OutOrStdout(), q.output, out, "JOB ID\tDRIVER NODE\tSTATUS\tSTART\tEND", func(j jobView) string {
			end := "-"
			if j.End != nil {
				end = j.End.Format(time.DateTime)
			}
			return strings.Join([]string{j.JobID, j.DriverNode, j.Status, j.Start.Format(time.DateTime), end}, "\t")
		})
	})
	groups := queryCommand(tempDir, &cobra.Command{
		Use:     "placement-groups",
		Aliases: []string{"pgs"},
		Short:   "List the placement groups: their bundles, where they are, and why any waits",
		Args:    cobra.NoArgs,
	}, true, func(cmd *cobra.Command, _ []string, c cluster, q *queryFlags) error {
		infos, err := goray.ListPlacementGroups(c.ctx)
		if err != nil {
			return fmt.Errorf("listing placement groups: %w", err)
		}
		out := []groupView{}
		for _, g := range infos {
			out = append(out, viewGroup(g))
		}
		slices.SortStableFunc(out, func(a, b groupView) int { return strings.Compare(a.GroupID, b.GroupID) })
		return printList(cmd.OutOrStdout(), q.output, out, "GROUP ID\tNAME\tSTRATEGY\tSTATE\tBUNDLES (NODE)\tREASON", func(g groupView) string {
			bundles := make([]string, len(g.Bundles))
			for i, b := range g.Bundles {
				bundles[i] = fmt.Sprintf("%s (%s)", formatResources(b.Resources), dash(b.Node))
			}
			return strings.Join([]string{g.GroupID, dash(g.Name), g.Strategy, g.State, strings.Join(bundles, "; "), dash(g.Reason)}, "\t")
		})
	})
	cmd.AddCommand(nodes, actors, tasks, objects, jobs, groups)
	return cmd
}

func newGet(tempDir *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get actor (NAME|ID)",
		Short: "Show one actor, found by name or ID",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 || args[0] != "actor" {
				return errors.New("usage: get actor NAME|ID")
			}
			return nil
		},
	}
	var namespace string
	cmd = queryCommand(tempDir, cmd, true, func(cmd *cobra.Command, args []string, c cluster, q *queryFlags) error {
		infos, err := goray.ListActors(c.ctx)
		if err != nil {
			return fmt.Errorf("listing actors: %w", err)
		}
		a, err := findActor(infos, args[1], namespace)
		if err != nil {
			return err
		}
		if q.output == "json" {
			return writeJSON(cmd.OutOrStdout(), a)
		}
		tw := newTable(cmd.OutOrStdout())
		for _, row := range [][2]string{
			{"actor_id", a.ActorID}, {"type", a.Type}, {"name", dash(a.Name)}, {"namespace", a.Namespace},
			{"node_id", dash(a.NodeID)}, {"state", a.State}, {"restarts", strconv.Itoa(a.Restarts)},
			{"detached", strconv.FormatBool(a.Detached)}, {"resources", dash(formatResources(a.Resources))},
			{"death_cause", dash(a.DeathCause)},
		} {
			fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
		}
		return tw.Flush()
	})
	cmd.Flags().StringVar(&namespace, "namespace", "", "look the name up in this namespace only")
	return cmd
}

// findActor finds the actor whose ID is key or, else, whose name is key
// (in namespace, when given). Of several actors by that name, one that is
// not dead wins; several that remain are ambiguous.
func findActor(infos []goray.ActorInfo, key, namespace string) (actorView, error) {
	for _, a := range infos {
		if a.ID == key {
			return viewActor(a), nil
		}
	}
	var named []goray.ActorInfo
	for _, a := range infos {
		if a.Name == key && (namespace == "" || a.Namespace == namespace) {
			named = append(named, a)
		}
	}
	if live := slices.DeleteFunc(slices.Clone(named), func(a goray.ActorInfo) bool { return a.State == "DEAD" }); len(live) > 0 {
		named = live
	}
	switch len(named) {
	case 0:
		where := ""
		if namespace != "" {
			where = " in namespace " + namespace
		}
		return actorView{}, fmt.Errorf("no actor with the ID or name %q%s: %w", key, where, goray.ErrNotFound)
	case 1:
		return viewActor(named[0]), nil
	}
	var ids []string
	for _, a := range named {
		ids = append(ids, a.ID+" (namespace "+a.Namespace+", "+a.State+")")
	}
	return actorView{}, fmt.Errorf("%d actors are named %q: %s; give an ID, or --namespace", len(named), key, strings.Join(ids, ", "))
}

// printList prints items as a JSON array or as a table with header and
// one row per item.
func printList[T any](w io.Writer, output string, items []T, header string, row func(T) string) error {
	if output == "json" {
		if items == nil {
			items = []T{}
		}
		return writeJSON(w, items)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		fmt.Fprintln(tw, row(it))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps the first line of s, for a table cell.
func oneLine(s string) string {
	first, _, cut := strings.Cut(s, "\n")
	if cut {
		return first + " …"
	}
	return first
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
